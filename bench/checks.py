"""Correctness checks over a run's records: what CI asserts and ``python -m bench check`` prints.

A check applies to an engine according to what the engine declares in its capabilities record:
an engine that declares gap-safe global order must miss no event on resume; one that declares
optimistic concurrency must lose no update under contention. What an engine does not declare is
measured and shown, not failed.
"""
from __future__ import annotations

import pandas as pd

from .results import Results, engine_status

#: (workload, metric, capability the rule depends on or None for every engine, what it means)
RULES: tuple[tuple[str, str, str | None, str], ...] = (
    ("contention", "lost_updates", "optimistic_concurrency", "lost updates under contention"),
    ("contention", "missing_events", "optimistic_concurrency", "acknowledged commands whose events are missing"),
    ("contention", "duplicate_events", "optimistic_concurrency", "events stored more often than commands succeeded"),
    ("resume", "missed_events", "gap_safe_global_order", "events a resumed subscriber never handled"),
    ("resume", "acknowledged_not_stored", None, "acknowledged appends missing from the store"),
    ("resume", "handled_not_in_store", None, "handled events that are not in the store"),
    ("snapshots", "wrong_state", None, "loads that returned a wrong state"),
)


def _capabilities(results: Results) -> dict[tuple[str, str], dict]:
    frame = results.engines
    if frame.empty or "capabilities" not in frame.columns:
        return {}
    return {(r.engine, r.run_id): r.capabilities for r in frame.itertuples() if isinstance(r.capabilities, dict)}


def problems(results: Results, *, include_errors: bool = True, include_emulators: bool = True) -> list[str]:
    """Every violated correctness rule (and, with ``include_errors``, every failed case), in words.

    ``include_emulators=False`` leaves out engines measured on an emulator: what they break says
    something about the emulator (moto, for one, is not safe under concurrent requests), which the
    pages show labelled as such, but it must not fail CI for the adapter.
    """
    found: list[str] = []
    caps = _capabilities(results)
    m = results.measurements
    if not include_emulators and not m.empty:
        m = m[m["emulator"] != True]  # noqa: E712 (a column of bools)
    for workload, metric, capability, meaning in RULES:
        rows = m[(m["workload"] == workload) & (m["metric"] == metric)] if not m.empty else m
        for (engine, run_id), group in rows.groupby(["engine", "run_id"]):
            declared = caps.get((engine, run_id), {})
            if capability is not None and declared.get(capability) is not True:
                continue
            bad = group[group["value"].fillna(0) > 0]
            if not bad.empty:
                found.append(f"{workload}/{engine} (run {run_id}): {int(bad['value'].sum())} {meaning} ({metric})")
            unknown = group[group["value"].isna()]
            if not unknown.empty:
                found.append(f"{workload}/{engine} (run {run_id}): {metric} could not be verified in {len(unknown)} repetition(s): {unknown['note'].dropna().iloc[0] if unknown['note'].notna().any() else 'no value'}")
    if not m.empty:
        bounded = m[(m["metric"] == "repeats_within_bound") & (m["value"] == 0)]
        for (engine, run_id), group in bounded.groupby(["engine", "run_id"]):
            found.append(f"resume/{engine} (run {run_id}): repeats after a restart exceeded the checkpoint interval in {len(group)} repetition(s)")
    if include_errors and not m.empty:
        for (workload, engine, run_id), group in m[m["metric"] == "error"].groupby(["workload", "engine", "run_id"]):
            found.append(f"{workload}/{engine} (run {run_id}): {len(group)} failed case(s), first: {group['note'].iloc[0]}")
    return found


def coverage(results: Results) -> pd.DataFrame:
    """Engine x workload status, for a quick look at what a run measured."""
    status = engine_status(results)
    if status.empty:
        return status
    return status.pivot_table(index="engine", columns="workload", values="status", aggfunc="last")
