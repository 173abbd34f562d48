"""The resume page's tables, from records only: missed and repeated events, per consumer run."""
from __future__ import annotations

from typing import Any

import pandas as pd

from bench.harness.results import Results, cached, point_summary
from bench.harness.tables import strict_pivot

from .workload import Resume


@cached
def resume_summary(results: Results) -> pd.DataFrame:
    """Per engine, summed over repetitions: events written, stored, missed and repeated, the
    largest repeat after one restart against its bound, and a verdict in words."""
    frame = results.of(Resume.name)
    sums = ["events_written", "events_in_store", "events_handled", "missed_events", "repeated_events", "acknowledged_not_stored", "handled_not_in_store", "consumer_runs"]
    rows = frame[frame["metric"].isin(sums + ["max_repeats_per_restart"])]
    if rows.empty:
        return pd.DataFrame(columns=["engine", "label", *sums, "max_repeats_per_restart", "repeat_bound", "verdict", "run_id"])
    table = strict_pivot(rows[rows["metric"].isin(sums)], ["engine", "label"]).reindex(columns=["engine", "label", *sums])
    worst = rows[rows["metric"] == "max_repeats_per_restart"].groupby("engine")["value"].max()
    bound = rows.groupby("engine")["checkpoint_every"].max()
    table["max_repeats_per_restart"] = table["engine"].map(worst)
    table["repeat_bound"] = table["engine"].map(bound)
    table["run_id"] = [",".join(sorted(set(rows[rows["engine"] == e]["run_id"]))) for e in table["engine"]]
    table["verdict"] = [_resume_verdict(r) for r in table.itertuples()]
    return table


def _resume_verdict(row: Any) -> str:
    missed, stored = row.missed_events, row.events_in_store
    if pd.isna(missed):
        words = "misses unknown: the final consumer did not catch up"
    else:
        words = "no event missed" if missed == 0 else f"missed {int(missed)} of {int(stored)} events ({missed / stored:.2%})"
    if row.max_repeats_per_restart > row.repeat_bound:
        words += "; repeats exceeded the checkpoint interval"
    lost_writes = row.acknowledged_not_stored
    if pd.notna(lost_writes) and lost_writes:
        words += f"; {int(lost_writes)} acknowledged appends not in the store"
    return words


@cached
def resume_per_run(results: Results) -> pd.DataFrame:
    """Per engine and consumer run (0 = first start; the last run is the final catch-up): missed and
    repeated events summed over repetitions, and median times in milliseconds from the store being
    open (``catch_up_ms``) and from the process start (``restart_ms``) to being caught up."""
    frame = results.of(Resume.name)
    by = Resume.by("consumer_run", "run_kind")
    rows = frame[frame["metric"].isin(["missed_per_run", "repeats_per_run"])]
    if rows.empty:
        return pd.DataFrame(columns=["engine", "label", *by, "missed_per_run", "repeats_per_run", "catch_up_ms"])
    table = strict_pivot(rows, ["engine", "label", *by])
    for metric, column in (("catch_up_time", "catch_up_ms"), ("restart_to_caught_up", "restart_ms")):
        part = point_summary(frame, metric, by)[["engine", *by, "median"]]
        part[column] = part.pop("median") / 1000.0
        table = table.merge(part, on=["engine", *by], how="left")
    return table.sort_values(["engine", "consumer_run"]).reset_index(drop=True)


@cached
def resume_catch_up_points(results: Results) -> pd.DataFrame:
    """Per engine and consumer run: median time (µs) from store open (``catch_up_time``) and from
    process start (``restart_to_caught_up``) to caught up, with bootstrap 95 % CIs (``metric`` says which)."""
    frame = results.of(Resume.name)
    parts = [point_summary(frame, metric, Resume.by("consumer_run")) for metric in ("catch_up_time", "restart_to_caught_up")]
    return pd.concat([p for p in parts if not p.empty], ignore_index=True) if any(not p.empty for p in parts) else parts[0]
