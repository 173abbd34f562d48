"""The tables each workload's page shows, computed from records only."""
from __future__ import annotations

import math

import pandas as pd

from .results import Results, cached, merged_latency, point_summary

# -- contention --------------------------------------------------------------------------------------


@cached
def contention_points(results: Results) -> pd.DataFrame:
    """Per engine, writers and skew: throughput, conflict rate, retries, fairness (medians over
    repetitions, with CI and instability) and command latency percentiles from merged histograms."""
    frame = results.of("contention")
    by = ["writers", "skew"]
    table = point_summary(frame, "throughput", by).rename(columns={"median": "throughput", "ci_low": "throughput_ci_low", "ci_high": "throughput_ci_high"})
    table = table[["engine", "label", *by, "throughput", "throughput_ci_low", "throughput_ci_high", "unstable", "run_id"]]
    for metric in ("conflict_rate", "retries_per_success", "fairness_jain", "hot_stream_share"):
        part = point_summary(frame, metric, by)[["engine", *by, "median", "unstable"]]
        table = table.merge(part.rename(columns={"median": metric, "unstable": f"{metric}_unstable"}), on=["engine", *by], how="left")
    latency = merged_latency(frame, "command_latency", by)[["engine", *by, "p50", "p95", "p99", "p999", "max"]]
    table = table.merge(latency, on=["engine", *by], how="left")
    table["unstable"] = table["unstable"] | table["conflict_rate_unstable"].fillna(False).astype(bool)
    return table.drop(columns=[c for c in table.columns if c.endswith("_unstable")]).sort_values(["engine", "skew", "writers"]).reset_index(drop=True)


@cached
def contention_correctness(results: Results) -> pd.DataFrame:
    """Per engine, over every case: commands that succeeded and how many of them the store lost."""
    frame = results.of("contention")
    metrics = ["successful_commands", "lost_updates", "duplicate_events", "missing_events", "exhausted", "abandoned", "ambiguous_commands", "errors"]
    rows = frame[frame["metric"].isin(metrics)]
    if rows.empty:
        return pd.DataFrame(columns=["engine", "label", *metrics, "verdict", "run_id"])
    table = rows.pivot_table(index=["engine", "label"], columns="metric", values="value", aggfunc="sum").reindex(columns=metrics).reset_index()
    table["run_id"] = [",".join(sorted(set(rows[rows["engine"] == e]["run_id"]))) for e in table["engine"]]
    table["verdict"] = [
        "no lost update" if (lost == 0 and missing == 0 and dup == 0) else f"{int(lost)} lost updates, {int(missing)} missing, {int(dup)} duplicated events"
        for lost, missing, dup in zip(table["lost_updates"], table["missing_events"], table["duplicate_events"])
    ]
    return table


# -- snapshots ---------------------------------------------------------------------------------------


@cached
def snapshot_loads(results: Results) -> pd.DataFrame:
    """Per engine, stream length, snapshot interval (0 = none) and cache: load time percentiles (µs)
    from the merged histograms, and how many events each load replayed."""
    frame = results.of("snapshots")
    by = ["length", "snapshot_every", "cache"]
    table = merged_latency(frame, "load_time", by)
    replayed = point_summary(frame, "events_replayed", ["length", "snapshot_every"])[["engine", "length", "snapshot_every", "median"]]
    table = table.merge(replayed.rename(columns={"median": "events_replayed"}), on=["engine", "length", "snapshot_every"], how="left")
    return table.sort_values(["engine", "cache", "snapshot_every", "length"]).reset_index(drop=True)


@cached
def snapshot_write_cost(results: Results) -> pd.DataFrame:
    """Per engine and interval N: a plain append's time, a snapshot write's time and size, and the
    extra time and bytes per append that snapshotting every N events adds."""
    frame = results.of("snapshots")
    appends = merged_latency(frame, "append_time", [])[["engine", "label", "p50", "mean"]].rename(columns={"p50": "append_p50_us", "mean": "append_mean_us"})
    snaps = merged_latency(frame, "snapshot_write_time", ["state_bytes"])[["engine", "p50", "mean"]].rename(columns={"p50": "snapshot_write_p50_us", "mean": "snapshot_write_mean_us"})
    table = appends.merge(snaps, on="engine", how="left")
    size = point_summary(frame, "snapshot_bytes", [])[["engine", "median"]].rename(columns={"median": "snapshot_bytes"})
    table = table.merge(size, on="engine", how="left")
    per_n = None
    for metric in ("extra_time_per_append", "extra_bytes_per_append", "extra_time_share"):
        part = point_summary(frame, metric, ["snapshot_every"])[["engine", "snapshot_every", "median", "run_id"]].rename(columns={"median": metric})
        per_n = part if per_n is None else per_n.merge(part.drop(columns="run_id"), on=["engine", "snapshot_every"], how="outer")
    if per_n is None or per_n.empty:
        return table
    return per_n.merge(table, on="engine", how="left").sort_values(["engine", "snapshot_every"]).reset_index(drop=True)


@cached
def snapshot_break_even(results: Results, cache: str = "warm") -> pd.DataFrame:
    """Per engine and N: the shortest measured stream length at which loading from a snapshot
    (every N) is faster than replaying the whole stream (p50 of ``cache`` loads), and the speed-up
    at the longest length measured."""
    loads = snapshot_loads(results)
    loads = loads[loads["cache"] == cache]
    out = []
    for (engine, label), group in loads.groupby(["engine", "label"]):
        full = group[group["snapshot_every"] == 0].set_index("length")["p50"]
        for every, part in group[group["snapshot_every"] > 0].groupby("snapshot_every"):
            part = part.set_index("length")["p50"].sort_index()
            common = [n for n in part.index if n in full.index]
            faster = [n for n in common if part[n] < full[n]]
            longest = max(common) if common else None
            out.append({
                "engine": engine, "label": label, "snapshot_every": every,
                "break_even_length": min(faster) if faster else None,
                "longest_length": longest,
                "speedup_at_longest": full[longest] / part[longest] if longest else None,
                "run_id": ",".join(sorted(set(group["run_id"]))),
            })
    return pd.DataFrame(out, columns=["engine", "label", "snapshot_every", "break_even_length", "longest_length", "speedup_at_longest", "run_id"])


@cached
def snapshot_best_interval(results: Results, cache: str = "warm") -> pd.DataFrame:
    """Per engine and stream length: the snapshot interval N (0 = none) with the lowest cost per
    command in a load-decide-append loop, i.e. load time p50 plus the extra write time per append."""
    loads = snapshot_loads(results)
    loads = loads[loads["cache"] == cache]
    cost = snapshot_write_cost(results)
    extra = {(r.engine, r.snapshot_every): r.extra_time_per_append for r in cost.itertuples() if "extra_time_per_append" in cost.columns}
    out = []
    for (engine, label, length), group in loads.groupby(["engine", "label", "length"]):
        options = {int(r.snapshot_every): r.p50 + (extra.get((engine, r.snapshot_every), math.nan) if r.snapshot_every else 0.0) for r in group.itertuples()}
        options = {n: v for n, v in options.items() if not math.isnan(v)}
        if not options:
            continue
        best = min(options, key=options.get)
        out.append({"engine": engine, "label": label, "length": length, "best_snapshot_every": best, "cost_us": options[best],
                    "no_snapshot_cost_us": options.get(0), "run_id": ",".join(sorted(set(group["run_id"])))})
    return pd.DataFrame(out, columns=["engine", "label", "length", "best_snapshot_every", "cost_us", "no_snapshot_cost_us", "run_id"])


@cached
def snapshot_correctness(results: Results) -> pd.DataFrame:
    frame = results.metric("snapshots", "wrong_state")
    return frame.groupby(["engine", "label"], as_index=False)["value"].sum().rename(columns={"value": "loads_with_wrong_state"})


# -- resume ------------------------------------------------------------------------------------------


@cached
def resume_summary(results: Results) -> pd.DataFrame:
    """Per engine, summed over repetitions: events written, stored, missed and repeated, the
    largest repeat after one restart against its bound, and a verdict in words."""
    frame = results.of("resume")
    sums = ["events_written", "events_in_store", "events_handled", "missed_events", "repeated_events", "acknowledged_not_stored", "handled_not_in_store", "consumer_runs"]
    rows = frame[frame["metric"].isin(sums + ["max_repeats_per_restart"])]
    if rows.empty:
        return pd.DataFrame(columns=["engine", "label", *sums, "max_repeats_per_restart", "repeat_bound", "verdict", "run_id"])
    table = _strict_pivot(rows[rows["metric"].isin(sums)], ["engine", "label"]).reindex(columns=["engine", "label", *sums])
    worst = rows[rows["metric"] == "max_repeats_per_restart"].groupby("engine")["value"].max()
    bound = rows.groupby("engine")["checkpoint_every"].max()
    table["max_repeats_per_restart"] = table["engine"].map(worst)
    table["repeat_bound"] = table["engine"].map(bound)
    table["run_id"] = [",".join(sorted(set(rows[rows["engine"] == e]["run_id"]))) for e in table["engine"]]
    table["verdict"] = [_resume_verdict(r) for r in table.itertuples()]
    return table


def _strict_pivot(rows: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """One column per metric, summed over repetitions; a sum stays unknown (NaN) when any of its
    values is unknown, instead of counting it as 0."""
    sums = rows.groupby([*index, "metric"])["value"].apply(lambda values: values.sum(skipna=False))
    table = sums.unstack("metric").reset_index()
    table.columns.name = None
    return table


def _resume_verdict(row: object) -> str:
    missed, stored = getattr(row, "missed_events"), getattr(row, "events_in_store")
    if pd.isna(missed):
        words = "misses unknown: the final consumer did not catch up"
    else:
        words = "no event missed" if missed == 0 else f"missed {int(missed)} of {int(stored)} events ({missed / stored:.2%})"
    if getattr(row, "max_repeats_per_restart") > getattr(row, "repeat_bound"):
        words += "; repeats exceeded the checkpoint interval"
    lost_writes = getattr(row, "acknowledged_not_stored")
    if pd.notna(lost_writes) and lost_writes:
        words += f"; {int(lost_writes)} acknowledged appends not in the store"
    return words


@cached
def resume_per_run(results: Results) -> pd.DataFrame:
    """Per engine and consumer run (0 = first start; the last run is the final catch-up): missed and
    repeated events summed over repetitions, and median times in milliseconds from the store being
    open (``catch_up_ms``) and from the process start (``restart_ms``) to being caught up."""
    frame = results.of("resume")
    by = ["consumer_run", "run_kind"]
    rows = frame[frame["metric"].isin(["missed_per_run", "repeats_per_run"])]
    if rows.empty:
        return pd.DataFrame(columns=["engine", "label", *by, "missed_per_run", "repeats_per_run", "catch_up_ms"])
    table = _strict_pivot(rows, ["engine", "label", *by])
    for metric, column in (("catch_up_time", "catch_up_ms"), ("restart_to_caught_up", "restart_ms")):
        part = point_summary(frame, metric, by)[["engine", *by, "median"]]
        part[column] = part.pop("median") / 1000.0
        table = table.merge(part, on=["engine", *by], how="left")
    return table.sort_values(["engine", "consumer_run"]).reset_index(drop=True)


# -- calls -------------------------------------------------------------------------------------------


@cached
def calls_table(results: Results) -> pd.DataFrame:
    """Per engine, operation and loop: throughput (median, CI) and latency percentiles (merged)."""
    frame = results.of("calls")
    by = ["operation", "loop"]
    throughput = point_summary(frame, "throughput", by).rename(columns={"median": "calls_per_s", "ci_low": "calls_ci_low", "ci_high": "calls_ci_high"})
    throughput = throughput[["engine", "label", *by, "calls_per_s", "calls_ci_low", "calls_ci_high", "unstable", "run_id"]]
    events = point_summary(frame, "event_throughput", by)[["engine", *by, "median"]].rename(columns={"median": "events_per_s"})
    latency = merged_latency(frame, "latency", by)[["engine", *by, "count", "p50", "p95", "p99", "p999", "max"]]
    table = throughput.merge(events, on=["engine", *by], how="left").merge(latency, on=["engine", *by], how="left")
    return table.sort_values(["operation", "loop", "engine"]).reset_index(drop=True)


@cached
def live_delivery(results: Results) -> pd.DataFrame:
    """Per engine and loop: live events not delivered within the drain timeout, and deliveries that
    reached the handler before ``append`` returned."""
    frame = results.of("calls")
    rows = frame[frame["metric"].isin(["undelivered", "delivered_before_ack"])]
    if rows.empty:
        return pd.DataFrame(columns=["engine", "label", "loop", "undelivered", "delivered_before_ack"])
    return rows.pivot_table(index=["engine", "label", "loop"], columns="metric", values="value", aggfunc="sum").reset_index()
