"""The workloads, by name, and what the notebooks and the CLI read from their declarations.

Each workload is a ``Workload`` subclass declaring its ``Params`` (every parameter once, with its
default and help) and its ``metrics``. A workload notebook's parameters cell is ``parameters_cell``
of its workload (a test holds it to that) and hands its values on with ``workload_params``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Measurement, StoreFactory, Workload
from .calls import Calls, CallsParams
from .contention import Contention, ContentionParams
from .faults import Faults, FaultsParams
from .metrics import EVERY_ENGINE, Metric, UndeclaredMetric
from .overhead import Overhead, OverheadParams
from .params import ConvergingParams, Parameter, ParameterError, Params, param
from .resume import Resume, ResumeParams
from .snapshots import SnapshotParams, Snapshots

WORKLOADS: dict[str, type[Workload]] = {w.name: w for w in (Contention, Snapshots, Resume, Calls, Faults, Overhead)}

#: What every workload notebook declares before its workload's parameters: the runner's options.
RUN_OPTIONS: tuple[Parameter, ...] = (
    Parameter("run_id", str, "", 'run id shared by every record of this run; "" starts a new one'),
    Parameter("results_dir", str, "results/scratch", "directory the records, environment.json and figures are written to"),
    Parameter("engines", str, "default", 'comma-separated engine names (see `python -m bench engines`), "default" or "all"'),
    Parameter("progress", bool, True, "a tqdm progress bar per engine while it runs (the report turns it off to keep pages small)"),
    Parameter("profile", str, "decision", "the parameter profile (notebooks/profiles/NAME/): any but decision is a smoke-sized run, not for decisions"),
)


def workload(name: str) -> type[Workload]:
    """The workload called ``name``; an unknown name is a ``ValueError`` listing the known ones."""
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    return WORKLOADS[name]


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


__all__ = [
    "EVERY_ENGINE", "RUN_OPTIONS", "WORKLOADS", "Calls", "CallsParams", "Contention", "ContentionParams", "ConvergingParams", "Faults", "FaultsParams", "Measurement", "Metric",
    "Overhead", "OverheadParams",
    "Parameter", "ParameterError", "Params", "Resume", "ResumeParams", "SnapshotParams", "Snapshots", "StoreFactory",
    "UndeclaredMetric", "Workload", "param", "parameters_cell", "workload", "workload_params",
]
