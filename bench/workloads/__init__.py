"""The workloads, one folder each, found by their folders: ``bench/workloads/<name>/``.

A workload's folder holds everything it owns: ``workload.py`` (its ``Params``, ``Metric``s, point
dimensions and the ``Workload`` subclass that runs it, with its worker processes beside it),
``tables.py`` and ``figures.py`` (what its page shows, read from records), and ``columns.py`` (the
matrix columns it feeds, a ``columns(points)`` function). Adding a workload is one folder, one
notebook ``notebooks/<name>.ipynb`` and its two profile files; nothing here names one.

Importing this package imports no workload, nor pandas or the runner (a worker or consumer process
imports it on its way to its own module and must start fast); ``workloads()`` imports them all.
A notebook's parameters cell is ``parameters_cell`` of its workload (a test holds it to that) and
hands its values on with ``workload_params``; it runs with ``run_workload``.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness.metrics import Metric
from bench.harness.params import Parameter, ParameterError, Params
from bench.harness.workload import Workload

if TYPE_CHECKING:  # pandas, matplotlib and the runner are imported when used: a worker process needs none of them
    from matplotlib.figure import Figure

    from bench.harness.columns import OperatingPoints, Source
    from bench.harness.results import Results
    from bench.harness.runner import RunSummary

#: What every workload notebook declares before its workload's parameters: the runner's options.
RUN_OPTIONS: tuple[Parameter, ...] = (
    Parameter("run_id", str, "", 'run id shared by every record of this run; "" starts a new one'),
    Parameter("results_dir", str, "results/scratch", "directory the records, environment.json and figures are written to"),
    Parameter("engines", str, "default", 'comma-separated engine names (see `python -m bench engines`), "default" or "all"'),
    Parameter("progress", bool, True, "a tqdm progress bar per engine while it runs (the report turns it off to keep pages small)"),
    Parameter("profile", str, "decision", "the parameter profile (notebooks/profiles/NAME/): any but decision is a smoke-sized run, not for decisions"),
)


def names() -> list[str]:
    """The workload folders (not imported)."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.ispkg)


@functools.cache
def workloads() -> dict[str, type[Workload[Any]]]:
    """Every workload by name, in page order (``Workload.rank``): each folder's ``workload`` module
    holds one ``Workload`` subclass named like its folder."""
    found = []
    for name in names():
        module = importlib.import_module(f"{__name__}.{name}.workload")
        classes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Workload) and v.__module__ == module.__name__]
        if len(classes) != 1 or classes[0].name != name:
            raise TypeError(f"{module.__name__} must define one Workload subclass named {name!r}, found {[c.name for c in classes]}")
        found.append(classes[0])
    return {w.name: w for w in sorted(found, key=lambda w: (w.rank, w.name))}


def workload(name: str) -> type[Workload[Any]]:
    """The workload called ``name``; an unknown name is a ``ValueError`` listing the known ones."""
    known = workloads()
    if name not in known:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(known)}")
    return known[name]


def rules() -> list[tuple[str, Metric]]:
    """(workload, metric) for every declared correctness rule."""
    return [(name, m) for name, w in workloads().items() for m in w.metrics if m.rule]


def matrix_columns(points: OperatingPoints | None = None) -> list[Source]:
    """Every workload's matrix columns at ``points`` (``OperatingPoints``' defaults when None), in
    page order: each folder with a ``columns`` module gives ``columns(points)``."""
    from bench.harness.columns import OperatingPoints

    points = points or OperatingPoints()
    out: list[Source] = []
    for kind in workloads().values():
        module = _beside(kind, "columns")
        if module is not None:
            out.extend(module.columns(points))
    return out


def _beside(kind: type[Workload[Any]], leaf: str) -> Any:
    """The module ``leaf`` in workload ``kind``'s folder, or None when it has none."""
    folder = kind.__module__.rpartition(".")[0]
    if not folder.startswith(f"{__name__}."):
        return None  # a workload defined elsewhere (a test's) has no folder here
    name = f"{folder}.{leaf}"
    return importlib.import_module(name) if importlib.util.find_spec(name) is not None else None


def key_figures() -> list[tuple[str, Callable[[Results], Figure]]]:
    """(figure file name, what draws it) of every workload that declares a key figure (its
    ``figures`` module's ``KEY_FIGURE`` and ``key_figure``), in page order: what the front page
    shows and the explorer redraws."""
    out = []
    for kind in workloads().values():
        figures = _beside(kind, "figures")
        if figures is not None and hasattr(figures, "KEY_FIGURE"):
            out.append((figures.KEY_FIGURE, figures.key_figure))
    return out


def parameters_cell(name: str) -> str:
    """The parameters cell of workload ``name``'s notebook: the run options, then every parameter,
    one ``name: type = default  # help`` line each (what ``papermill --help-notebook`` reads)."""
    return "\n".join(p.line() for p in (*RUN_OPTIONS, *workload(name).params_type.parameters().values()))


def workload_params(name: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Workload ``name``'s parameters as found in ``namespace`` (a notebook's ``globals()``), so a
    notebook passes its parameters cell on without naming each parameter again."""
    declared = workload(name).params_type.parameters()
    missing = [n for n in declared if n not in namespace]
    if missing:
        raise ParameterError(f"{name}: parameter(s) {', '.join(missing)} not defined; the parameters cell must declare each")
    return {n: namespace[n] for n in declared}


def run_workload(name: str, params: Params | dict[str, Any] | None = None, *, points: OperatingPoints | None = None, **options: Any) -> RunSummary:
    """Run workload ``name`` with ``params`` (its ``Params``, or a dict checked by ``Params.from_dict``):
    ``bench.harness.runner.run`` with the same keyword ``options`` (engines, results_dir, run_id,
    progress, profile), measuring the matrix's operating points (``points``, the defaults when
    None) that this workload's columns read first, engines in turn."""
    from bench.harness.runner import run

    kind = workload(name)
    targets = [t for s in matrix_columns(points) if s.workload is kind and (t := s.target) is not None]
    return run(kind(params), targets=targets, **options)


__all__ = [
    "RUN_OPTIONS", "key_figures", "matrix_columns", "names", "parameters_cell", "rules", "run_workload", "workload", "workload_params", "workloads",
]
