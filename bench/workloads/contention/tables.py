"""The contention page's tables, from records only."""
from __future__ import annotations

import pandas as pd

from bench.harness.results import Results, cached, merged_latency, point_summary
from bench.harness.tables import load_generator_columns

from .workload import Contention


@cached
def contention_points(results: Results) -> pd.DataFrame:
    """Per engine, writers and skew: throughput, conflict rate, retries, fairness (medians over
    repetitions, with CI and instability), command latency percentiles from merged histograms, and
    the load generator's columns (``LOAD_GENERATOR_COLUMNS``: ceiling, client-bound, windows, cause)."""
    frame = results.of(Contention.name)
    by = Contention.by("writers", "skew")
    table = point_summary(frame, "throughput", by).rename(columns={"median": "throughput", "ci_low": "throughput_ci_low", "ci_high": "throughput_ci_high"})
    table = table[["engine", "label", *by, "throughput", "throughput_ci_low", "throughput_ci_high", "unstable", "run_id"]]
    for metric in ("conflict_rate", "retries_per_success", "fairness_jain", "hot_stream_share"):
        part = point_summary(frame, metric, by)[["engine", *by, "median", "unstable"]]
        table = table.merge(part.rename(columns={"median": metric, "unstable": f"{metric}_unstable"}), on=["engine", *by], how="left")
    latency = merged_latency(frame, "command_latency", by)[["engine", *by, "p50", "p95", "p99", "p999", "max"]]
    table = table.merge(latency, on=["engine", *by], how="left")
    table["unstable"] = table["unstable"] | table["conflict_rate_unstable"].fillna(False).astype(bool)
    table = table.drop(columns=[c for c in table.columns if c.endswith("_unstable")])
    table = load_generator_columns(table, frame, by, "throughput")
    return table.sort_values(["engine", "skew", "writers"]).reset_index(drop=True)


@cached
def contention_correctness(results: Results) -> pd.DataFrame:
    """Per engine, over every case: commands that succeeded and how many of them the store lost."""
    frame = results.of(Contention.name)
    metrics = ["successful_commands", "lost_updates", "duplicate_events", "missing_events", "exhausted", "abandoned", "ambiguous_commands", "errors"]
    rows = frame[frame["metric"].isin(metrics)]
    if rows.empty:
        return pd.DataFrame(columns=["engine", "label", *metrics, "verdict", "run_id"])
    table = rows.pivot_table(index=["engine", "label"], columns="metric", values="value", aggfunc="sum").reindex(columns=metrics).reset_index()
    table["run_id"] = [",".join(sorted(set(rows[rows["engine"] == e]["run_id"]))) for e in table["engine"]]
    table["verdict"] = [
        "no lost update" if (lost == 0 and missing == 0 and dup == 0) else f"{int(lost)} lost updates, {int(missing)} missing, {int(dup)} duplicated events"
        for lost, missing, dup in zip(table["lost_updates"], table["missing_events"], table["duplicate_events"], strict=True)
    ]
    return table


@cached
def contention_metric_points(results: Results, metric: str) -> pd.DataFrame:
    """Per engine, writers and skew: the median over repetitions of ``metric`` (conflict rate,
    retries per success, ...) with its bootstrap 95 % CI and instability flag."""
    return point_summary(results.of(Contention.name), metric, Contention.by("writers", "skew"))
