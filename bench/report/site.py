"""The report as a site: a page in the report's style, pages rendered from executed notebooks without
code, the navigation injected into each, and the runs a results root holds.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from bench.display.tables import STYLE
from bench.harness.records import RUN_ID_PATTERN

from .notebooks import NOTEBOOKS, title


def page(title: str, body: str) -> str:
    """A whole HTML page in the report's style."""
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}{_INDEX_STYLE}</style></head><body>{body}</body></html>")


_INDEX_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;color:#1f2328;max-width:90em;margin:0 auto;padding:0 1.5em 3em}
h1{font-size:1.7em;margin:.8em 0 .2em}h2{margin-top:1.6em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
.failed{color:#cf222e}.muted{color:#57606a}
.bench-figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(36em,1fr));gap:1em}
.bench-figures figure{margin:0;border:1px solid #d0d7de;padding:.5em}.bench-figures figcaption{font-size:13px;color:#3d444d}
.bench-figures img{width:100%;height:auto}
"""


def run_info(run_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        info = {}
    return info if isinstance(info, dict) else {}


def pages_of(run_dir: Path, prefix: str) -> dict[str, str]:
    """Notebook name -> link (from where ``prefix`` is the path to the run dir) for every rendered page."""
    return {p.stem: f"{prefix}html/{p.name}" for p in sorted((run_dir / "html").glob("*.html"))}


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


def runs(root: Path) -> list[dict[str, Any]]:
    """The ``run.json`` of every run under ``root``, newest first (an unreadable one is left out)."""
    found = []
    for path in sorted((root / "runs").glob("*/run.json"), reverse=True):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return [r for r in found if isinstance(r.get("run_id"), str) and re.match(RUN_ID_PATTERN, r["run_id"])]


def finish_pages(run_dir: Path) -> None:
    """Navigation on every page of the run, now that every page exists."""
    for target in sorted((run_dir / "html").glob("*.html")):
        navigate(target)
