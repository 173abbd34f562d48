"""The index pages: a run's front page (``runs/<run_id>/index.html``), the results root's
(``index.html``: the newest run's front page, then every earlier run), and a run's environment page.

A front page decides: what was compared (engines, versions, profile, machine), the verdict per
requirement profile, the matrix at a glance, the figures that matter and the caveats; then links
to every page and every file of the run, each file linked by name (never a bare folder, which
breaks on CI artifact hosts). Everything is computed from the run's records, as the overview
notebook computes it; a part that cannot be computed says why instead of failing the page.

"""
from __future__ import annotations

import html
import json
import re
import traceback
from pathlib import Path
from typing import Any

import pandas as pd

from bench.display.tables import SMOKE, number, short_reason, smoke_label, tag_html
from bench.harness import environment
from bench.harness.results import Results, engine_status, load
from bench.harness.stats import CI_TARGET
from bench.workloads import key_figures

from . import comparability, decide, verdict_file, verdicts
from .compare import write_compare
from .matrix import matrix_cells, write_matrix_csv
from .matrix_html import matrix_html
from .notebooks import operating_points, page_title
from .site import page, pages_of, run_info

ALT_FILE = "alt.json"


def _anchors(run_dir: Path, overview: str | None, found: list[decide.Decision]) -> dict[str, str]:
    """Profile key -> link to its section of the overview page (the page itself where the section is missing)."""
    if not overview:
        return {}
    text = (run_dir / "html" / "overview.html").read_text(encoding="utf-8", errors="replace")
    ids = set(re.findall(r"id=['\"]([^'\"]+)['\"]", text))
    return {d.profile.key: overview + (f"#{verdicts.anchor(d.profile)}" if verdicts.anchor(d.profile) in ids else "") for d in found}


def compared_html(results: Results, run: dict[str, Any], facts: Any) -> str:
    """The profile, machine, revision and run, then one row per engine: product and version, how it
    runs, its durability, what was measured and what was not (and why)."""
    env = results.environment or {}
    cpu = env.get("cpu") or {}
    memory = env.get("memory_bytes")
    git = env.get("git") or {}
    profile = run.get("profile", results.profile)
    label = smoke_label(profile) if profile in ("decision", "quick") else ""
    machine = (f"{cpu.get('model', 'unknown CPU')}, {cpu.get('logical_cores', '?')} logical cores"
               + (f", {memory / 2**30:.1f} GiB memory" if memory else "") + f"; {env.get('os', 'unknown OS')}; Python {env.get('python', '?')}")
    revision = str(git.get("revision", "unknown"))[:12] + (" (with uncommitted changes)" if git.get("dirty") else "")
    started, finished = _when(run.get("started_at")), _when(run.get("finished_at"))
    status = engine_status(results)
    rows = []
    for r in facts.to_dict("records"):
        mine = status[status["engine"] == r["engine"]]
        measured = sorted(mine[mine["status"] == "measured"]["workload"])
        absent = mine[mine["status"] != "measured"]
        by_reason: dict[str, list[str]] = {}
        for w, why in zip(absent["workload"], absent["reason"], strict=True):
            by_reason.setdefault(short_reason(why, first_clause=False), []).append(w)
        missing = [f"{'every workload' if not measured else ', '.join(sorted(ws))}: {why}" for why, ws in by_reason.items()]
        tags = "".join(tag_html(comparability.TAGS[t].label, comparability.TAGS[t].level) for t in r["tags"])
        product = " ".join(str(v) for v in (r["product"], r["engine_version"]) if isinstance(v, str) and v) or "–"
        rows.append(
            f"<tr><th>{html.escape(str(r['label']))}{tags}</th><td>{html.escape(product)}</td><td>{html.escape(_stated(r['process']))}</td>"
            f"<td>{html.escape(_stated(r['durability']))}</td><td>{html.escape(', '.join(measured) or 'nothing')}</td>"
            f"<td>{html.escape('; '.join(missing)) or '–'}</td></tr>"
        )
    head = "<tr><th>engine</th><th>product and version</th><th>runs as</th><th>durability</th><th>measured</th><th>not measured, and why</th></tr>"
    table = f"<div class='bench-scroll'><table class='bench-table'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
    return (f"<p><strong>Profile</strong>: {html.escape(profile)}{' (' + html.escape(SMOKE) + ')' if label else ' (decision-grade)'}. "
            f"<strong>Machine</strong>: {html.escape(machine)}. <strong>Revision</strong>: {html.escape(revision)}. "
            f"<strong>Run</strong>: {html.escape(str(run.get('run_id', '')))}" + (f", {html.escape(started)}" if started else "")
            + (f" to {html.escape(finished)}" if finished else "") + ".</p>" + table)


def how_sure_html(cells: pd.DataFrame, env: dict[str, Any]) -> str:
    """How many of the products' measured cells converged, and how steady the machine itself was:
    the floor under every cell's spread, and so the reason a cell may not have converged."""
    product = cells[[not ({"emulator", "naive"} & set(tags)) for tags in cells["tags"]]]
    measured = product[product["value"].notna() & (product["n"] >= 1)]
    known = int((~measured["unstable"].astype(bool)).sum())
    text = "<strong>How sure the numbers are.</strong> "
    if measured.empty:
        text += "No cell of a product (no emulator, no naive design) was measured over repetitions in this run."
    else:
        soft = measured[measured["unstable"].astype(bool)]
        stopped = f" (they stopped at a median of {soft['n'].median():g} repetitions)" if not soft.empty else ""
        text += (f"{known} of {len(measured)} measured cells of the products (no emulator, no naive design) reached a 95 % CI within "
                 f"±{CI_TARGET:.0%} of their median; the others say <em>unstable</em> with the CI they reached{stopped}, and each verdict's "
                 "confidence below redraws every cell from its repetitions.")
    steady = environment.steadiness_line(env)
    return f"<p>{text}{' ' + html.escape(steady) if steady else ''}</p>"


def _stated(value: Any) -> str:
    """A fact an engine's records may not state (one never started has none): the value or "not stated"."""
    return "not stated" if value is None or value != value or value == "" else str(value)


def _when(stamp: Any) -> str:
    """An ISO time stamp as a reader wants it (2026-01-01 12:00 UTC); empty when unknown."""
    if not isinstance(stamp, str) or len(stamp) < 16:
        return ""
    return stamp[:10] + " " + stamp[11:16] + " UTC"


def _alt_texts(run_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((run_dir / "figures" / ALT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _figures(run_dir: Path, prefix: str) -> str:
    alts = _alt_texts(run_dir)
    chosen = [name for name in ("overview-scores", *(name for name, _ in key_figures())) if (run_dir / "figures" / f"{name}.png").exists()][:4]
    if not chosen:
        return "<p class='bench-empty'>No figure was drawn in this run (the workload notebooks were not run).</p>"
    items = []
    for name in chosen:
        alt = alts.get(name) or f"Figure {name} of this run"
        items.append(f"<figure><a href='{prefix}figures/{name}.png'><img src='{prefix}figures/{name}.png' alt='{html.escape(alt, quote=True)}'></a>"
                     f"<figcaption>{html.escape(alt)}</figcaption></figure>")
    return f"<div class='bench-figures'>{''.join(items)}</div>"


def ensure_pages(run_dir: Path, run: dict[str, Any]) -> None:
    """A page for every notebook of the run: one that produced none (its kernel died, papermill failed
    before writing) gets a page saying so, so no link to it is ever broken."""
    for nb in run.get("notebooks", []):
        target = run_dir / "html" / f"{nb['name']}.html"
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        error = html.escape(str(nb.get("error") or "the notebook left no executed copy to render"))
        nav = "<nav class='bench-nav'><a href='../index.html'>← Run index</a></nav>"
        target.write_text(page(str(nb["name"]), f"{nav}<h1>{html.escape(str(nb['name']))}: no page</h1><p class='failed'>This notebook did not produce a page: "
                                                f"{error}. Its log and executed notebook, where they exist, are listed on the run index.</p>"), encoding="utf-8")


def _pages(run: dict[str, Any], run_dir: Path, prefix: str) -> str:
    ensure_pages(run_dir, run)
    items = []
    for nb in run.get("notebooks", []):
        name = nb["name"]
        title = html.escape(page_title(name, run.get("profile", "decision")))
        link = f"<a href='{prefix}html/{name}.html'>{title}</a>"
        failed = f" <span class='failed'>(failed: {html.escape(str(nb['error']))})</span>" if nb.get("error") else ""
        items.append(f"<li>{link} <span class='muted'>({number(nb.get('seconds', 0))} s)</span>{failed}</li>")
    return "<ul>" + "".join(items) + "</ul>" if items else "<p class='bench-empty'>No notebook ran in this run.</p>"


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB" if size >= 2**10 else f"{size} bytes"


def _files(run_dir: Path, prefix: str) -> str:
    groups = [
        ("Records (JSON Lines, one measurement per line; schema: <code>python -m bench schema</code>)", sorted((run_dir / "records").glob("*.jsonl"))),
        ("The matrix, every cell with its number, CI, reason and source", [p for p in (run_dir / "matrix.csv",) if p.exists()]),
        ("Environment and run", [p for p in (run_dir / "environment.html", run_dir / "environment.json", run_dir / "run.json") if p.exists()]),
        ("What each runner printed", sorted((run_dir / "logs").glob("*.log"))),
        ("Executed notebooks", sorted((run_dir / "notebooks").glob("*.ipynb"))),
        ("Figures", sorted((run_dir / "figures").glob("*.png"))),
    ]
    out = []
    for title, paths in groups:
        if not paths:
            continue
        items = "".join(f"<li><a href='{prefix}{p.relative_to(run_dir).as_posix()}'>{html.escape(p.relative_to(run_dir).as_posix())}</a> "
                        f"<span class='muted'>({_size(p)})</span></li>" for p in paths)
        block = f"<ul>{items}</ul>"
        if len(paths) > 8:
            block = f"<details class='bench-fold'><summary>{len(paths)} files (click to show)</summary>{block}</details>"
        out.append(f"<p><strong>{title}</strong></p>{block}")
    return "".join(out) or "<p class='bench-empty'>This run wrote no files yet.</p>"


def front_page(run_dir: Path, prefix: str = "", *, level: str = "h2") -> str:
    """The body of a run's front page; ``prefix`` is the path from the page to the run directory."""
    run = run_info(run_dir)
    profile = run.get("profile", "decision")
    label = smoke_label(profile) if profile in ("decision", "quick") else ""
    parts = []
    if label:
        parts.append(f"<div class='bench-smoke'><strong>{html.escape(label[0].upper() + label[1:])}.</strong> Its sizes only prove that every part of "
                     "the pipeline works; the verdicts below show how the report reasons, not what to choose. "
                     "<code>make report</code> runs the decision-grade profile.</div>")
    try:
        results = load(run_dir)
        facts = comparability.engine_facts(results)
        points = operating_points(run)
        cells = matrix_cells(results, points)
        write_matrix_csv(cells, run_dir / "matrix.csv")
        links = pages_of(run_dir, prefix)
        overview = links.get("overview")
        found = verdict_file.decisions(results, run)
        verdict_file.write(run_dir, found, run)
        anchors = _anchors(run_dir, overview, found)
        parts += [
            f"<{level}>What was compared</{level}>", compared_html(results, run, facts), how_sure_html(cells, results.environment or {}),
            f"<{level}>Verdict per requirement profile</{level}>",
            "<p>Each profile sets hard requirements (an engine that fails one, or was not measured on it, is set aside) and weights over the matrix's "
            "columns; the rest are ranked by the weighted score. Read the caveats below before acting on any of it.</p>",
            verdicts.summary_html(found, anchors),
            f"<{level}>The matrix at a glance</{level}>",
            "<p>Each column is one operating point chosen before the run. Colour: ratio to the best product in the column. "
            "A grey cell was not measured; its footnote says why.</p>",
            matrix_html(cells, facts, pages={k: v for k, v in links.items() if k != "overview"}, anchor=f"glance{'-' + run['run_id'] if prefix else ''}"),
            f"<{level}>Figures that matter</{level}>", _figures(run_dir, prefix),
            f"<{level}>Caveats</{level}>",
            "<ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in comparability.caveats(results, facts)) + "</ul>",
        ]
    except Exception as exc:  # the index must still link every page when the records cannot be summarised
        parts.append(f"<p class='failed'>The records of this run could not be summarised ({html.escape(type(exc).__name__)}: {html.escape(str(exc))}); "
                     "the pages below show what each notebook found.</p>")
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        (run_dir / "logs" / "index.log").write_text(traceback.format_exc(), encoding="utf-8")
    parts += [f"<{level}>Pages</{level}>", _pages(run, run_dir, prefix), f"<{level}>Files</{level}>", _files(run_dir, prefix)]
    return "".join(parts)


def write_environment_page(run_dir: Path) -> None:
    """``environment.html``: the machine and every engine's settings, as tables."""
    env = environment.read(run_dir)
    if env is None:
        body = "<p class='bench-empty'>This run has no environment record.</p>"
    else:
        machine = "".join(f"<li>{html.escape(line)}</li>" for line in environment.summary_lines({**env, "engines": {}}))
        packages = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v) if v else 'not installed')}</td></tr>" for k, v in sorted(env["packages"].items()))
        engines = []
        for name, settings in sorted(env.get("engines", {}).items()):
            rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in sorted(settings.items()))
            engines.append(f"<h3>{html.escape(name)}</h3><div class='bench-scroll'><table class='bench-table'>{rows}</table></div>")
        body = (f"<h2>Machine</h2><ul>{machine}</ul><h2>Engine settings</h2>{''.join(engines) or '<p class=bench-empty>No engine recorded settings.</p>'}"
                f"<h2>Packages</h2><div class='bench-scroll'><table class='bench-table'>{packages}</table></div>")
    nav = "<nav class='bench-nav'><a href='index.html'>← Run index</a><a href='environment.json'>environment.json</a></nav>"
    (run_dir / "environment.html").write_text(page("Environment", nav + "<h1>Environment of this run</h1>" + body), encoding="utf-8")


def write_run_index(run_dir: Path) -> None:
    """``runs/<run_id>/index.html`` (and ``environment.html``)."""
    write_environment_page(run_dir)
    run = run_info(run_dir)
    run_id = str(run.get("run_id", run_dir.name))
    label = smoke_label(run.get("profile", "decision")) if run.get("profile", "decision") in ("decision", "quick") else ""
    title = f"Event store workbench: run {run_id}" + (f" ({label})" if label else "")
    nav = "<nav class='bench-nav'><span class='here'>Run index</span>" + (
        "<a href='../../index.html'>All runs</a>" if run_dir.parent.name == "runs" else "") + "<a href='environment.html'>Environment</a></nav>"
    body = nav + f"<h1>{html.escape(title)}</h1>" + front_page(run_dir)
    (run_dir / "index.html").write_text(page(title, body), encoding="utf-8")


def write_root_index(root: Path, runs: list[dict[str, Any]]) -> None:
    """``index.html`` of the results root: the newest run's front page, then every earlier run."""
    if not runs:
        body = "<h1>Event store workbench</h1><p>No runs yet: run <code>make report</code>.</p>"
        (root / "index.html").write_text(page("Event store workbench", body), encoding="utf-8")
        return
    newest, earlier = runs[0], runs[1:]
    run_dir = root / "runs" / newest["run_id"]
    label = smoke_label(newest.get("profile", "decision")) if newest.get("profile", "decision") in ("decision", "quick") else ""
    title = "Event store workbench" + (f" ({label})" if label else "")
    prefix = f"runs/{newest['run_id']}/"
    nav = (f"<nav class='bench-nav'><span class='here'>All runs</span><a href='{prefix}index.html'>Newest run's index</a>"
           f"<a href='{prefix}environment.html'>Environment</a>" + ("<a href='#earlier-runs'>Earlier runs</a>" if earlier else "") + "</nav>")
    body = nav + f"<h1>{html.escape(title)}</h1><p class='muted'>Newest run: <a href='{prefix}index.html'>{html.escape(newest['run_id'])}</a></p>"
    body += front_page(run_dir, prefix)
    if earlier:
        items = []
        for n, r in enumerate(earlier):
            failed = " <span class='failed'>(some pages failed)</span>" if any(nb.get("error") for nb in r.get("notebooks", [])) else ""
            compare = ""
            if n == 0:
                try:
                    path = write_compare(root, r["run_id"], newest["run_id"])
                    compare = f" · <a href='{path.relative_to(root).as_posix()}'>compare with the newest run</a>"
                except Exception as exc:  # a comparison that cannot be drawn says why; the index stands
                    compare = f" <span class='failed'>(no comparison: {html.escape(type(exc).__name__)}: {html.escape(str(exc))})</span>"
            items.append(f"<li><a href='runs/{r['run_id']}/index.html'>{html.escape(r['run_id'])}</a> "
                         f"<span class='muted'>({html.escape(str(r.get('profile', 'decision')))} profile)</span>{failed}{compare}</li>")
        body += f"<h2 id='earlier-runs'>Earlier runs</h2><ul>{''.join(items)}</ul>"
    (root / "index.html").write_text(page(title, body), encoding="utf-8")
