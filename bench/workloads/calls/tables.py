"""The calls page's tables, from records only."""
from __future__ import annotations

import pandas as pd

from bench.harness.results import Results, cached, merged_latency, point_summary
from bench.harness.tables import load_generator_columns

from .workload import Calls


@cached
def calls_table(results: Results) -> pd.DataFrame:
    """Per engine, operation and loop: throughput (median, CI), latency percentiles (merged), and the
    load generator's columns (``LOAD_GENERATOR_COLUMNS``: ceiling, client-bound, windows, cause)."""
    frame = results.of(Calls.name)
    by = Calls.by("operation", "loop")
    throughput = point_summary(frame, "throughput", by).rename(columns={"median": "calls_per_s", "ci_low": "calls_ci_low", "ci_high": "calls_ci_high"})
    throughput = throughput[["engine", "label", *by, "calls_per_s", "calls_ci_low", "calls_ci_high", "unstable", "run_id"]]
    events = point_summary(frame, "event_throughput", by)[["engine", *by, "median"]].rename(columns={"median": "events_per_s"})
    latency = merged_latency(frame, "latency", by)[["engine", *by, "count", "p50", "p95", "p99", "p999", "max"]]
    table = throughput.merge(events, on=["engine", *by], how="left").merge(latency, on=["engine", *by], how="left")
    table = load_generator_columns(table, frame, by, "calls_per_s")
    return table.sort_values(["operation", "loop", "engine"]).reset_index(drop=True)


@cached
def live_delivery(results: Results) -> pd.DataFrame:
    """Per engine and loop: live events not delivered within the drain timeout, and deliveries that
    reached the handler before ``append`` returned."""
    frame = results.of(Calls.name)
    rows = frame[frame["metric"].isin(["undelivered", "delivered_before_ack"])]
    if rows.empty:
        return pd.DataFrame(columns=["engine", "label", "loop", "undelivered", "delivered_before_ack"])
    return rows.pivot_table(index=["engine", "label", "loop"], columns="metric", values="value", aggfunc="sum").reset_index()
