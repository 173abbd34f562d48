"""A ``decide.Decision`` as HTML: the verdict, the requirement checks, the ranking with its declared
breakdown, and which measurement would change the answer. Shown by the overview notebook, the
explorer and the index pages alike."""
from __future__ import annotations

import html
import re
from collections.abc import Mapping

import pandas as pd

from bench.display.tables import number, table_html

from .decide import FAIL, PASS, Decision
from .profiles import REQUIREMENTS, Profile

MARKS = {PASS: "✓ pass", FAIL: "✗ fail"}


def anchor(profile: Profile) -> str:
    """The id of a profile's section on the overview page."""
    return "decision-" + re.sub(r"[^a-z0-9]+", "-", profile.key.lower()).strip("-")


def requirements_html(profile: Profile) -> str:
    """The profile's hard requirements and weights in words."""
    wanted = profile.requirements
    active = wanted.active()
    hard = "".join(f"<li>{html.escape(wanted.describe(k))}: {html.escape(REQUIREMENTS[k][1])}</li>" for k in active) or "<li>none</li>"
    weights = ", ".join(f"{html.escape(k)} ×{number(w)}" for k, w in profile.weight_map().items())
    return (f"<p>{html.escape(profile.summary)}</p><p><strong>Hard requirements</strong></p><ul>{hard}</ul>"
            f"<p><strong>Workload shape</strong>: {html.escape(profile.shape.replace('_', ' '))}; weights per matrix column: {weights}.</p>")


def checks_html(decision: Decision) -> str:
    """Engine x requirement: pass, fail or not measured, each with its evidence."""
    checks = decision.checks
    if checks.empty:
        return "<p class='bench-empty'>No hard requirement: every engine measured competes on the weighted score.</p>"
    keys = list(dict.fromkeys(checks["requirement"]))
    head = "<th>engine</th>" + "".join(f"<th>{html.escape(decision.profile.requirements.describe(k))}</th>" for k in keys)
    rows = []
    for engine, part in checks.groupby("engine", sort=False):
        by = part.set_index("requirement")
        cells = []
        for key in keys:
            status, evidence = by.loc[key, "status"], by.loc[key, "evidence"]
            colour = {PASS: "#d8f5d0", FAIL: "#ffd8d3"}.get(status, "#d9d9d9")
            cells.append(f"<td style='background:{colour}'><strong>{html.escape(MARKS.get(status, '? ' + status))}</strong><br>{html.escape(evidence)}</td>")
        rows.append(f"<tr><th>{html.escape(str(engine))}</th>{''.join(cells)}</tr>")
    return f"<div class='bench-scroll'><table class='bench-table bench-checks'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def ranking_html(decision: Decision) -> str:
    """The candidates by score, with each column's points (weight x share of the best)."""
    if decision.ranking.empty:
        return "<p class='bench-empty'>No engine is left to rank: every one was set aside (below).</p>"
    breakdown = decision.breakdown
    columns = list(dict.fromkeys(breakdown["column"])) if not breakdown.empty else []
    frame = decision.ranking[["rank", "engine", "score"]].copy()
    names = dict(zip(decision.ranking["engine"], decision.ranking["name"], strict=True))
    for column in columns:
        part = breakdown[breakdown["column"] == column].set_index("name")
        frame[column] = [_points(part, names[e]) for e in frame["engine"]]
    headers = {"rank": "rank", "engine": "engine", "score": "score (of 100)", **{c: f"{c}: points" for c in columns}}
    table = table_html(frame, columns=headers, formats={"score": lambda v: f"{v:.0f}"}, fold=None)
    total = sum(decision.profile.weight_map().get(k, 0) for k in set(breakdown["key"])) if not breakdown.empty else 0
    note = ("<p class='bench-legend'>Score = Σ weight × share of the best value in the column (1 for the best, best/value or value/best otherwise), "
            f"÷ Σ weights ({number(total)}), × 100. A column an engine was not measured on, or measured on an emulator, counts 0.</p>")
    return table + note


def _points(part: pd.DataFrame, name: str) -> str:
    if name not in part.index:
        return "–"
    row = part.loc[name]
    if row["note"] and not str(row["note"]).startswith("flagged"):
        return f"0 ({row['note'].split(',')[0].split(':')[0]})"
    flagged = " ⚑" if str(row["note"]).startswith("flagged") else ""
    return f"{row['points']:.1f} ({number(row['value'])} {row['unit']}){flagged}"


def set_aside_html(decision: Decision) -> str:
    if decision.set_aside.empty:
        return ""
    items = "".join(
        f"<li><strong>{html.escape(str(r.engine))}</strong>: {html.escape('; '.join(r.reasons))}</li>" for r in decision.set_aside.itertuples()
    )
    return f"<p><strong>Set aside</strong></p><ul>{items}</ul>"


def changes_html(decision: Decision) -> str:
    items = "".join(f"<li>{html.escape(line).replace('`make report`', '<code>make report</code>')}</li>" for line in decision.changes)
    return f"<p><strong>What would change this answer</strong></p><ul>{items}</ul>"


def verdict_html(decision: Decision) -> str:
    kind = "bench-verdict" + (" none" if decision.ranking.empty else "")
    return f"<div class='{kind}'><strong>{html.escape(decision.profile.title)}:</strong> {html.escape(decision.verdict)}</div>"


def decision_html(decision: Decision, *, heading: str = "h3") -> str:
    """One profile's whole decision: heading, verdict, requirements, checks, ranking, set aside, changes."""
    return (f"<{heading} id='{anchor(decision.profile)}'>{html.escape(decision.profile.title)}</{heading}>"
            + verdict_html(decision) + requirements_html(decision.profile) + "<p><strong>Requirement checks</strong></p>" + checks_html(decision)
            + "<p><strong>Ranking</strong></p>" + ranking_html(decision) + set_aside_html(decision) + changes_html(decision))


def sureness_html(decision: Decision) -> str:
    """How sure the choice is, in a few words: the share of resamples it comes first in, or its ties."""
    c = decision.confidence
    if decision.ranking.empty:
        return "–"
    if c is None:
        return "the only candidate"
    words = f"first in {c.share:.0%} of {c.resamples} resamples"
    if c.ties:
        return f"<span class='bench-tag warn'>tie</span> {html.escape(words)}; level with {html.escape(', '.join(t.engine for t in c.ties))}"
    return html.escape(words) + ("" if c.robust else " <span class='bench-tag warn'>not robust</span>")


def summary_html(decisions: list[Decision], links: Mapping[str, str] | None = None) -> str:
    """One row per profile: its verdict, the first engine, and the first thing that would change it."""
    links = links or {}
    rows = []
    for d in decisions:
        title = html.escape(d.profile.title)
        href = links.get(d.profile.key)
        if href:
            title = f"<a href='{html.escape(href, quote=True)}'>{title}</a>"
        hard = ", ".join(d.profile.requirements.describe(k) for k in d.profile.requirements.active()) or "none"
        first = html.escape(str(d.ranking["engine"].iloc[0])) if not d.ranking.empty else "<em>none qualifies</em>"
        rows.append(f"<tr><th>{title}<span class='sub'>hard: {html.escape(hard)}</span></th><td><strong>{first}</strong></td>"
                    f"<td>{sureness_html(d)}</td><td>{html.escape(d.verdict)}</td><td>{html.escape(d.changes[0]) if d.changes else ''}</td></tr>")
    head = "<tr><th>requirement profile</th><th>choice</th><th>how sure</th><th>verdict</th><th>what would change it</th></tr>"
    return f"<div class='bench-scroll'><table class='bench-table bench-verdicts'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
