"""``make report``: execute every notebook with papermill into a new run directory, render each to
HTML without code, and write the index pages.

    results/
      index.html                 newest run first, earlier runs listed (each keeps its own files)
      runs/<run_id>/
        run.json                 which notebooks ran, with which parameters, how long, and the outcome
        environment.json         the machine and engine settings
        records/*.jsonl          the measurements every page plots
        figures/*.png            every figure, also as a file
        notebooks/*.ipynb        the executed notebooks
        html/*.html              the pages, without code
        index.html               this run's page

A run directory is never reused, so a second report never overwrites the first one's data.
"""
from __future__ import annotations

import html
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from . import environment
from .records import RUN_ID_PATTERN, new_run_id, now_iso

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
#: Execution order: the overview reads what the workload notebooks wrote.
NOTEBOOKS = ("contention", "snapshots", "resume", "calls", "overview")
TITLES = {
    "contention": "Append contention",
    "snapshots": "Snapshot replay savings",
    "resume": "Subscription resume",
    "calls": "Throughput and latency per call",
    "overview": "Overview: comparison matrix and decision guide",
}


def load_params(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """Notebook parameters from YAML: ``all:`` applies to every notebook declaring a name, and a key
    per notebook (``contention:``, ...) overrides for that notebook."""
    if path is None:
        return {}
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of notebook name -> parameters")
    unknown = set(data) - set(NOTEBOOKS) - {"all"}
    if unknown:
        raise ValueError(f"{path}: unknown notebook(s) {sorted(unknown)}; known: all, {', '.join(NOTEBOOKS)}")
    return {k: dict(v or {}) for k, v in data.items()}


def notebook_parameters(name: str, params: dict[str, dict[str, Any]], base: dict[str, Any]) -> dict[str, Any]:
    """The parameters to inject into notebook ``name``: only names its parameters cell declares."""
    import papermill

    declared = set(papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb")))
    specific = params.get(name, {})
    unknown = set(specific) - declared
    if unknown:
        raise ValueError(f"notebook {name} has no parameter(s) {sorted(unknown)}; it declares {sorted(declared)}")
    merged = {**base, **params.get("all", {}), **specific}
    return {k: v for k, v in merged.items() if k in declared}


def render_html(notebook: Path, target: Path) -> None:
    """The executed notebook as a page of outputs only (no code, no prompts)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")


def build_report(
    results_root: str | Path = "results",
    *,
    params_file: str | Path | None = None,
    engines: str | None = None,
    run_id: str | None = None,
    notebooks: Iterable[str] | None = None,
    progress: bool = True,
) -> tuple[Path, bool]:
    """Run the notebooks into ``<results_root>/runs/<run_id>/``; returns (run dir, all succeeded).

    Parameters:
        results_root: the directory holding ``runs/`` and ``index.html``.
        params_file: YAML of notebook parameters (``tests/notebook_params.yaml`` is the tiny set);
            without it every notebook runs with its defaults.
        engines: overrides the ``engines`` parameter of every notebook (comma-separated names).
        run_id: the run's id; a new one by default. An existing run directory is an error.
        notebooks: a subset of ``NOTEBOOKS`` to run, in their usual order.
        progress: show papermill's progress bar per notebook.
    """
    root = Path(results_root).resolve()
    run_id = run_id or new_run_id()
    params = load_params(params_file)
    # No progress bars inside the pages: papermill shows one per notebook on the terminal.
    base: dict[str, Any] = {"run_id": run_id, "results_dir": str(root / "runs" / run_id), "progress": False}
    if engines:
        base["engines"] = engines
    selected = [n for n in NOTEBOOKS if notebooks is None or n in set(notebooks)]
    injected = {name: notebook_parameters(name, params, base) for name in selected}  # a typo fails before any run
    run_dir = root / "runs" / run_id
    if run_dir.exists():
        raise FileExistsError(f"{run_dir} exists; a report never overwrites an earlier run")
    run_dir.mkdir(parents=True)
    run: dict[str, Any] = {"run_id": run_id, "started_at": now_iso(), "params_file": str(params_file) if params_file else None, "notebooks": []}
    environment.update(run_dir)
    ok = True
    try:
        for name in selected:
            ok = _execute(name, injected[name], run_dir, run, progress) and ok
    except KeyboardInterrupt:
        run["interrupted"] = True
        raise
    finally:
        run["finished_at"] = now_iso()
        (run_dir / "run.json").write_text(json.dumps(run, indent=2, default=str))
        write_run_index(run_dir)
        write_root_index(root)
    return run_dir, ok


def _execute(name: str, parameters: dict[str, Any], run_dir: Path, run: dict[str, Any], progress: bool) -> bool:
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
        render_html(executed, run_dir / "html" / f"{name}.html")
    elapsed = time.monotonic() - began
    print(f"report: {name} {'failed: ' + error if error else 'done'} in {elapsed:.0f} s", file=sys.stderr, flush=True)
    run["notebooks"].append({"name": name, "parameters": parameters, "seconds": round(elapsed, 1), "error": error})
    (run_dir / "run.json").write_text(json.dumps(run, indent=2, default=str))
    return error is None


# -- index pages -------------------------------------------------------------------------------------

_STYLE = "body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}td,th{padding:.2em .6em;text-align:left}.failed{color:#b00}"


def _page(title: str, body: str) -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"


def _runs(root: Path) -> list[dict[str, Any]]:
    runs = []
    for path in sorted((root / "runs").glob("*/run.json"), reverse=True):
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return [r for r in runs if isinstance(r.get("run_id"), str)]


def _links(run: dict[str, Any], prefix: str) -> str:
    items = []
    for nb in run.get("notebooks", []):
        status = f" <span class='failed'>(failed: {html.escape(nb['error'])})</span>" if nb.get("error") else ""
        title = html.escape(TITLES.get(nb["name"], nb["name"]))
        items.append(f"<li><a href='{prefix}html/{nb['name']}.html'>{title}</a> ({nb['seconds']:.0f} s){status}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _environment(run_dir: Path) -> str:
    env = environment.read(run_dir)
    if env is None:
        return "<p>No environment record.</p>"
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in environment.summary_lines(env)) + "</ul>"


def write_run_index(run_dir: Path) -> None:
    run = json.loads((run_dir / "run.json").read_text())
    body = (
        f"<h1>Event store workbench: run {html.escape(run['run_id'])}</h1>"
        f"<p>Started {html.escape(run['started_at'])}, finished {html.escape(run.get('finished_at', '-'))}. "
        f"Records: <a href='records/'>records/</a>, figures: <a href='figures/'>figures/</a>.</p>"
        f"<h2>Pages</h2>{_links(run, '')}<h2>Environment</h2>{_environment(run_dir)}"
    )
    (run_dir / "index.html").write_text(_page(f"Run {run['run_id']}", body), encoding="utf-8")


def write_root_index(root: Path) -> None:
    """``results/index.html``: the newest run's pages and environment, then every earlier run."""
    runs = [r for r in _runs(root) if _valid_id(r["run_id"])]
    if not runs:
        body = "<h1>Event store workbench</h1><p>No runs yet: run <code>make report</code>.</p>"
    else:
        newest, earlier = runs[0], runs[1:]
        prefix = f"runs/{newest['run_id']}/"
        body = (
            f"<h1>Event store workbench</h1><h2>Newest run: <a href='{prefix}index.html'>{html.escape(newest['run_id'])}</a></h2>"
            f"{_links(newest, prefix)}<h3>Environment</h3>{_environment(root / 'runs' / newest['run_id'])}"
        )
        if earlier:
            body += "<h2>Earlier runs</h2><ul>" + "".join(
                f"<li><a href='runs/{r['run_id']}/index.html'>{html.escape(r['run_id'])}</a>"
                f"{' <span class=failed>(some pages failed)</span>' if any(n.get('error') for n in r.get('notebooks', [])) else ''}</li>"
                for r in earlier
            ) + "</ul>"
    (root / "index.html").write_text(_page("Event store workbench", body), encoding="utf-8")


def _valid_id(run_id: str) -> bool:
    import re

    return re.match(RUN_ID_PATTERN, run_id) is not None
