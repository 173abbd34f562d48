"""The tables each workload's page shows, computed from records only."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from . import loadgen
from .results import Results, cached, merged_histograms, merged_latency, point_summary

# -- contention --------------------------------------------------------------------------------------


@cached
def contention_points(results: Results) -> pd.DataFrame:
    """Per engine, writers and skew: throughput, conflict rate, retries, fairness (medians over
    repetitions, with CI and instability), command latency percentiles from merged histograms, and
    the load generator's columns (``LOAD_GENERATOR_COLUMNS``: ceiling, client-bound, windows, cause)."""
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
    table = table.drop(columns=[c for c in table.columns if c.endswith("_unstable")])
    table = _load_generator_columns(table, frame, by, "throughput")
    return table.sort_values(["engine", "skew", "writers"]).reset_index(drop=True)


#: The columns ``_load_generator_columns`` adds to a throughput table.
LOAD_GENERATOR_COLUMNS = ["ceiling_throughput", "client_bound", "client", "min_window_s", "min_completions", "cause"]


def _load_generator_columns(table: pd.DataFrame, frame: pd.DataFrame, by: list[str], throughput: str) -> pd.DataFrame:
    """What the load generator says about each point of a throughput table: the harness's own
    ``ceiling_throughput`` (median over the repetitions that measured it), ``client_bound`` (the
    median throughput reached ``loadgen.CLIENT_BOUND_SHARE`` of it; NA without a ceiling), whether
    the ``client`` ran as processes or threads, the shortest window and the fewest completions of
    any repetition (``min_window_s``, ``min_completions``: is every window long enough?), and the
    ``cause`` the records give for a zero, or for a repetition that measured nothing (skipped,
    failed); a point whose repetitions were all cut still shows its row when one of them measured."""
    keys = ["engine", *by]
    ceiling = point_summary(frame, "ceiling_throughput", by)[[*keys, "median"]].rename(columns={"median": "ceiling_throughput"})
    table = table.merge(ceiling, on=keys, how="left")
    table["client_bound"] = pd.array([loadgen.client_bound(t, c) for t, c in zip(table[throughput], table["ceiling_throughput"], strict=True)], dtype="boolean")
    for metric, column in (("window_s", "min_window_s"), ("completions", "min_completions")):
        rows = frame[frame["metric"] == metric]
        part = rows.groupby(keys, dropna=False)["value"].min().rename(column).reset_index() if not rows.empty else pd.DataFrame(columns=[*keys, column])
        table = table.merge(part, on=keys, how="left")
    measured = frame[frame["metric"] == "throughput"]
    table["client"] = _per_point(measured, keys, "client", table)
    # a zero says why in its throughput note; a repetition that measured nothing, in its skip or error
    gaps = frame[frame["metric"].isin(["skipped", "error"])]
    if not gaps.empty and not measured.empty:
        done = set(measured.set_index([*keys, "repetition"]).index)
        gaps = gaps[[key not in done for key in gaps.set_index([*keys, "repetition"]).index]]
    noted = pd.concat([measured, gaps])
    table["cause"] = _per_point(noted[noted["note"].notna()], keys, "note", table) if "note" in noted.columns else [None] * len(table)
    return _with_empty_points(table, gaps, keys)


def _with_empty_points(table: pd.DataFrame, gaps: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``table`` plus a row for each point that measured nothing at all (every repetition skipped or
    failed), with its cause, so that an empty point shows as one and never silently disappears."""
    if gaps.empty or any(k not in gaps.columns for k in keys):
        return table
    have = set(table[keys].itertuples(index=False, name=None))
    rows = []
    for key, group in gaps.groupby(keys, dropna=False):
        if key in have:
            continue
        notes = "; ".join(dict.fromkeys(str(n) for n in group["note"].dropna()))
        rows.append({
            **dict(zip(keys, key, strict=True)), "label": group["label"].iloc[0], "unstable": False,
            "run_id": ",".join(sorted(set(group["run_id"]))), "cause": notes or None,
        })
    if not rows:
        return table
    out = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    out["client_bound"] = out["client_bound"].astype("boolean")
    return out


def _per_point(rows: pd.DataFrame, keys: list[str], column: str, table: pd.DataFrame) -> list[str | None]:
    """For each row of ``table``: the distinct values of ``column`` among ``rows`` of its point, joined."""
    if rows.empty or column not in rows.columns or any(k not in rows.columns for k in keys):
        return [None] * len(table)
    values = rows.dropna(subset=[column]).groupby(keys, dropna=False)[column].agg(lambda v: "; ".join(dict.fromkeys(str(x) for x in v)))
    lookup = dict(zip(values.index, values, strict=True))
    return [lookup.get(tuple(row) if len(keys) > 1 else row[0]) for row in table[keys].itertuples(index=False)]


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
        for lost, missing, dup in zip(table["lost_updates"], table["missing_events"], table["duplicate_events"], strict=True)
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
        best = min(options, key=lambda n: options[n])
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
    """Per engine, operation and loop: throughput (median, CI), latency percentiles (merged), and the
    load generator's columns (``LOAD_GENERATOR_COLUMNS``: ceiling, client-bound, windows, cause)."""
    frame = results.of("calls")
    by = ["operation", "loop"]
    throughput = point_summary(frame, "throughput", by).rename(columns={"median": "calls_per_s", "ci_low": "calls_ci_low", "ci_high": "calls_ci_high"})
    throughput = throughput[["engine", "label", *by, "calls_per_s", "calls_ci_low", "calls_ci_high", "unstable", "run_id"]]
    events = point_summary(frame, "event_throughput", by)[["engine", *by, "median"]].rename(columns={"median": "events_per_s"})
    latency = merged_latency(frame, "latency", by)[["engine", *by, "count", "p50", "p95", "p99", "p999", "max"]]
    table = throughput.merge(events, on=["engine", *by], how="left").merge(latency, on=["engine", *by], how="left")
    table = _load_generator_columns(table, frame, by, "calls_per_s")
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


# -- faults ------------------------------------------------------------------------------------------

#: The counts ``faults_summary`` sums over repetitions, as the workload records them.
_FAULT_COUNTS = (
    "crashes", "cuts", "appends_acknowledged", "lost", "lost_nondurable", "duplicated", "ambiguous", "ambiguous_original",
    "ambiguous_written", "ambiguous_unresolved", "unanswered_stored", "missed", "missed_nondurable", "seen_twice", "handled_not_stored",
)
_FAULT_COLUMNS = [
    "engine", "label", "setting", "durable", "crashes", "cuts", "appends_acknowledged", "lost", "duplicated", "ambiguous",
    "ambiguous_resolved", "ambiguous_original", "ambiguous_written", "ambiguous_unresolved", "unanswered_stored", "missed",
    "seen_twice", "handled_not_stored", "write_outage_p50_ms", "write_outage_max_ms", "catch_up_p50_ms", "catch_up_max_ms",
    "not_measured", "verdict", "run_id",
]


@cached
def faults_summary(results: Results) -> pd.DataFrame:
    """One row per engine and setting, summed over repetitions: faults injected (``crashes``, ``cuts``),
    acknowledged appends ``lost`` afterwards, appends ``duplicated``, ``ambiguous`` outcomes and how
    they resolved (``ambiguous_resolved`` = original result returned + written once by the retry),
    events the subscriber ``missed`` or saw twice, median and worst recovery times, what could not be
    measured and why (``not_measured``), and a ``verdict`` in words. ``durable`` False marks a setting
    traded for speed; a setting the store did not apply is a row whose verdict says so."""
    frame = results.of("faults")
    rows = frame[frame["metric"].isin(_FAULT_COUNTS)]
    skipped = frame[frame["metric"] == "skipped"]
    if rows.empty and skipped.empty:
        return pd.DataFrame(columns=_FAULT_COLUMNS)
    keys = ["engine", "label", "setting", "durable"]
    table = _strict_pivot(rows, keys) if not rows.empty else pd.DataFrame(columns=keys)
    table = table.reindex(columns=[*keys, *_FAULT_COUNTS])
    for metric in ("lost", "missed"):  # a setting records one of the pair, by its durability
        table[metric] = table[metric].combine_first(table.pop(f"{metric}_nondurable"))
    table["ambiguous_resolved"] = table["ambiguous_original"] + table["ambiguous_written"]
    for metric, column in (("write_outage", "write_outage"), ("subscriber_catch_up", "catch_up")):
        spread = frame[frame["metric"] == metric].groupby(keys)["value"].agg(["median", "max"]) / 1000.0
        spread.columns = [f"{column}_p50_ms", f"{column}_max_ms"]
        table = table.merge(spread.reset_index(), on=keys, how="left")
    reasons: dict[tuple[Any, ...], set[str]] = {}
    why = frame[frame["metric"].isin(["crashes", "cuts"]) & (frame["value"] == 0) & frame["note"].fillna("").str.startswith("not measured")]
    for r in why.itertuples():
        reasons.setdefault((r.engine, r.label, r.setting, r.durable), set()).add(f"{r.metric}: {r.note.removeprefix('not measured: ')}")
    table["not_measured"] = ["; ".join(sorted(reasons[k])) if k in reasons else None for k in table[keys].itertuples(index=False, name=None)]
    if not skipped.empty:
        gone = skipped.drop_duplicates(keys)[keys + ["note"]].rename(columns={"note": "not_measured"})
        gone = gone[~gone.set_index(keys).index.isin(table.set_index(keys).index)]
        table = pd.concat([table, gone], ignore_index=True)
    table["run_id"] = [",".join(sorted(set(frame[(frame["engine"] == e) & (frame["setting"] == s)]["run_id"]))) for e, s in zip(table["engine"], table["setting"], strict=True)]
    table["verdict"] = [_faults_verdict(r) for r in table.itertuples()]
    return table.reindex(columns=_FAULT_COLUMNS).sort_values(["engine", "durable", "setting"], ascending=[True, False, True]).reset_index(drop=True)


def _faults_verdict(row: Any) -> str:
    if pd.isna(row.crashes):
        return str(row.not_measured or "not measured")
    faults = f"{int(row.crashes)} crash{'' if row.crashes == 1 else 'es'}, {int(row.cuts)} cut{'' if row.cuts == 1 else 's'}"
    if row.crashes + row.cuts == 0:
        return f"not measured: no fault could be injected ({row.not_measured})"
    problems = []
    if row.lost > 0:
        problems.append(f"lost {int(row.lost)} acknowledged appends")
    if row.duplicated > 0:
        problems.append(f"stored {int(row.duplicated)} appends twice")
    if row.ambiguous_unresolved > 0:
        problems.append(f"{int(row.ambiguous_unresolved)} of {int(row.ambiguous)} ambiguous appends unresolved")
    if pd.isna(row.missed):
        problems.append("subscriber misses unknown")
    elif row.missed > 0:
        problems.append(f"subscriber missed {int(row.missed)} events")
    if problems:
        words = "; ".join(problems)
    else:
        resolved = f"{int(row.ambiguous_resolved)}/{int(row.ambiguous)} ambiguous appends resolved by their retry" if row.ambiguous else "no append left ambiguous"
        words = f"nothing lost or duplicated, {resolved}, subscriber missed none"
    prefix = "" if row.durable else "non-durable setting: "
    untested = "; crashes not measured" if row.crashes == 0 else "; cuts not measured" if row.cuts == 0 else ""
    return f"{prefix}{words} ({faults}{untested})"


@cached
def faults_recovery(results: Results) -> pd.DataFrame:
    """Per engine, setting and fault kind: how many faults, and the distribution (ms) of the time
    without a successful append, of the subscriber's catch-up and, for crashes, of the restart."""
    frame = results.of("faults")
    metrics = {"write_outage": "outage", "subscriber_catch_up": "catch_up", "restart_time": "restart"}
    rows = frame[frame["metric"].isin(list(metrics))]
    columns = ["engine", "label", "setting", "durable", "fault", "faults"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    keys = ["engine", "label", "setting", "durable", "fault"]
    out = rows[rows["metric"] == "write_outage"].groupby(keys).size().rename("faults").reset_index()
    for metric, short in metrics.items():
        values = rows[rows["metric"] == metric].groupby(keys)["value"]
        spread = values.quantile(0.5).rename(f"{short}_p50_ms").to_frame()
        spread[f"{short}_p95_ms"] = values.quantile(0.95)
        spread[f"{short}_max_ms"] = values.max()
        out = out.merge(spread.reset_index(), on=keys, how="left")
    for column in [c for c in out.columns if c.endswith("_ms")]:
        out[column] = out[column] / 1000.0
    return out.sort_values(keys).reset_index(drop=True)


# -- for figures: per point, the median over repetitions with its bootstrap CI -------------------------


@cached
def snapshot_load_points(results: Results) -> pd.DataFrame:
    """Per engine, stream length, snapshot interval (0 = none) and cache: the median over
    repetitions of each repetition's load time p50 (µs), with its bootstrap 95 % CI."""
    return point_summary(results.of("snapshots"), "load_time_p50", ["length", "snapshot_every", "cache"])


@cached
def snapshot_cost_points(results: Results) -> pd.DataFrame:
    """Per engine and snapshot interval N: the extra time per append as a share of a plain append,
    median over repetitions with its bootstrap 95 % CI."""
    return point_summary(results.of("snapshots"), "extra_time_share", ["snapshot_every"])


@cached
def resume_catch_up_points(results: Results) -> pd.DataFrame:
    """Per engine and consumer run: median time (µs) from store open (``catch_up_time``) and from
    process start (``restart_to_caught_up``) to caught up, with bootstrap 95 % CIs (``metric`` says which)."""
    frame = results.of("resume")
    parts = [point_summary(frame, metric, ["consumer_run"]) for metric in ("catch_up_time", "restart_to_caught_up")]
    return pd.concat([p for p in parts if not p.empty], ignore_index=True) if any(not p.empty for p in parts) else parts[0]


# -- for the contention and calls figures: percentile curves, metric points, Pareto fronts ------------

#: Where a percentile curve is read: 1/(1-p) spaced evenly on a log scale from p = 0 to p = 99.999 %.
_NINES_GRID = [1.0 - 10 ** (-k / 16) for k in range(0, 5 * 16 + 1)]


@cached
def latency_percentile_curves(results: Results, workload: str, prefix: str, by: tuple[str, ...]) -> pd.DataFrame:
    """Per engine and point (``by``): latency (µs) at percentiles from 0 to 99.999 %, read from the
    merge of every repetition's ``<prefix>_histogram`` (never from averaged percentiles). A curve
    stops where its samples stop resolving the percentile: with n samples, at 1 - 1/n; ``count``
    is n. ``percentile`` is a fraction (0.99 for p99)."""
    columns = ["engine", "label", *by, "count", "percentile", "latency_us"]
    rows = []
    for key, histogram in merged_histograms(results.of(workload), prefix, list(by)).items():
        count = histogram.get_total_count()
        if not count:
            continue
        resolved = 1.0 - 1.0 / count
        grid = [p for p in _NINES_GRID if p < resolved] + [resolved]
        for p in grid:
            rows.append([*key, count, p, float(histogram.get_value_at_percentile(p * 100))])
    return pd.DataFrame(rows, columns=columns)


@cached
def contention_metric_points(results: Results, metric: str) -> pd.DataFrame:
    """Per engine, writers and skew: the median over repetitions of ``metric`` (conflict rate,
    retries per success, ...) with its bootstrap 95 % CI and instability flag."""
    return point_summary(results.of("contention"), metric, ["writers", "skew"])


def pareto_optimal(frame: pd.DataFrame, x: str, y: str, by: str = "label") -> pd.Series:
    """Per group ``by``: True where no other point of the group has at least the ``x`` (a
    throughput: higher is better) and at most the ``y`` (a latency: lower is better), one strictly;
    False for dominated points and for points without both values."""
    optimal = pd.Series(False, index=frame.index)
    for _, group in frame.groupby(by, sort=False):
        points = group[[x, y]].astype(float).dropna()
        for index, (gx, gy) in points.iterrows():
            better = (points[x] >= gx) & (points[y] <= gy) & ((points[x] > gx) | (points[y] < gy))
            optimal[index] = not better.any()
    return optimal
