"""Numbers and tables as an architect reads them: units in headers, thousands separators, no
scientific notation, long tables folded (``<details>``) and never cut, text HTML-escaped, an empty
value shown as a dash whose reason the page gives; and the report's one style sheet (``STYLE``).
"""
from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bench.harness.records import PROFILES

SMOKE = "smoke-sized run, not for decisions"

#: What a table cell without a value shows (the table's note says why a column can be empty).
MISSING = "–"

#: A not-measured reason longer than this many characters is cut to its first clause where a page is short of room.
LONG_REASON = 120
#: Tables longer than this are folded into a ``<details>`` element (shown whole when opened).
FOLD_ROWS = 15

#: The look of every page: the index pages, and injected into every rendered notebook page.
STYLE = """
.bench-nav{position:sticky;top:0;z-index:10;background:#f6f8fa;border-bottom:1px solid #d0d7de;padding:.45em 1em;font:14px/1.5 system-ui,sans-serif}
.bench-nav a{margin-right:.9em;white-space:nowrap}
.bench-nav .here{font-weight:600;margin-right:.9em}
.bench-toc{font:14px/1.5 system-ui,sans-serif;margin:.6em 1em 0}
.bench-toc ol{margin:.3em 0 0 1.2em;padding:0;columns:2}
.bench-scroll .bench-table{border-collapse:collapse;font-size:13px;margin:.4em 0}
.bench-scroll .bench-table th,.bench-scroll .bench-table td{border-bottom:1px solid #e1e4e8;padding:.25em .6em;vertical-align:top;text-align:left}
.bench-scroll .bench-table th{background:#f6f8fa;font-weight:600}
.bench-scroll .bench-table td.num,.bench-scroll .bench-table th.num{text-align:right;font-variant-numeric:tabular-nums}
.bench-scroll .bench-table td.num{white-space:nowrap}
.bench-scroll{overflow-x:auto;max-width:100%}
.bench-scroll table{table-layout:fixed;width:100%}
.bench-scroll th,.bench-scroll td{overflow-wrap:anywhere}
.bench-scroll .bench-table .sub{display:block;font-weight:400;color:#57606a;font-size:11px}
.bench-fold>summary{cursor:pointer;color:#0969da;margin:.3em 0}
.bench-empty{color:#57606a;font-style:italic}
.bench-figure{margin:.5em 0}
.bench-figure img{max-width:100%;height:auto}
.bench-tag{display:inline-block;font-size:11px;line-height:1.3;padding:0 .35em;margin:0 .15em .1em 0;border-radius:.6em;background:#eaeef2;color:#24292f;white-space:nowrap}
.bench-tag.warn{background:#fff1c2;color:#5c4400}
.bench-tag.bad{background:#ffd8d3;color:#82071e}
.bench-scroll .bench-matrix{border-collapse:collapse;font-size:13px;margin:.4em 0}
.bench-scroll .bench-matrix th,.bench-scroll .bench-matrix td{border:1px solid #fff;padding:.3em .4em;vertical-align:top}
.bench-scroll .bench-matrix thead th{background:#f6f8fa;text-align:center;font-weight:600;min-width:5.5em}
.bench-scroll .bench-matrix tbody th{text-align:left;background:#f6f8fa;font-weight:600;min-width:9em}
.bench-scroll .bench-matrix td{text-align:right;font-variant-numeric:tabular-nums;min-width:5em}
.bench-scroll .bench-matrix td.missing{background:#d9d9d9;color:#333;text-align:center;font-style:italic}
.bench-scroll .bench-matrix .group th{background:#fff;color:#57606a;font-weight:400;font-style:italic;padding-top:.8em}
.bench-scroll .bench-matrix .sub{display:block;font-weight:400;color:#57606a;font-size:11px}
.bench-scroll .bench-matrix .ci,.bench-scroll .bench-matrix .ratio{display:block;font-size:11px;color:#3d444d}
.bench-legend{font-size:12px;color:#3d444d;margin:.3em 0 1em}
.bench-legend .swatch{display:inline-block;width:2.2em;height:1em;vertical-align:middle;margin:0 .3em 0 .8em;border:1px solid #ccc}
.bench-verdict{border-left:4px solid #0969da;background:#f6f8fa;padding:.5em 1em;margin:.6em 0}
.bench-verdict.none{border-left-color:#cf222e}
.bench-smoke{border-left:4px solid #bf8700;background:#fff8c5;padding:.5em 1em;margin:.6em 0}
"""


def smoke_label(profile: str) -> str:
    """The words a title carries for a run of ``profile``: nothing for the decision-grade profile."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    return "" if profile == "decision" else f"{profile} profile: {SMOKE}"


def _is_missing(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA."""
    if value is None:
        return True
    if isinstance(value, (str, bytes, list, tuple, dict, set)):
        return False
    try:
        return bool(value != value)
    except (TypeError, ValueError):  # pandas' NA refuses to be a bool
        return True


def number(value: Any, missing: str = MISSING) -> str:
    """A number as a reader wants it: counts with thousands separators, about three significant
    digits otherwise, never scientific notation; a missing value as ``missing``."""
    if _is_missing(value):
        return missing
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "yes" if value else "no"
    if isinstance(value, int) or type(value).__name__.startswith(("int", "uint", "Int")):
        return f"{int(value):,}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) < 100:
        v = float(f"{v:.3g}")  # round first, so 9.999 reads 10.0, not 10.00
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    decimals = min(12, 2 - math.floor(math.log10(a)))
    return f"{v:.{decimals}f}"


def percent(value: Any, missing: str = MISSING) -> str:
    """A fraction as a percentage (0.053 -> 5.3 %)."""
    if _is_missing(value):
        return missing
    return f"{number(float(value) * 100)} %"


def _cell_text(value: Any, missing: str) -> tuple[str, bool]:
    """(escaped text, is a number) of one table cell."""
    if isinstance(value, (list, tuple, set)):
        return html.escape(", ".join(str(v) for v in value)) or missing, False
    if isinstance(value, str):
        return html.escape(value) if value else missing, False
    if _is_missing(value):
        return html.escape(missing), True
    if isinstance(value, (int, float)) or type(value).__module__ == "numpy":
        return html.escape(number(value, missing)), not isinstance(value, bool) and type(value).__name__ != "bool_"
    return html.escape(str(value)), False


Format = Callable[[Any], str]


def table_html(
    frame: Any,
    *,
    columns: Mapping[str, str] | None = None,
    formats: Mapping[str, Format] | None = None,
    missing: str = MISSING,
    empty: str = "No rows.",
    caption: str | None = None,
    fold: int | None = FOLD_ROWS,
    raw: Iterable[str] = (),
) -> str:
    """``frame`` as an HTML table for reading.

    Parameters:
        frame: a pandas DataFrame; its index is not shown.
        columns: column -> header (a unit in the header, as ``"load p50 (ms)"``); only these
            columns are shown, in this order. None: every column under its own name.
        formats: column -> function from a value to its text (``percent``, say); others go
            through ``number`` (numbers) or are escaped (text).
        missing: what a cell without a value shows.
        empty: the sentence shown instead of a table without rows (say why it can be empty).
        caption: a caption above the table; with ``fold``, the folded table's summary.
        fold: more rows than this fold the table into ``<details>`` (None: never).
        raw: columns whose values are already HTML (links, tags), inserted unescaped.
    """
    if frame is None or len(frame) == 0:
        return f"<p class='bench-empty'>{html.escape(empty)}</p>"
    names = list(columns) if columns is not None else [str(c) for c in frame.columns]
    headers = [columns[c] for c in names] if columns is not None else names
    formats = formats or {}
    raw = set(raw)
    rows = []
    numeric = [True] * len(names)
    for record in frame.to_dict("records"):
        cells = []
        for n, name in enumerate(names):
            value = record.get(name)
            if name in raw:
                text, is_number = ("" if _is_missing(value) else str(value)), False
            elif name in formats:
                text, is_number = html.escape(formats[name](value)), True
            else:
                text, is_number = _cell_text(value, missing)
            numeric[n] = numeric[n] and (is_number or text == html.escape(missing))
            cells.append(text)
        rows.append(cells)
    head = "".join(f"<th{' class=num' if numeric[n] else ''}>{html.escape(h)}</th>" for n, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{' class=num' if numeric[n] else ''}>{c}</td>" for n, c in enumerate(cells)) + "</tr>" for cells in rows)
    table = f"<div class='bench-scroll'><table class='bench-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    if fold is not None and len(rows) > fold:
        summary = f"{html.escape(caption) + ': ' if caption else ''}all {len(rows):,} rows (click to show)"
        return f"<details class='bench-fold'><summary>{summary}</summary>{table}</details>"
    if caption:
        return f"<p><strong>{html.escape(caption)}</strong></p>{table}"
    return table


def short_reason(reason: Any, *, first_clause: bool = True) -> str:
    """A not-measured reason as a page shows it, in a sentence: without the low-level causes a reason
    ends with in parentheses and, for a long one, only its first clause unless ``first_clause`` is
    False (where a page has room for what to do about it: the engine's row on the front page). The
    records keep it whole."""
    if _is_missing(reason):
        return MISSING
    text = str(reason).strip()
    while text.endswith(")"):
        depth = 0
        for i in range(len(text) - 1, -1, -1):  # back to the parenthesis the last one closes
            depth += {")": 1, "(": -1}.get(text[i], 0)
            if depth == 0:
                break
        if i <= 40 or text[i - 1] != " ":
            break
        text = text[: i - 1].rstrip()
    if first_clause and len(text) > LONG_REASON and "; " in text:
        text = text.split("; ", 1)[0] + " …"
    return text


def tag_html(text: str, level: str = "") -> str:
    return f"<span class='bench-tag {level}'>{html.escape(text)}</span>"
