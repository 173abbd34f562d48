"""What a workload notebook shows besides its own tables and figures, as objects it displays: the
smoke-run banner, tables and figures with alt text, the runner's log in a file the page links to
(never printed on the page), the engines' status, the gaps and the correctness problems in words.
"""
from __future__ import annotations

import contextlib
import html
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from IPython.display import HTML, Markdown

from .figures import figure_html
from .tables import STYLE, number, short_reason, smoke_label, table_html


def banner(profile: str) -> Markdown:
    """The line at the top of a page of a smoke-sized run (empty for a decision-grade one)."""
    label = smoke_label(profile)
    if not label:
        return Markdown("")
    return Markdown(
        f"> **{label[0].upper()}{label[1:]}.** Its sizes only prove that every part of the pipeline works; "
        "`make report` runs the decision-grade profile, whose numbers carry confidence intervals."
    )


def table(frame: Any, **options: Any) -> HTML:
    """``table_html`` for a notebook to display."""
    return HTML(table_html(frame, **options))


def styled(body: str) -> HTML:
    """HTML carrying the pages' style with it (for outputs seen outside the report, in JupyterLab)."""
    return HTML(f"<style>{STYLE}</style>{body}")


def show(fig: Any, alt: str | None = None) -> HTML:
    """Display a figure with its alt text and close it (so the notebook does not show it twice)."""
    import matplotlib.pyplot as plt

    out = HTML(figure_html(fig, alt))
    plt.close(fig)
    return out


@contextlib.contextmanager
def logged(results_dir: str | Path, name: str) -> Iterator[Path]:
    """Send everything printed while the block runs (Python's and child processes' stdout and
    stderr, warnings and log records) to ``<results_dir>/logs/<name>.log`` instead of the page."""
    path = Path(results_dir) / "logs" / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8", buffering=1) as log:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        streams = sys.stdout, sys.stderr
        handler = logging.StreamHandler(log)
        logging.getLogger().addHandler(handler)
        try:
            for fd in saved:
                os.dup2(log.fileno(), fd)
            sys.stdout = sys.stderr = log
            yield path
        finally:
            log.flush()
            sys.stdout, sys.stderr = streams
            logging.getLogger().removeHandler(handler)
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


def log_line(path: Path, results_dir: str | Path) -> Markdown:
    """One line linking a log file from a page in ``<results_dir>/html/``."""
    path = Path(path)
    relative = os.path.relpath(path, Path(results_dir) / "html")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    said = f"{len(lines):,} lines" if lines else "empty: nothing was printed"
    return Markdown(f"What the runner printed is in its log, [{path.name}]({relative.replace(os.sep, '/')}) ({said}).")


def records_line(path: Path, results_dir: str | Path, count: int) -> Markdown:
    """One line naming the record file a page reads, as a link relative to the page."""
    relative = os.path.relpath(Path(path), Path(results_dir) / "html").replace(os.sep, "/")
    return Markdown(f"This page reads {count:,} records from [{Path(path).name}]({relative}).")


def bullets(lines: Iterable[str], empty: str = "Nothing to list.") -> Markdown:
    """Lines as a Markdown list, each HTML-escaped (``<name>`` stays visible), or ``empty``."""
    items = [f"- {html.escape(line)}" for line in lines]
    return Markdown("\n".join(items) if items else empty)


def bullets_by(groups: Mapping[str, Iterable[str]], empty: str = "Nothing to list.") -> Markdown:
    """A bold heading per group, each with its lines as a list, all HTML-escaped."""
    parts = [f"**{html.escape(title)}**\n\n" + "\n".join(f"- {html.escape(line)}" for line in lines) for title, lines in groups.items()]
    return Markdown("\n\n".join(parts) if parts else empty)


def problems_md(found: list[str], rules: int | None = None) -> Markdown:
    """The broken correctness rules as a list, or a sentence saying none was broken."""
    if not found:
        checked = f" ({rules} rule{'s' if rules != 1 else ''} checked)" if rules else ""
        return Markdown(f"**No correctness rule was broken** in these records{checked}.")
    return Markdown(f"**{len(found)} problem(s):**\n\n" + "\n".join(f"- {html.escape(line)}" for line in found))


def gaps_html(frame: Any) -> HTML:
    """Failed cases and skipped points with their reasons, or a sentence saying there were none."""
    if frame is None or len(frame) == 0:
        return HTML("<p class='bench-empty'>No case failed and no point was skipped.</p>")
    columns = {c: h for c, h in (("label", "engine"), ("metric", "what"), ("repetition", "repetition"), ("note", "reason")) if c in frame.columns}
    return table(frame, columns=columns, caption="Failed or skipped cases")


def status_table(status: Any) -> HTML:
    """The engines a workload page covers: measured or not (and why), product, version, time."""
    if status is None or len(status) == 0:
        return HTML("<p class='bench-empty'>No engine was run for this workload.</p>")
    frame = status.copy()
    frame["outcome"] = [
        "measured" if s == "measured" else f"{str(s).replace('_', ' ')}: {short_reason(r)}" for s, r in zip(frame["status"], frame["reason"], strict=True)
    ]
    frame["runs as"] = [
        ", ".join(t for t in (("emulator" if e is True else ""), ("naive design (counter-example)" if m == "naive" else "")) if t) or "product"
        for e, m in zip(frame.get("emulator", [None] * len(frame)), frame.get("mode", [None] * len(frame)), strict=True)
    ]
    columns = {"engine": "engine", "product": "product", "engine_version": "version", "runs as": "runs as", "outcome": "outcome", "elapsed_s": "time (s)"}
    return table(frame, columns=columns, formats={"elapsed_s": lambda v: number(v)}, missing="not reached")
