"""``make report``: execute every notebook with papermill into a new run directory, render each to
HTML without code (the navigation injected, so the notebooks stay clean), and write the index
pages (``frontpage``).

    results/
      index.html                 the newest run's front page, then every earlier run
      compare/<A>-vs-<B>.html    the newest run against the one before (``compare``)
      runs/<run_id>/
        index.html               this run's front page: what was compared, verdicts, matrix, figures, caveats, links
        environment.html         the machine and engine settings, readable (environment.json: the same as data)
        run.json                 which notebooks ran, with which parameters, how long, and the outcome
        records/*.jsonl          the measurements every page plots
        matrix.csv               the comparison matrix's cells, numbers and reasons apart
        figures/*.png            every figure, also as a file (figures/alt.json: what each shows)
        logs/*.log               what each workload's runner printed
        notebooks/*.ipynb        the executed notebooks
        html/*.html              the pages, without code

A run directory is never reused, so a second report never overwrites the first one's data.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.harness import environment
from bench.harness.records import new_run_id, now_iso

from .frontpage import write_root_index, write_run_index
from .notebooks import NOTEBOOK_DIR, NOTEBOOKS, load_params, notebook_parameters, page_title, profile_params
from .site import finish_pages, render_html, runs

#: The machine's steadiness probe before the workloads, per profile: (windows, seconds each), the
#: windows as long as a measurement's. The quick profile's only proves the probe runs.
STEADINESS = {"decision": (10, 2.0), "quick": (3, 0.2)}


def build_report(
    results_root: str | Path = "results",
    *,
    profile: str = "decision",
    params_file: str | Path | None = None,
    engines: str | None = None,
    run_id: str | None = None,
    notebooks: Iterable[str] | None = None,
    progress: bool = True,
) -> tuple[Path, bool]:
    """Run the notebooks into ``<results_root>/runs/<run_id>/``; returns (run dir, all succeeded).

    Parameters:
        results_root: the directory holding ``runs/`` and ``index.html``.
        profile: the parameter profile (``decision``, the default, or ``quick``: smoke-sized, for CI
            and for trying things out, and labelled so on every page).
        params_file: YAML of notebook parameters over the profile's (``all:`` for every notebook
            declaring a name, a key per notebook for that notebook).
        engines: overrides the ``engines`` parameter of every notebook (comma-separated names).
        run_id: the run's id; a new one by default. An existing run directory is an error.
        notebooks: a subset of ``NOTEBOOKS`` to run, in their usual order.
        progress: show papermill's progress bar per notebook.
    """
    root = Path(results_root).resolve()
    run_id = run_id or new_run_id()
    params = profile_params(profile)
    for name, values in load_params(params_file).items():
        params[name] = {**params.get(name, {}), **values}
    # No progress bars inside the pages: papermill shows one per notebook on the terminal.
    # No widgets either: the overview renders its default profile statically (``make lab`` explores).
    base: dict[str, Any] = {"run_id": run_id, "results_dir": str(root / "runs" / run_id), "progress": False, "profile": profile, "interactive": False}
    if engines:
        base["engines"] = engines
    selected = [n for n in NOTEBOOKS if notebooks is None or n in set(notebooks)]
    injected = {name: notebook_parameters(name, params, base) for name in selected}  # a typo fails before any run
    run_dir = root / "runs" / run_id
    if run_dir.exists():
        raise FileExistsError(f"{run_dir} exists; a report never overwrites an earlier run")
    run_dir.mkdir(parents=True)
    run: dict[str, Any] = {
        "run_id": run_id, "profile": profile, "started_at": now_iso(), "params_file": str(params_file) if params_file else None, "notebooks": [],
    }
    environment.update(run_dir)
    ok = True
    try:
        print("report: how steady this machine is ...", file=sys.stderr, flush=True)
        environment.record_steadiness(run_dir, *STEADINESS[profile])
        for name in selected:
            ok = _execute(name, injected[name], run_dir, run, progress, profile) and ok
    except KeyboardInterrupt:
        run["interrupted"] = True
        raise
    finally:
        run["finished_at"] = now_iso()
        (run_dir / "run.json").write_text(json.dumps(run, indent=2, default=str))
        finish_pages(run_dir)
        write_run_index(run_dir)
        write_root_index(root, runs(root))
    return run_dir, ok


def _execute(name: str, parameters: dict[str, Any], run_dir: Path, run: dict[str, Any], progress: bool, profile: str) -> bool:
    """Execute one notebook into the run and render it (also when it failed: the page shows the error)."""
    import papermill

    executed = run_dir / "notebooks" / f"{name}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    error = None
    print(f"report: {name} ...", file=sys.stderr, flush=True)
    try:
        papermill.execute_notebook(
            str(NOTEBOOK_DIR / f"{name}.ipynb"), str(executed), parameters=parameters, kernel_name="python3",
            progress_bar=progress, cwd=str(run_dir),
        )
    except Exception as exc:  # the executed notebook holds the traceback
        lines = str(exc).strip().splitlines()
        error = f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:500]
    if executed.exists():
        render_html(executed, run_dir / "html" / f"{name}.html", page_title(name, profile))
    elapsed = time.monotonic() - began
    print(f"report: {name} {'failed: ' + error if error else 'done'} in {elapsed:.0f} s", file=sys.stderr, flush=True)
    run["notebooks"].append({"name": name, "parameters": parameters, "seconds": round(elapsed, 1), "error": error})
    (run_dir / "run.json").write_text(json.dumps(run, indent=2, default=str))
    return error is None
