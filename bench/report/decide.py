"""Which engine to choose for a set of requirements, reasoned from the records of a run.

A decision profile (``Profile``) has hard requirements (``Requirements``), a workload shape (the
default weights, ``SHAPES``) and weights over it. ``decide`` checks every engine against every
hard requirement, each check a pass, a fail or "not measured" with its evidence: an engine that
does not pass them all is set aside with the reasons; a missing measurement never counts as a
pass, a deliberately broken design (mode naive) is never a candidate, and an emulator's timings
never meet a latency requirement nor earn points. The others are ranked by a declared weighted
score: per matrix column, the engine's share of the best value (``matrix_html.ratios``), times the
column's weight; a column an engine was not measured on counts 0. Each decision says which
measurement would change it.

The profiles and their presets are in ``profiles``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.display.tables import number, short_reason
from bench.harness.columns import OperatingPoints
from bench.harness.results import Results
from bench.workloads.calls.columns import append_p99
from bench.workloads.faults.tables import faults_summary, own_setting

from .comparability import IN_PROCESS, SERVERLESS, engine_facts
from .confidence import Confidence, assess
from .matrix import matrix_cells
from .matrix_html import column_best, ratio
from .profiles import REQUIREMENTS, Profile, Requirements

PASS, FAIL, UNKNOWN = "pass", "fail", "not measured"


@dataclass
class Decision:
    """What ``decide`` found: every check, the engines set aside, the ranking and its breakdown."""

    profile: Profile
    checks: pd.DataFrame  # engine, name, requirement, status, evidence
    set_aside: pd.DataFrame  # engine, name, reasons
    ranking: pd.DataFrame  # rank, engine, name, score, flagged
    breakdown: pd.DataFrame  # engine, name, key, column, weight, value, unit, ratio, points, note
    verdict: str
    changes: list[str]
    smoke: bool = False
    #: The matrix cells the decision read (``matrix_cells`` of the engines considered).
    cells: pd.DataFrame | None = None
    #: How often the ranking's first comes first when its measurements are redrawn, and its ties.
    confidence: Confidence | None = None

    @property
    def winner(self) -> str | None:
        """The registry name of the engine ranked first, or None when no engine qualifies."""
        return None if self.ranking.empty else str(self.ranking["name"].iloc[0])


def decide(results: Results, profile: Profile | None = None, points: OperatingPoints | None = None, engines: list[str] | None = None) -> Decision:
    """Check, set aside and rank the engines of ``results`` for ``profile``.

    Parameters:
        results: the records (one run, or several).
        profile: requirements, shape and weights; the default profile when None.
        points: the matrix's operating points.
        engines: registry names to consider; None: every engine in the records.
    """
    profile = profile or Profile()
    facts = engine_facts(results)
    if engines is not None:
        facts = facts[facts["engine"].isin(engines)]
    cells = matrix_cells(results, points)
    cells = cells[cells["name"].isin(facts["engine"])]
    grid = _grid(cells)
    checks = _checks(results, profile.requirements, facts, grid)
    aside, candidates = [], []
    for row in facts.itertuples():
        mine = [c for c in checks if c["name"] == row.engine]
        reasons = []
        if row.naive:
            reasons.append("counter-example: a deliberately broken design (mode naive), never a candidate")
        if row.status != "measured":
            reasons.append(f"not measured: {row.reason}")
        reasons += [f"{REQUIREMENTS[c['requirement']][0]}: {c['status']}, {c['evidence']}" for c in mine if c["status"] != PASS]
        if reasons:
            aside.append({"engine": row.label, "name": row.engine, "reasons": reasons})
        else:
            candidates.append(row.engine)
    weights = profile.weight_map()
    breakdown = pd.DataFrame(_breakdown(grid, candidates, weights), columns=BREAKDOWN_COLUMNS)
    ranking = _ranking(breakdown, facts, candidates)
    set_aside = pd.DataFrame(aside, columns=["engine", "name", "reasons"])
    smoke = results.profile != "decision"
    labels = dict(zip(facts["engine"], facts["label"], strict=True))
    confidence = assess(grid, candidates, lambda g: _scores(_breakdown(g, candidates, weights)), labels) if len(candidates) > 1 else None
    decision = Decision(profile, pd.DataFrame(checks, columns=["engine", "name", "requirement", "status", "evidence"]), set_aside, ranking,
                        breakdown, "", [], smoke, cells, confidence)
    decision.verdict = _verdict(decision, emulated={str(e) for e in facts[facts["emulator"].eq(True)]["engine"]})
    decision.changes = _changes(decision, grid, facts)
    return decision


#: One matrix cell as the decision reads it: value (NaN when missing), better, tags, column, unit, reason, engine label.
Entry = dict[str, Any]
BREAKDOWN_COLUMNS = ["engine", "name", "key", "column", "weight", "value", "unit", "ratio", "share", "points", "note"]


def _grid(cells: pd.DataFrame) -> dict[tuple[str, str], Entry]:
    """(engine name, column key) -> its cell, in plain Python (the flip search recomputes scores often)."""
    grid = {}
    for r in cells.to_dict("records"):
        value = float(r["value"]) if pd.notna(r["value"]) else math.nan
        grid[(str(r["name"]), str(r["key"]))] = {
            "value": value, "better": r["better"], "tags": list(r["tags"]), "column": r["column"], "unit": r["unit"], "reason": r["reason"],
            "engine": r["engine"], "samples": dict(r["samples"]) if isinstance(r["samples"], dict) else {},
            "ci_low": float(r["ci_low"]) if pd.notna(r["ci_low"]) else math.nan, "ci_high": float(r["ci_high"]) if pd.notna(r["ci_high"]) else math.nan,
        }
    return grid


def _ratios(grid: dict[tuple[str, str], Entry], key: str) -> dict[str, float]:
    """Engine name -> ratio to the column's best (``matrix_html`` rules), for the engines with a value."""
    column = {name: e for (name, k), e in grid.items() if k == key}
    if not column:
        return {}
    higher = next(iter(column.values()))["better"] == "higher"
    best = column_best([(e["value"], e["tags"]) for e in column.values()], higher)
    if best is None:
        return {}
    return {name: ratio(e["value"], best, higher) for name, e in column.items() if e["value"] == e["value"]}


def _count(value: Any) -> str:
    return number(value)


def _checks(results: Results, wanted: Requirements, facts: pd.DataFrame, grid: dict[tuple[str, str], Entry]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    faults = _faults(results)
    p99 = append_p99(wanted.at_events_per_s)
    for row in facts.to_dict("records"):
        caps = row["capabilities"] if isinstance(row["capabilities"], dict) else None
        for key in wanted.active():
            if row["status"] != "measured" or caps is None:
                status, evidence = UNKNOWN, f"engine not measured: {short_reason(row['reason'])}"
            elif key == "concurrency":
                status, evidence = _declared_and_zero(caps, "optimistic_concurrency", grid.get((row["engine"], "lost_updates")), "lost updates")
            elif key == "gap_safe":
                status, evidence = _declared_and_zero(caps, "gap_safe_global_order", grid.get((row["engine"], "missed_on_resume")), "events missed on resume")
            elif key == "crash_safe":
                status, evidence = _crash_safe(row, faults)
            elif key == "serverless":
                status, evidence = _serverless(row)
            elif key == "shared":
                status, evidence = _shared(row)
            elif key == "capabilities":
                missing = [c for c in wanted.capabilities if caps.get(c) is not True]
                status = PASS if not missing else FAIL
                evidence = "declares " + ", ".join(wanted.capabilities) if not missing else "does not declare " + ", ".join(missing)
            else:
                status, evidence = _latency(row, p99.cell(results, row["engine"]), p99.shown_unit, wanted)
            out.append({"engine": row["label"], "name": row["engine"], "requirement": key, "status": status, "evidence": evidence})
    return out


def _declared_and_zero(caps: dict[str, Any], capability: str, cell: dict[str, Any] | None, what: str) -> tuple[str, str]:
    words = capability.replace("_", " ")
    if caps.get(capability) is not True:
        return FAIL, f"does not declare {words}"
    if cell is None or cell["value"] != cell["value"]:
        return UNKNOWN, f"declares {words}, but {what} were not measured ({cell['reason'] if cell else 'no column'})"
    if cell["value"] == 0:
        return PASS, f"declares {words}; 0 {what} measured"
    emulated = " (on an emulator)" if "emulator" in cell["tags"] else ""
    return FAIL, f"declares {words}, yet {_count(cell['value'])} {what} measured{emulated}"


def _faults(results: Results) -> pd.DataFrame | str:
    """The crash test's summary per engine, or why there is none."""
    try:
        table = faults_summary(results)
    except Exception as exc:  # a summary that cannot be read leaves the requirement unmeasured, with the reason
        return f"the crash test's summary could not be read ({type(exc).__name__}: {exc})"
    if not isinstance(table, pd.DataFrame) or "engine" not in table.columns or "lost" not in table.columns:
        return "the crash test's summary has no lost appends per engine"
    return table


def _crash_safe(row: dict[str, Any], faults: pd.DataFrame | str) -> tuple[str, str]:
    """Judged on the row's own configuration only: the setting the engine's row is measured under
    (its first declared one; ``defaults`` for an engine that declares none). A row measured under a
    non-durable setting fails: it is never a candidate for a durability requirement, whatever
    another setting of its engine kept. Otherwise power loss decides where it was measured under
    that setting (pass: no acknowledged append lost over at least one power cut), and process
    crashes where it was not, which the evidence then says."""
    setting = own_setting(row["engine"])
    if row["emulator"] is True:
        return UNKNOWN, "an emulator's crash says nothing about the service"
    if not setting.durable or row["durable"] is False:
        what = setting.label if not setting.durable else str(row["durability"])
        return FAIL, f"measured under a non-durable setting ({what}): never a candidate for a durability requirement"
    if isinstance(faults, str):
        return UNKNOWN, faults
    part = faults[(faults["engine"] == row["engine"]) & (faults["setting"] == setting.label)]
    on_mount = part["power_loss"].eq(True) if "power_loss" in part.columns else pd.Series(False, index=part.index)
    power, process = part[on_mount], part[~on_mount]
    mine = f"under its own setting ({setting.label})"
    cut = power[power["power_cuts"].fillna(0) > 0] if "power_cuts" in power.columns else power.iloc[0:0]
    if not cut.empty:
        cuts = f"{_count(cut['power_cuts'].sum())} power cuts"
        if cut["unrecovered"].fillna(0).sum() > 0:
            return FAIL, f"did not come back after one of {cuts} {mine}: {cut['verdict'].iloc[0]}"
        lost = cut["lost"].sum(min_count=1)
        if pd.isna(lost):
            return UNKNOWN, f"the power-loss test could not count its losses {mine}"
        if lost > 0:
            return FAIL, f"{_count(lost)} acknowledged appends lost over {cuts} {mine}"
        dropped = cut["unsynced_bytes_per_cut"].median() if "unsynced_bytes_per_cut" in cut.columns else math.nan
        unsynced = f"; a cut dropped {_count(dropped)} unsynced bytes (median)" if pd.notna(dropped) else ""
        return PASS, f"0 acknowledged appends lost over {cuts} {mine}{unsynced}"
    why = "; ".join(str(w).removeprefix("not measured: ") for w in power.get("not_measured", pd.Series(dtype=str)).dropna().unique()) or "not run"
    crashed = process[process["crashes"].fillna(0) > 0] if "crashes" in process.columns else process
    if crashed.empty:
        reason = "; ".join(str(w) for w in process.get("not_measured", pd.Series(dtype=str)).dropna().unique()) or "not run"
        return UNKNOWN, f"neither power cuts nor crashes {mine}: power loss not measured here ({why}); crashes: {reason}"
    lost = crashed["lost"].sum(min_count=1)
    crashes = f"{_count(crashed['crashes'].sum())} process crashes" if "crashes" in crashed.columns else "the crash test"
    if pd.isna(lost):
        return UNKNOWN, f"power loss not measured here: {why}; the crash test could not count its losses"
    if lost > 0:
        return FAIL, f"{_count(lost)} acknowledged appends lost in {crashes} {mine}"
    return PASS, (f"power loss not measured here: {why}; judged on {crashes}: 0 acknowledged appends lost {mine} "
                  "(a process crash cannot show what a power failure loses)")


def _serverless(row: dict[str, Any]) -> tuple[str, str]:
    if row["process_kind"] == SERVERLESS:
        return PASS, str(row["process"]) + (" (the product is; measured on an emulator)" if row["emulator"] is True else "")
    if row["process_kind"] is None:
        return UNKNOWN, "the engine did not state how it runs"
    return FAIL, f"runs as {row['process']}"


def _shared(row: dict[str, Any]) -> tuple[str, str]:
    if row["process_kind"] is None:
        return UNKNOWN, "the engine did not state how it runs"
    if row["process_kind"] == IN_PROCESS:
        return FAIL, f"{row['process']}: only processes on one machine can share it"
    return PASS, str(row["process"])


def _latency(row: dict[str, Any], cell: Any, unit: str, wanted: Requirements) -> tuple[str, str]:
    if row["emulator"] is True:
        return UNKNOWN, "an emulator's latency says nothing about the service"
    if cell.value is None or (isinstance(cell.value, float) and math.isnan(cell.value)):
        return UNKNOWN, str(cell.reason)
    ms = cell.value * {"s": 1000.0, "ms": 1.0, "us": 1e-3}[unit]
    flags = [w for w, on in (("unstable", cell.unstable), ("n = 1", cell.n == 1), ("client-bound", cell.client_bound)) if on]
    flagged = f" ({', '.join(flags)})" if flags else ""
    if ms <= wanted.max_append_p99_ms:
        return PASS, f"p99 {number(ms)} ms{flagged}"
    return FAIL, f"p99 {number(ms)} ms{flagged}, over {wanted.max_append_p99_ms:g} ms"


def _breakdown(grid: dict[tuple[str, str], Entry], candidates: list[str], weights: dict[str, float]) -> list[dict[str, Any]]:
    keys = {k for _, k in grid}
    total = sum(w for k, w in weights.items() if k in keys) or 1.0
    shares = {key: _ratios(grid, key) for key in weights}
    rows = []
    for name in candidates:
        for key, weight in weights.items():
            cell = grid.get((name, key))
            if cell is None:
                continue
            found = shares[key].get(name, math.nan)
            if cell["value"] != cell["value"]:
                share, note = 0.0, f"not measured, counts 0: {cell['reason']}"
            elif "emulator" in cell["tags"]:
                share, note = 0.0, "an emulator's timing, counts 0"
            else:
                share = 0.0 if math.isinf(found) else min(1.0, 1.0 / found)
                flags = [t for t in cell["tags"] if t in ("unstable", "n1", "client_bound")]
                note = ("flagged: " + ", ".join(f.replace("n1", "n = 1").replace("_", "-") for f in flags)) if flags else ""
            rows.append({
                "engine": cell["engine"], "name": name, "key": key, "column": cell["column"], "weight": weight, "value": cell["value"], "unit": cell["unit"],
                "ratio": found, "share": share, "points": 100.0 * weight * share / total, "note": note,
            })
    return rows


def _ranking(breakdown: pd.DataFrame, facts: pd.DataFrame, candidates: list[str]) -> pd.DataFrame:
    labels = dict(zip(facts["engine"], facts["label"], strict=True))
    rows = []
    for name in candidates:
        part = breakdown[breakdown["name"] == name]
        rows.append({"engine": labels[name], "name": name, "score": float(part["points"].sum()) if not part.empty else 0.0,
                     "flagged": int(part["note"].str.startswith(("flagged", "not measured", "an emulator")).sum()) if not part.empty else 0})
    frame = pd.DataFrame(rows, columns=["engine", "name", "score", "flagged"]).sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame


def _verdict(decision: Decision, emulated: set[str]) -> str:
    ranking = decision.ranking
    tail = " This is a smoke-sized run: its numbers prove the pipeline, not a choice." if decision.smoke else ""
    if ranking.empty:
        if decision.set_aside.empty:
            return "No engine was measured, so there is nothing to choose from." + tail
        return "No engine meets every requirement. " + _why_none(decision) + tail
    first = ranking.iloc[0]
    if len(ranking) == 1:
        if first["name"] in emulated:  # whatever else its cells say (some not measured), its timings earn nothing
            return (f"{first['engine']} is the only engine that meets every requirement; its timings come from an emulator and earn no "
                    f"points (score {first['score']:.0f} of 100): measure the service itself before relying on its speed." + tail)
        return f"{first['engine']} is the only engine that meets every requirement (score {first['score']:.0f} of 100)." + tail
    second = ranking.iloc[1]
    confidence = decision.confidence
    if confidence is not None and confidence.ties:
        tied = ", ".join(f"{t.engine} (at least level in {t.ahead:.0%})" for t in confidence.ties)
        return (f"{first['engine']} ties with {tied}: it comes first in only {confidence.share:.0%} of {confidence.resamples} resamples of "
                f"the measurements (scores {first['score']:.0f} and {second['score']:.0f} of 100), so they do not separate them." + tail)
    sure = f" It comes first in {confidence.share:.0%} of {confidence.resamples} resamples of the measurements." if confidence is not None else ""
    if confidence is not None and not confidence.robust:
        sure = f" Not robust: it comes first in only {confidence.share:.0%} of {confidence.resamples} resamples of the measurements."
    return f"{first['engine']} ranks first with {first['score']:.0f} of 100; {second['engine']} follows with {second['score']:.0f}.{sure}" + tail


def _why_none(decision: Decision) -> str:
    """Which requirement each engine failed or was not measured on, grouped by requirement."""
    parts = []
    for status, words in ((FAIL, "Failed"), (UNKNOWN, "Not measured")):
        found = decision.checks[decision.checks["status"] == status]
        groups = [f"{decision.profile.requirements.describe(k)} ({', '.join(g['engine'])})" for k, g in found.groupby("requirement", sort=False)]
        if groups:
            parts.append(f"{words}: {'; '.join(groups)}.")
    naive = [str(r.engine) for r in decision.set_aside.itertuples() if any(x.startswith("counter-example") for x in r.reasons)]
    if naive:
        parts.append(f"Counter-examples, never candidates: {', '.join(naive)}.")
    return " ".join(parts)


def _scores(rows: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for row in rows:
        out[row["name"]] = out.get(row["name"], 0.0) + row["points"]
    return out


def _settle(decision: Decision, them: str = "them") -> str:
    """What would firm up flagged numbers: a decision-grade run after a smoke run; after a decision run
    (which already measured each point until its CI or its budget), more time for their workloads."""
    if decision.smoke:
        return f"a decision-grade run (`make report`) would settle {them}"
    return (f"this decision run's budgets ran out before {them} converged; more repetitions (a larger `budget_s` "
            f"for those workloads, or a quieter machine) would narrow {them}")


def _changes(decision: Decision, grid: dict[tuple[str, str], Entry], facts: pd.DataFrame) -> list[str]:
    """Which measurement would change the decision, in sentences."""
    out = []
    labels = dict(zip(facts["engine"], facts["label"], strict=True))
    emulated = {str(e) for e in facts[facts["emulator"].eq(True)]["engine"]}
    for row in decision.set_aside.itertuples():
        if any(r.startswith("counter-example") for r in row.reasons):
            continue
        mine = decision.checks[(decision.checks["name"] == row.name) & (decision.checks["status"] != PASS)]
        if not mine.empty and (mine["status"] == UNKNOWN).all():
            if mine["evidence"].str.startswith("engine not measured").all():  # one reason, not one per requirement
                out.append(f"{row.engine} was set aside only because it was not measured ({mine['evidence'].iloc[0].removeprefix('engine not measured: ')}); measuring it could admit it.")
            else:
                needed = "; ".join(f"{REQUIREMENTS[r.requirement][0]} ({r.evidence})" for r in mine.itertuples())
                out.append(f"{row.engine} was set aside only for want of a measurement: measuring {needed} could admit it.")
        elif row.name in emulated and not mine.empty:
            out.append(f"{row.engine} was set aside on an emulator's results; a run against the service itself could change that.")
    ranking = decision.ranking
    if decision.confidence is not None:
        out += [f"What would separate {labels[str(ranking['name'].iloc[0])]} and {t.engine}: {t.separate}." for t in decision.confidence.ties]
    if len(ranking) >= 2:
        out += _flips(decision, grid, str(ranking["name"].iloc[0]), str(ranking["name"].iloc[1]), labels)
        firsts = decision.breakdown[decision.breakdown["name"].isin(ranking["name"].iloc[:2])]
        flagged = firsts[firsts["note"].str.startswith("flagged")]
        if not flagged.empty:
            kinds = sorted({k for note in flagged["note"] for k in note.removeprefix("flagged: ").split(", ")})
            out.append(f"The order of the first two rests on {len(flagged)} of their {len(firsts)} weighted numbers flagged {', '.join(kinds)} "
                       f"(⚑ in the ranking): {_settle(decision)}.")
    weights = decision.profile.weight_map()
    ranked = set(ranking["name"])
    unmeasured = [k for k in weights if any(key == k for _, key in grid)
                  and not any(e["value"] == e["value"] for (n, key), e in grid.items() if key == k and n in ranked)]
    if unmeasured and not ranking.empty:
        names = sorted({str(e["column"]) for (_, key), e in grid.items() if key in unmeasured})
        out.append(f"No candidate was measured on {', '.join(names)}: weighted, yet it separates nobody; running its workload could reorder the ranking.")
    checks = decision.checks
    failing = {str(n): set(g["requirement"]) for n, g in checks[checks["status"] != PASS].groupby("name")}
    near = checks[(checks["requirement"] == "append_p99") & checks["evidence"].str.contains("unstable|client-bound|n = 1")]
    for r in near.itertuples():
        if failing.get(str(r.name), set()) <= {"append_p99"}:  # it decides this engine's fate
            out.append(f"{r.engine}'s append p99 is flagged ({r.evidence}): whether it meets the limit is open: {_settle(decision, 'it')}.")
    if ranking.empty:
        for key in decision.profile.requirements.active():
            admitted = [labels[n] for n, keys in failing.items() if keys == {key} and n not in _counter_examples(decision)]
            if admitted:
                out.append(f"Dropping \"{decision.profile.requirements.describe(key)}\" would admit {', '.join(admitted)}.")
    return out or ["No single measurement in these records would change this answer."]


def _counter_examples(decision: Decision) -> set[str]:
    return {str(r.name) for r in decision.set_aside.itertuples() if any(x.startswith("counter-example") for x in r.reasons)}


def _flips(decision: Decision, grid: dict[tuple[str, str], Entry], leader: str, runner_up: str, labels: dict[str, str]) -> list[str]:
    """The smallest single change to the runner-up's numbers that would put it first."""
    weights = decision.profile.weight_map()
    for factor in (1.05, 1.1, 1.2, 1.35, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 20.0):
        for key, weight in weights.items():
            mine = grid.get((runner_up, key))
            if mine is None or weight <= 0 or mine["value"] != mine["value"] or "emulator" in mine["tags"]:
                continue
            new = mine["value"] * (factor if mine["better"] == "higher" else 1 / factor)
            trial = {**grid, (runner_up, key): {**mine, "value": new}}
            scores = _scores(_breakdown(trial, [leader, runner_up], weights))
            if scores.get(runner_up, 0) > scores.get(leader, 0):
                return [f"{labels[runner_up]} would rank first if its {mine['column']} were ×{factor:g} better "
                        f"({number(mine['value'])} → {number(new)} {mine['unit']})."]
    return [f"No single column of {labels[runner_up]} within ×20 of its measured value would put it ahead of {labels[leader]}."]
