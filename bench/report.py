"""``make report``: execute every notebook with papermill into a new run directory, render each to
HTML without code (the navigation injected here, so the notebooks stay clean), and write the index
pages (``bench.frontpage``).

    results/
      index.html                 the newest run's front page, then every earlier run
      compare/<A>-vs-<B>.html    the newest run against the one before (``bench.compare``)
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

import functools
import html
import json
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from . import environment
from .pages import STYLE, smoke_label
from .records import PROFILES, RUN_ID_PATTERN, new_run_id, now_iso
from .workloads import WORKLOADS, ParameterError

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
#: ``<profile>/<notebook>.yaml``: each notebook's parameters in a profile, as ``papermill -f`` takes them.
PROFILE_DIR = NOTEBOOK_DIR / "profiles"

#: Execution order: the overview reads what the workload notebooks wrote.
NOTEBOOKS = (*WORKLOADS, "overview")


@functools.cache
def title(name: str) -> str:
    """A page's title: its workload's ``title``, else its notebook's first heading (the overview's)."""
    if name in WORKLOADS:
        return WORKLOADS[name].title
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    if path.exists():
        for cell in json.loads(path.read_text())["cells"]:
            text = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and text.startswith("# "):
                return text.splitlines()[0][2:].strip()
    return name


def load_params(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """Notebook parameters from YAML: ``all:`` applies to every notebook declaring a name, and a key
    per notebook (``contention:``, ...) overrides for that notebook."""
    if path is None:
        return {}
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a mapping of notebook name -> parameters")
    unknown = set(data) - set(NOTEBOOKS) - {"all"}
    if unknown:
        raise ParameterError(f"{path}: unknown notebook(s) {sorted(unknown)}; known: all, {', '.join(NOTEBOOKS)}")
    return {k: dict(v or {}) for k, v in data.items()}


def profile_params(profile: str) -> dict[str, dict[str, Any]]:
    """The parameters profile ``profile`` gives each notebook (``notebooks/profiles/<profile>/<notebook>.yaml``)."""
    if profile not in PROFILES:
        raise ParameterError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    out: dict[str, dict[str, Any]] = {}
    for name in NOTEBOOKS:
        path = PROFILE_DIR / profile / f"{name}.yaml"
        values = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
        if not isinstance(values, dict) or values.pop("profile", profile) != profile:
            raise ParameterError(f"{path}: expected a mapping of parameter -> value with profile: {profile}")
        out[name] = values  # the profile itself reaches every notebook that declares it, with the run's options
    return out


def page_title(name: str, profile: str) -> str:
    """A page's title as the browser and the index show it; a smoke-sized run says so."""
    label = smoke_label(profile)
    return f"{title(name)} ({label})" if label else title(name)


@functools.cache
def declared_parameters(name: str) -> frozenset[str]:
    """The names notebook ``name``'s parameters cell declares, as papermill reads them."""
    import papermill

    return frozenset(papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb")))


def notebook_parameters(name: str, params: dict[str, dict[str, Any]], base: dict[str, Any]) -> dict[str, Any]:
    """The parameters to inject into notebook ``name``: only names its parameters cell declares.
    A name under ``all:`` that no notebook declares, one under ``name:`` that this one does not, or
    a workload parameter's value of the wrong type is a ``ParameterError``."""
    declared = declared_parameters(name)
    specific = params.get(name, {})
    unknown = set(specific) - declared
    if unknown:
        raise ParameterError(f"notebook {name} has no parameter(s) {sorted(unknown)}; it declares {sorted(declared)}")
    anywhere = frozenset().union(*(declared_parameters(n) for n in NOTEBOOKS))
    unknown = set(params.get("all", {})) - anywhere
    if unknown:
        raise ParameterError(f"no notebook has parameter(s) {sorted(unknown)} given under all:; they declare {sorted(anywhere)}")
    merged = {**base, **params.get("all", {}), **specific}
    chosen = {k: v for k, v in merged.items() if k in declared}
    if name in WORKLOADS:  # a value of the wrong type fails here, before any notebook runs
        params_type = WORKLOADS[name].params_type
        params_type.from_dict({k: v for k, v in chosen.items() if k in params_type.parameters()})
    return chosen


def render_html(notebook: Path, target: Path, page: str | None = None) -> None:
    """The executed notebook as a page of outputs only (no code, no prompts), titled ``page``, with
    the report's navigation (``navigate``) injected: the notebook itself stays clean."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    resources = {"metadata": {"name": page or notebook.stem}}
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4), resources=resources)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    navigate(target)


_NAV = re.compile(r"<!-- bench-nav -->.*?<!-- /bench-nav -->", re.S)
_H2 = re.compile(r"<h2([^>]*)>(.*?)</h2>", re.S)
_DEFAULT_ALT = 'alt="No description has been provided for this image"'


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment.replace("¶", ""))).strip()


def navigate(target: Path) -> None:
    """(Re)inject a rendered page's navigation: back to the run's index and to every run, links to
    the run's other pages and its environment, and a table of contents of the page's sections.
    Idempotent: a second call replaces the first one's block (the report calls it again once every
    page exists). Figures the notebook left without alt text get one naming their section."""
    text = _NAV.sub("", target.read_text(encoding="utf-8"))
    run_dir = target.parent.parent
    sections: list[tuple[str, str]] = []

    def heading(match: re.Match[str]) -> str:
        attrs, inner = match.group(1), match.group(2)
        found = re.search(r'id="([^"]+)"', attrs)
        ident = found.group(1) if found else f"section-{len(sections) + 1}"
        sections.append((ident, _text(inner)))
        return match.group(0) if found else f'<h2 id="{ident}"{attrs}>{inner}</h2>'

    text = _H2.sub(heading, text)
    text = _alt_texts(text)
    links = ["<a href='../index.html'>← Run index</a>"]
    if run_dir.parent.name == "runs":
        links.append("<a href='../../../index.html'>All runs</a>")
    for name in NOTEBOOKS:
        if name == target.stem:
            links.append(f"<span class='here'>{html.escape(title(name))}</span>")
        elif (target.parent / f"{name}.html").exists():
            links.append(f"<a href='{name}.html'>{html.escape(title(name))}</a>")
    links.append("<a href='../environment.html'>Environment</a>")
    toc = "".join(f"<li><a href='#{html.escape(i, quote=True)}'>{html.escape(t)}</a></li>" for i, t in sections)
    block = (f"<!-- bench-nav --><style>{STYLE}</style><nav class='bench-nav' aria-label='report'>{''.join(links)}</nav>"
             + (f"<details class='bench-toc' open><summary>On this page</summary><ol>{toc}</ol></details>" if toc else "") + "<!-- /bench-nav -->")
    text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + block, text, count=1)
    target.write_text(text, encoding="utf-8")


def _alt_texts(text: str) -> str:
    """Give every image nbconvert left with its placeholder alt text the name of its section."""
    out, last, section = [], 0, "this page"
    for match in re.finditer(r"<h2[^>]*>(.*?)</h2>|" + re.escape(_DEFAULT_ALT), text, re.S):
        if match.group(1) is not None:
            section = _text(match.group(1))
            continue
        out.append(text[last:match.start()])
        out.append(f'alt="{html.escape("A figure of the section " + section, quote=True)}"')
        last = match.end()
    out.append(text[last:])
    return "".join(out)


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
        write_root_index(root)
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


# -- index pages -------------------------------------------------------------------------------------


def _runs(root: Path) -> list[dict[str, Any]]:
    runs = []
    for path in sorted((root / "runs").glob("*/run.json"), reverse=True):
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return [r for r in runs if isinstance(r.get("run_id"), str) and re.match(RUN_ID_PATTERN, r["run_id"])]


def write_run_index(run_dir: Path) -> None:
    """``runs/<run_id>/index.html``, the run's front page (``bench.frontpage``), and its environment page."""
    from .frontpage import write_run_index as write

    write(run_dir)


def write_root_index(root: Path) -> None:
    """``results/index.html``: the newest run's front page, then every earlier run."""
    from .frontpage import write_root_index as write

    write(root, _runs(root))


def finish_pages(run_dir: Path) -> None:
    """Navigation on every page of the run, now that every page exists."""
    for target in sorted((run_dir / "html").glob("*.html")):
        navigate(target)
