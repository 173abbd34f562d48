"""The comparison matrix as an architect reads it, in the manner of ClickBench.

Each cell is coloured by its ratio to the best engine in its column (the column's better direction
decides which is best): green is the best, yellow about twice as far, red ten times or more. The
best is taken among the products measured for real: an emulator's timings and a deliberately
broken design are shown, tagged, but never set the scale. A missing cell is grey, says "not
measured" and points to a footnote with the reason and a link to the page that explains it; it
never looks good. Headers carry the operating point, the unit and which way is better; a value
carries its 95 % CI or its flags; a row or cell that is not comparable carries its tags.
"""
from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from bench.display.tables import number, short_reason, tag_html

from .comparability import TAGS

#: Ratios at or beyond this are drawn fully red.
WORST_RATIO = 10.0
MISSING_COLOUR = "#d9d9d9"
#: Row tags that keep an engine's numbers from setting a column's best.
NOT_A_REFERENCE = ("emulator", "naive")


def column_best(entries: list[tuple[float, list[str]]], higher: bool) -> float | None:
    """The best value of a column from its (value, tags) entries: among the reference engines
    (neither an emulator nor a naive design) when any has a value, else among all; None if none has."""
    present = [(v, t) for v, t in entries if v == v]  # NaN is not equal to itself
    if not present:
        return None
    pool = [v for v, t in present if not set(t) & set(NOT_A_REFERENCE)] or [v for v, _ in present]
    return max(pool) if higher else min(pool)


def ratios(cells: pd.DataFrame) -> pd.Series:
    """Per cell, how many times worse than its column's best it is (1: the best; below 1: better
    than every reference engine, possible for an emulator or a naive design; inf: the best is 0 and
    this is not); NaN for a missing value."""
    out = pd.Series(math.nan, index=cells.index, dtype=float)
    for _, column in cells.groupby("column", sort=False):
        higher = column["better"].iloc[0] == "higher"
        values = [float(v) if pd.notna(v) else math.nan for v in column["value"]]
        best = column_best(list(zip(values, column["tags"], strict=True)), higher)
        if best is None:
            continue
        for index, value in zip(column.index, values, strict=True):
            if value == value:
                out[index] = ratio(value, best, higher)
    return out


def ratio(value: float, best: float, higher: bool) -> float:
    """How many times worse than ``best`` a value is (1 when equal; inf when the best is 0 and this is not)."""
    if value == best:
        return 1.0
    if higher:
        return math.inf if value <= 0 else best / value
    return math.inf if best <= 0 else value / best


def colour(ratio: float) -> str:
    """The cell colour for a ratio to the best: green (1) through yellow (about 2-3) to red (10+)."""
    if ratio is None or math.isnan(ratio):
        return MISSING_COLOUR
    t = 0.0 if ratio <= 1 else min(1.0, math.log10(ratio) / math.log10(WORST_RATIO))
    return f"hsl({120 * (1 - t):.0f}, 70%, {86 - 8 * t:.0f}%)"


def _label(cell: Mapping[str, Any]) -> str:
    suffix = f" ({cell['unit']})"
    column = str(cell["column"])
    return column[: -len(suffix)] if column.endswith(suffix) else column


def _ci(cell: Mapping[str, Any]) -> str:
    if pd.notna(cell["ci_relative"]) and cell["n"] and cell["n"] > 1:
        return f"±{number(100 * float(cell['ci_relative']))} %"
    return ""


def _title(cell: Mapping[str, Any]) -> str:
    parts = [str(cell["source"])]
    if pd.notna(cell["value"]):
        if pd.notna(cell["ci_low"]) and pd.notna(cell["ci_high"]) and cell["n"] and cell["n"] > 1:
            parts.append(f"95 % CI {number(cell['ci_low'])} to {number(cell['ci_high'])} {cell['unit']} over {cell['n']} repetitions")
        elif cell["n"]:
            parts.append(f"{cell['n']} repetition(s)")
    if cell.get("run_id"):
        parts.append(f"run {cell['run_id']}")
    return " | ".join(parts)


def matrix_html(
    cells: pd.DataFrame,
    facts: pd.DataFrame,
    *,
    pages: Mapping[str, str] | None = None,
    anchor: str = "matrix",
    engines: list[str] | None = None,
) -> str:
    """The matrix as HTML: a header row, the products, then the counter-examples apart; a legend
    of the colours and of the tags used; footnotes with every reason a cell is missing.

    Parameters:
        cells: ``overview.matrix_cells`` (with ``tags``).
        facts: ``comparability.engine_facts`` of the same records.
        pages: workload -> the link to its page from where this HTML is shown; a workload not in
            it has no page in this report (its cells say so instead of linking).
        anchor: prefix of the ids of this matrix's footnotes (unique on its page).
        engines: registry names to show (in this order); None: every engine.
    """
    pages = pages or {}
    if cells.empty:
        return "<p class='bench-empty'>No engine has records in this run, so there is nothing to compare.</p>"
    cells = cells.assign(ratio=ratios(cells))
    if engines is not None:
        cells = cells[cells["name"].isin(engines)]
    columns = list(dict.fromkeys(cells["column"]))
    first = {c: cells[cells["column"] == c].iloc[0] for c in columns}
    head = ["<th>engine</th>"]
    for column in columns:
        cell = first[column]
        arrow = "↑ higher is better" if cell["better"] == "higher" else "↓ lower is better"
        label = html.escape(_label(cell))
        href = pages.get(str(cell["workload"]))
        if href:
            label = f"<a href='{html.escape(href, quote=True)}'>{label}</a>"
        head.append(f"<th title='{html.escape(str(cell['source']), quote=True)}'>{label}<span class='sub'>{html.escape(str(cell['unit']))}</span>"
                    f"<span class='sub'>{arrow}</span></th>")
    notes: dict[str, list[str]] = {}  # short reason -> the pages that explain it
    used_tags: set[str] = set()
    order = list(dict.fromkeys(engines if engines is not None else facts["engine"]))
    fact = {r["engine"]: r for r in facts.to_dict("records")}
    products = [e for e in order if e in fact and not fact[e]["naive"]]
    naive = [e for e in order if e in fact and fact[e]["naive"]]
    body = []
    for group, names in ((None, products), ("Counter-examples: deliberately broken designs (mode naive), shown to measure what the correct design buys; never candidates.", naive)):
        if not names:
            continue
        if group:
            body.append(f"<tr class='group'><th colspan='{len(columns) + 1}'>{html.escape(group)}</th></tr>")
        for name in names:
            row = fact[name]
            used_tags.update(row["tags"])
            tags = "".join(tag_html(TAGS[t].label, TAGS[t].level) for t in row["tags"])
            version = " ".join(str(v) for v in (row["product"], row["engine_version"]) if isinstance(v, str) and v)
            out = [f"<th>{html.escape(str(row['label']))}<span class='sub'>{html.escape(version)}</span>{tags}</th>"]
            part = cells[cells["name"] == name].set_index("column")
            for column in columns:
                if column not in part.index:
                    out.append("<td class='missing'>not measured</td>")
                    continue
                out.append(_cell(part.loc[column], notes, pages, anchor, used_tags))
            body.append("<tr>" + "".join(out) + "</tr>")
    table = (f"<div class='bench-scroll'><table class='bench-matrix' id='{html.escape(anchor)}'><thead><tr>{''.join(head)}</tr></thead>"
             f"<tbody>{''.join(body)}</tbody></table></div>")
    return table + _legend(used_tags) + _footnotes(notes, anchor)


def _cell(cell: Any, notes: dict[str, list[str]], pages: Mapping[str, str], anchor: str, used: set[str]) -> str:
    if pd.isna(cell["value"]):
        reason = str(cell["reason"] or "no value recorded")
        href = pages.get(str(cell["workload"]))
        workload = html.escape(str(cell["workload"]))
        where = f"see the <a href='{html.escape(href, quote=True)}'>{workload} page</a>" if href else f"the {workload} notebook was not run in this report"
        wheres = notes.setdefault(short_reason(reason), [])  # one footnote per reason, however many cells share it
        if where not in wheres:
            wheres.append(where)
        number_ = list(notes).index(short_reason(reason)) + 1
        return (f"<td class='missing' title='{html.escape(reason, quote=True)}'>not measured "
                f"<a href='#{html.escape(anchor)}-why-{number_}'><sup>{number_}</sup></a></td>")
    ratio = float(cell["ratio"])
    parts = [f"<strong>{html.escape(number(cell['value']))}</strong>"]
    ci = _ci(cell)
    if ci:
        parts.append(f"<span class='ci'>{html.escape(ci)}</span>")
    if ratio == 1:
        parts.append("<span class='ratio'>best</span>")
    elif math.isinf(ratio):
        parts.append("<span class='ratio'>worse than a best of 0</span>")
    elif ratio > 1.005:
        parts.append(f"<span class='ratio'>×{number(ratio)} of best</span>")
    elif ratio < 0.995:
        parts.append(f"<span class='ratio'>beats every reference (×{number(ratio)})</span>")
    cell_only = [t for t in cell["tags"] if t in ("unstable", "n1", "client_bound")]
    used.update(cell_only)
    parts.extend(tag_html(TAGS[t].label, TAGS[t].level) for t in cell_only)
    return f"<td style='background:{colour(ratio)}' title='{html.escape(_title(cell), quote=True)}'>{''.join(parts)}</td>"


def _legend(tags: set[str]) -> str:
    swatches = "".join(
        f"<span class='swatch' style='background:{colour(r)}'></span>{text}"
        for r, text in ((1.0, "best"), (2.0, "×2"), (4.0, "×4"), (WORST_RATIO, f"×{WORST_RATIO:g} or worse"), (math.nan, "not measured"))
    )
    lines = [f"<div>Colour: ratio to the best product measured in the column{swatches}</div>"]
    for key in TAGS:
        if key in tags:
            tag = TAGS[key]
            lines.append(f"<div>{tag_html(tag.label, tag.level)} {html.escape(tag.meaning)}</div>")
    return f"<div class='bench-legend'>{''.join(lines)}</div>"


def _footnotes(notes: dict[str, list[str]], anchor: str) -> str:
    if not notes:
        return ""
    items = "".join(f"<li id='{html.escape(anchor)}-why-{n}'>{html.escape(reason)} ({'; '.join(wheres)})</li>"
                    for n, (reason, wheres) in enumerate(notes.items(), 1))
    return f"<div class='bench-legend'><strong>Why a cell is not measured</strong><ol>{items}</ol></div>"
