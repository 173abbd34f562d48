"""The snapshots page's tables, from records only: load times, write cost, break-even lengths."""
from __future__ import annotations

import math

import pandas as pd

from bench.harness import stats
from bench.harness.results import Results, cached, merged_latency, point_summary

from .workload import Snapshots


@cached
def snapshot_loads(results: Results) -> pd.DataFrame:
    """Per engine, stream length, snapshot interval (0 = none) and cache: load time percentiles (µs)
    from the merged histograms, and how many events each load replayed."""
    frame = results.of(Snapshots.name)
    by = Snapshots.by("length", "snapshot_every", "cache")
    table = merged_latency(frame, "load_time", by)
    replayed = point_summary(frame, "events_replayed", ["length", "snapshot_every"])[["engine", "length", "snapshot_every", "median"]]
    table = table.merge(replayed.rename(columns={"median": "events_replayed"}), on=["engine", "length", "snapshot_every"], how="left")
    return table.sort_values(["engine", "cache", "snapshot_every", "length"]).reset_index(drop=True)


@cached
def snapshot_write_cost(results: Results) -> pd.DataFrame:
    """Per engine and interval N: a plain append's time, a snapshot write's time and size, and the
    extra time and bytes per append that snapshotting every N events adds."""
    frame = results.of(Snapshots.name)
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
        best = min(options, key=lambda n: options[n])
        out.append({"engine": engine, "label": label, "length": length, "best_snapshot_every": best, "cost_us": options[best],
                    "no_snapshot_cost_us": options.get(0), "run_id": ",".join(sorted(set(group["run_id"])))})
    return pd.DataFrame(out, columns=["engine", "label", "length", "best_snapshot_every", "cost_us", "no_snapshot_cost_us", "run_id"])


@cached
def snapshot_correctness(results: Results) -> pd.DataFrame:
    frame = results.metric("snapshots", "wrong_state")
    return frame.groupby(["engine", "label"], as_index=False)["value"].sum().rename(columns={"value": "loads_with_wrong_state"})


@cached
def snapshot_load_points(results: Results) -> pd.DataFrame:
    """Per engine, stream length, snapshot interval (0 = none) and cache: the median over
    repetitions of each repetition's load time p50 (µs), with its bootstrap 95 % CI."""
    return point_summary(results.of(Snapshots.name), "load_time_p50", Snapshots.by("length", "snapshot_every", "cache"))


@cached
def snapshot_cost_points(results: Results) -> pd.DataFrame:
    """Per engine and snapshot interval N: the extra time per append as a share of a plain append,
    median over repetitions with its bootstrap 95 % CI."""
    return point_summary(results.of(Snapshots.name), "extra_time_share", Snapshots.by("snapshot_every"))


@cached
def snapshot_speedups(results: Results) -> pd.DataFrame:
    """Per engine, stream length, interval N and cache: the speed-up a snapshot buys (load time without
    over with, the ratio of paired loads' medians) with its 95 % CI over the pairs, how many pairs,
    whether the CI is within ±5 %, and why a point stopped short of it (its note)."""
    frame = results.of(Snapshots.name)
    by = Snapshots.by("length", "snapshot_every", "cache")
    columns = ["engine", "label", *by, "speedup", "ci_low", "ci_high", "pairs", "decision_grade", "why", "run_id"]
    rows = frame[frame["metric"].isin(["load_speedup", "load_speedup_ci_low", "load_speedup_ci_high", "load_pairs"])]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    keys = ["engine", "label", *by]
    table = rows.pivot_table(index=keys, columns="metric", values="value", aggfunc="median").reset_index()
    notes = rows[rows["metric"] == "load_speedup"].groupby(keys)["note"].agg(lambda v: "; ".join(dict.fromkeys(str(x) for x in v.dropna())) or None)
    table = table.merge(notes.rename("why").reset_index(), on=keys, how="left")
    runs = rows.groupby(keys)["run_id"].agg(lambda v: ",".join(sorted(set(v))))
    table = table.merge(runs.reset_index(), on=keys, how="left")
    table = table.rename(columns={"load_speedup": "speedup", "load_speedup_ci_low": "ci_low", "load_speedup_ci_high": "ci_high", "load_pairs": "pairs"})
    half = (table["ci_high"] - table["speedup"]).combine(table["speedup"] - table["ci_low"], max) / table["speedup"]
    table["decision_grade"] = ["yes" if h <= stats.CI_TARGET else "no" for h in half]
    return table.reindex(columns=columns).sort_values(["engine", "cache", "snapshot_every", "length"]).reset_index(drop=True)
