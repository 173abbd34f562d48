"""The comparison matrix and the decision guide, computed from records and capabilities records.

Every matrix cell is looked up by a ``Source`` (workload, metric, selection, statistic); the
provenance table lists, for each cell, that source and the run id of the records it came from,
so any number can be traced back to the run that produced it.
"""
from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import summaries
from .results import Results, engine_status


@dataclass(frozen=True)
class Source:
    """Where a matrix column comes from, in words and as a function of the summary tables."""

    column: str
    workload: str
    description: str
    pick: Callable[[Results, str], tuple[Any, str | None]]  # (value, run id) for one engine


def _first(frame: pd.DataFrame, column: str) -> tuple[Any, str | None]:
    if frame.empty or column not in frame.columns or pd.isna(frame[column].iloc[0]):
        return None, None
    return frame[column].iloc[0], str(frame["run_id"].iloc[0])


def _contention_peak(results: Results, engine: str) -> tuple[Any, str | None]:
    table = summaries.contention_points(results)
    table = table[table["engine"] == engine].sort_values("throughput", ascending=False)
    return _first(table, "throughput")


def _contention_hot(column: str, scale: float = 1.0) -> Callable[[Results, str], tuple[Any, str | None]]:
    def pick(results: Results, engine: str) -> tuple[Any, str | None]:
        table = summaries.contention_points(results)
        table = table[table["engine"] == engine]
        if table.empty:
            return None, None
        hot = table[(table["skew"] == table["skew"].max()) & (table["writers"] == table["writers"].max())]
        value, run = _first(hot, column)
        return (value * scale if value is not None else None), run

    return pick


def _sum_of(table_fn: Callable[[Results], pd.DataFrame], column: str) -> Callable[[Results, str], tuple[Any, str | None]]:
    def pick(results: Results, engine: str) -> tuple[Any, str | None]:
        table = table_fn(results)
        return _first(table[table["engine"] == engine], column)

    return pick


def _snapshot_speedup(length: int, every: int) -> Callable[[Results, str], tuple[Any, str | None]]:
    def pick(results: Results, engine: str) -> tuple[Any, str | None]:
        loads = summaries.snapshot_loads(results)
        loads = loads[(loads["engine"] == engine) & (loads["cache"] == "warm") & (loads["length"] == length)]
        full, snap = loads[loads["snapshot_every"] == 0], loads[loads["snapshot_every"] == every]
        if full.empty or snap.empty:
            return None, None
        return float(full["p50"].iloc[0] / snap["p50"].iloc[0]), str(full["run_id"].iloc[0])

    return pick


def _call(operation: str, column: str, scale: float = 1.0) -> Callable[[Results, str], tuple[Any, str | None]]:
    def pick(results: Results, engine: str) -> tuple[Any, str | None]:
        table = summaries.calls_table(results)
        row = table[(table["engine"] == engine) & (table["operation"] == operation) & (table["loop"] == "closed")]
        value, run = _first(row, column)
        return (value * scale if value is not None else None), run

    return pick


def reference_length(results: Results, interval: int) -> int | None:
    """The longest stream length at which the most engines measured both a full replay and snapshot every ``interval``."""
    loads = summaries.snapshot_loads(results)
    loads = loads[(loads["cache"] == "warm") & loads["snapshot_every"].isin([0, interval])]
    both = loads.groupby(["engine", "length"])["snapshot_every"].nunique()
    counts = both[both == 2].reset_index().groupby("length")["engine"].nunique()
    if counts.empty:
        return None
    return int(max(counts[counts == counts.max()].index))


def sources(results: Results, reference_length: int | None = None, reference_interval: int = 100) -> list[Source]:
    """The matrix columns. ``reference_length`` (None: see ``reference_length()``) and
    ``reference_interval`` pick the snapshot comparison point."""
    if not reference_length:
        reference_length = globals()["reference_length"](results, reference_interval) or 0
    return [
        Source("peak commands/s", "contention", "contention: highest median throughput over writers x skew", _contention_peak),
        Source("hot-stream commands/s", "contention", "contention: median throughput at the most writers and highest skew", _contention_hot("throughput")),
        Source("hot-stream p99 ms", "contention", "contention: command latency p99 incl. retries (merged histograms), most writers, highest skew", _contention_hot("p99", 1e-3)),
        Source("lost updates", "contention", "contention: lost updates summed over every case (must be 0)", _sum_of(summaries.contention_correctness, "lost_updates")),
        Source("missed on resume", "resume", "resume: events in the store the consumer never handled, all repetitions (must be 0)", _sum_of(summaries.resume_summary, "missed_events")),
        Source("max repeats/restart", "resume", "resume: largest number of events handled again after one restart", _sum_of(summaries.resume_summary, "max_repeats_per_restart")),
        Source(f"snapshot speed-up @{reference_length}", "snapshots", f"snapshots: warm load p50 without snapshots / with snapshot every {reference_interval}, stream of {reference_length} events", _snapshot_speedup(reference_length, reference_interval)),
        Source("append p50 ms", "calls", "calls: append of one event, closed loop, p50 (merged histograms)", _call("append_single", "p50", 1e-3)),
        Source("batch events/s", "calls", "calls: append_batch, closed loop, events per second", _call("append_batch", "events_per_s")),
        Source("read_stream p50 ms", "calls", "calls: read_stream of the test stream, closed loop, p50", _call("read_stream", "p50", 1e-3)),
        Source("live delivery p50 ms", "calls", "calls: commit-to-handler latency, closed loop, p50", _call("live_delivery", "p50", 1e-3)),
    ]


def engines_of(results: Results) -> pd.DataFrame:
    """One row per engine: label, product and version, emulator flag, and the latest capabilities."""
    if results.engines.empty:
        return pd.DataFrame(columns=["engine", "label", "product", "engine_version", "emulator", "capabilities"])
    frame = results.engines.sort_values("recorded_at")
    measured = frame[frame["status"] == "measured"].drop_duplicates("engine", keep="last")
    rest = frame[~frame["engine"].isin(measured["engine"])].drop_duplicates("engine", keep="last")
    out = pd.concat([measured, rest]).reindex(columns=["engine", "label", "product", "engine_version", "emulator", "capabilities"])
    order = {name: n for n, name in enumerate(dict.fromkeys(frame["engine"]))}
    return out.sort_values("engine", key=lambda s: s.map(order)).reset_index(drop=True)


def comparison_matrix(results: Results, **options: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matrix, provenance). Matrix: one row per engine, one column per ``Source``; a cell the run did
    not measure says why. Provenance: one row per cell with its source and run id."""
    status = engine_status(results)
    engines = engines_of(results)
    matrix, provenance = [], []
    for row in engines.itertuples():
        cells: dict[str, Any] = {"engine": row.label}
        for source in sources(results, **options):
            value, run = source.pick(results, row.engine)
            if value is None:
                why = status[(status["engine"] == row.engine) & (status["workload"] == source.workload)]
                if why.empty:
                    value = "workload not run"
                elif why["status"].iloc[-1] != "measured":
                    value = f"not measured: {why['reason'].iloc[-1]}"
                else:
                    value = "no data (see page)"
                run = why["run_id"].iloc[-1] if not why.empty else None
            cells[source.column] = value
            provenance.append({"engine": row.label, "column": source.column, "value": value, "source": source.description, "run_id": run})
        matrix.append(cells)
    return pd.DataFrame(matrix), pd.DataFrame(provenance)


CAPABILITY_NAMES = (
    "optimistic_concurrency", "idempotent_append", "atomic_batch", "global_order", "gap_safe_global_order",
    "indexed_category_reads", "push_notifications", "transactional_checkpoints", "snapshots",
    "max_batch_events", "max_batch_bytes", "max_event_bytes",
)


def capabilities_matrix(results: Results) -> pd.DataFrame:
    """Engine x declared capability, from the capabilities records the engines reported."""
    rows = []
    for row in engines_of(results).itertuples():
        caps = row.capabilities if isinstance(row.capabilities, dict) else {}
        rows.append({"engine": row.label, **{name: caps.get(name, "n/a") for name in CAPABILITY_NAMES}})
    return pd.DataFrame(rows)


def limitations(results: Results) -> dict[str, list[str]]:
    """Engine label -> its declared limitations in plain words (or why it was not measured)."""
    out: dict[str, list[str]] = {}
    status = engine_status(results)
    for row in engines_of(results).itertuples():
        caps = row.capabilities if isinstance(row.capabilities, dict) else None
        if caps is None:
            reasons = status[status["engine"] == row.engine]["reason"].dropna().unique()
            out[row.label] = [f"Not measured: {r}" for r in reasons] or ["Not measured."]
        else:
            words = list(caps.get("limitations") or [])
            if row.emulator is True:
                words.append(f"Measured on {row.product}, an emulator: its timings say nothing about the real service's speed.")
            out[row.label] = words or ["No limitations declared."]
    return out


def decision_guide(results: Results, **options: Any) -> pd.DataFrame:
    """Questions an architect asks, each answered from this run's numbers and capabilities."""
    matrix, _ = comparison_matrix(results, **options)
    declared = {r.label: (r.capabilities if isinstance(r.capabilities, dict) else {}) for r in engines_of(results).itertuples()}

    def has(engine: str, capability: str) -> bool:
        return declared.get(engine, {}).get(capability) is True

    def numeric(column: str) -> dict[str, float]:
        values = matrix[["engine", column]].itertuples(index=False) if column in matrix.columns else []
        return {e: float(v) for e, v in values if isinstance(v, (int, float)) and not math.isnan(float(v))}

    rows = []
    missed = numeric("missed on resume")
    safe = sorted(e for e, v in missed.items() if v == 0 and has(e, "gap_safe_global_order"))
    lossy = {e: v for e, v in missed.items() if v > 0}
    rows.append(_advice(
        "Subscribers (projections, integrations) must never miss an event",
        f"Use {_list(safe)}." if safe else "No measured engine both declares and showed gap-safe delivery.",
        f"missed on resume = 0 and gap_safe_global_order declared; losses measured: {_pairs(lossy) or 'none'}",
    ))

    lost = numeric("lost updates")
    hot = numeric("hot-stream commands/s")
    correct = sorted((e for e, v in lost.items() if v == 0 and e in hot and missed.get(e, 0) == 0), key=lambda e: -hot[e])
    rows.append(_advice(
        "Many writers contend on the same aggregates",
        f"Prefer {_list(correct[:2])} (highest hot-stream throughput among engines that lost no update and missed no event)." if correct else "No measured engine kept every update and every event.",
        "hot-stream commands/s: " + _pairs({e: hot[e] for e in correct}, "{:.0f}") + ("; lost updates: " + _pairs({e: v for e, v in lost.items() if v}) if any(lost.values()) else ""),
    ))

    column = next((c for c in matrix.columns if c.startswith("snapshot speed-up")), None)
    speed = numeric(column) if column else {}
    rows.append(_advice(
        "Aggregates grow long (thousands of events)",
        "Snapshots pay off on " + _list(sorted(e for e, v in speed.items() if v > 1)) + "; see the snapshot page for the break-even length per N." if speed else "No snapshot data.",
        f"{column}: " + _pairs(speed, "{:.1f}x") if speed else "",
    ))

    append = numeric("append p50 ms")
    fastest = sorted(append, key=append.get)
    rows.append(_advice(
        "Lowest write latency for single commands",
        f"{fastest[0]} had the lowest append p50." if fastest else "No append data.",
        "append p50 ms: " + _pairs({e: append[e] for e in fastest}, "{:.2f}"),
    ))

    live = numeric("live delivery p50 ms")
    push = [e for e in live if has(e, "push_notifications")]
    rows.append(_advice(
        "Read models must update within milliseconds",
        f"Engines that push new events: {_list(sorted(push, key=live.get))}." if push else "No engine with push notifications was measured.",
        "live delivery p50 ms: " + _pairs(live, "{:.1f}"),
    ))

    emulated = [r.label for r in engines_of(results).itertuples() if r.emulator is True]
    if emulated:
        from .checks import problems

        broken = [p for p in problems(results, include_errors=False) if any(p.split(" (run")[0].endswith("/" + e.split(" [")[0]) for e in emulated)]
        rows.append(_advice(
            "Reading the emulator rows",
            f"{_list(emulated)}: the timings are the emulator's, not the real service's; use the cost model for the service.",
            "; ".join(broken) if broken else "no correctness rule broken on the emulator in this run",
        ))
    status = engine_status(results)
    missing = status[status["status"] != "measured"]
    for engine, group in missing.groupby("engine"):
        rows.append(_advice(f"{engine} is missing from some pages", f"Not measured for {', '.join(sorted(group['workload']))}.", "; ".join(sorted(set(group['reason'].dropna())))))
    return pd.DataFrame(rows)


def _advice(question: str, answer: str, evidence: str) -> dict[str, str]:
    return {"question": question, "answer": answer, "evidence (this run)": evidence}


def _list(items: list[str]) -> str:
    return ", ".join(items) if items else "none"


def _pairs(values: dict[str, Any], fmt: str = "{:g}") -> str:
    return ", ".join(f"{k} {fmt.format(v)}" for k, v in values.items())


def dynamodb_cost(results: Results) -> pd.DataFrame | None:
    """The DynamoDB cost model (``bench.dynamodb_cost``, the DynamoDB engineer's) priced for the
    event size this run appended: capacity units and on-demand dollars per million events.

    None when the run has no DynamoDB records or the model is not importable. The model counts
    what DynamoDB would bill; the emulator's timings on the other pages say nothing about that.
    """
    if "dynamodb" not in set(results.engines.get("engine", [])):
        return None
    try:
        model = importlib.import_module("bench.dynamodb_cost")
    except ImportError:
        return None
    sizes = results.metric("snapshots", "event_bytes")
    measured = sizes[sizes["engine"] == "dynamodb"]["value"]
    data_bytes = max(2, int(measured.median())) if not measured.empty else model.Workload().data_bytes
    workload = model.Workload(data_bytes=data_bytes)
    prices = model.OnDemandPrices()
    rows = [
        {"per million events": name, "write units": cost.write_units, "read units": cost.read_units, "requests": cost.requests, "USD (on-demand)": cost.dollars(prices)}
        for name, cost in model.per_million_events(workload).items()
    ]
    table = pd.DataFrame(rows)
    table.attrs["notes"] = [
        f"event data {data_bytes} bytes ({'as appended in this run' if not measured.empty else 'model default'}), one event per append",
        f"stored bytes per event: {model.stored_bytes_per_event(workload):,.0f}; one feed partition admits at most {model.feed_ceiling_appends_per_s(workload):,.0f} appends/s",
        f"prices: {prices.region} {prices.table_class}, {prices.source}, as of {prices.as_of}",
    ]
    return table
