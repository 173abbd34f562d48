"""The comparison matrix, computed from records and capabilities records (the decision: ``bench.decide``).

Every matrix column is a ``Source``: a statistic of a metric its workload declares (whose unit and
better direction the column takes) at one operating point chosen in advance and named in the
column's header (``OperatingPoints``), never at whatever point an engine happened to reach. Each
cell is a ``Cell``: the value with its 95 % CI and instability flag, or the reason it is missing
("not measured at this point", and why). The provenance table lists every cell with its source and
the run id of its records, so any number can be traced back to the run that produced it.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from . import stats, summaries
from .comparability import TAGS, cell_tags, engine_facts, engines_of
from .pages import short_reason
from .results import Results, cached, engine_status, merged_latency, notes, point_summary
from .workloads import Metric
from .workloads import workload as workload_type

#: How a unit is shown in the matrix: microseconds as milliseconds.
DISPLAY_UNITS: dict[str, tuple[str, float]] = {"us": ("ms", 1e-3)}
#: A point at or above this share of the harness's own ceiling measured the client, not the engine.
CLIENT_BOUND = 0.8


@dataclass(frozen=True)
class OperatingPoints:
    """Where the matrix compares engines, chosen before the run (the overview notebook's parameters)."""

    writers: int = 4
    hot_writers: int = 16
    hot_skew: float = 3.0
    stream_length: int = 10_000
    snapshot_every: int = 100

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> OperatingPoints:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class Cell:
    """One matrix cell: a value in the metric's unit with its 95 % CI, or the reason there is none."""

    value: float | None
    run_id: str | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    unstable: bool = False
    client_bound: bool = False
    reason: str | None = None

    def scaled(self, factor: float) -> Cell:
        def times(x: float | None) -> float | None:
            return None if x is None else x * factor

        return Cell(times(self.value), self.run_id, times(self.ci_low), times(self.ci_high), self.n, self.unstable, self.client_bound, self.reason)

    @property
    def ci_relative(self) -> float | None:
        if self.value is None or self.ci_low is None or self.ci_high is None or not self.value:
            return None
        return max(self.ci_high - self.value, self.value - self.ci_low) / abs(self.value)


Pick = Callable[[Results, str, Metric], Cell]  # (results, engine, metric) -> cell in the metric's unit


@dataclass(frozen=True)
class Source:
    """One matrix column: a statistic of a metric its workload declares, at an operating point in words.

    ``unit`` and ``better`` are the metric's unless the column derives another quantity from it
    (a ratio); the column's header is its label with the unit as shown.
    """

    label: str
    workload: str
    metric_name: str
    description: str
    pick: Pick
    unit: str | None = None
    better: str | None = None
    #: A short stable name for the column (what a decision profile weighs), independent of its point.
    key: str = ""

    def __post_init__(self) -> None:
        workload_type(self.workload).metric(self.metric_name)  # an undeclared metric fails here, not on a page

    @property
    def metric(self) -> Metric:
        return workload_type(self.workload).metric(self.metric_name)

    @property
    def shown_unit(self) -> str:
        unit = self.unit or self.metric.unit
        return DISPLAY_UNITS.get(unit, (unit, 1.0))[0]

    @property
    def column(self) -> str:
        return f"{self.label} ({self.shown_unit})"

    @property
    def direction(self) -> str:
        return self.better or self.metric.better

    def cell(self, results: Results, engine: str) -> Cell:
        """The cell of one engine, in the unit shown."""
        cell = self.pick(results, engine, self.metric)
        return cell if self.unit else cell.scaled(DISPLAY_UNITS.get(self.metric.unit, ("", 1.0))[1])


def _in_words(point: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v:g}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}" for k, v in point.items())


def _select(frame: pd.DataFrame, engine: str, point: dict[str, Any]) -> pd.DataFrame:
    if frame.empty:
        return frame
    frame = frame[frame["engine"] == engine]
    for key, value in point.items():
        frame = frame[frame[key] == value] if key in frame.columns else frame.iloc[0:0]
    return frame


def _why_missing(results: Results, engine: str, workload: str, point: dict[str, Any]) -> str:
    """Why an engine has no value at ``point``: not measured at all, the point's skipped or failed
    cases (their notes), or a grid that did not include it."""
    status = engine_status(results)
    status = status[(status["engine"] == engine) & (status["workload"] == workload)]
    if status.empty:
        return f"not measured: the {workload} workload was not run"
    if status["status"].iloc[-1] != "measured":
        return f"not measured: {status['reason'].iloc[-1]}"
    where = f"not measured at this point ({_in_words(point)})" if point else "no data"
    frame = results.of(workload)
    frame = frame[frame["engine"] == engine] if not frame.empty else frame
    for key, value in point.items():  # a skipped or failed case covers every value of a parameter it does not name
        if key in frame.columns:
            frame = frame[(frame[key] == value) | frame[key].isna()]
    explained = notes(frame)
    if not explained.empty:
        return f"{where}: {explained['note'].iloc[0]}"
    return f"{where}: the run's grid did not include it"


def _at(workload: str, point: dict[str, Any], ceiling: str | None = None) -> Pick:
    """The metric at one point: its median over repetitions with the bootstrap CI, or for a latency
    statistic the merged histograms' value (CI from the repetitions' own values of it).
    ``ceiling``: the metric holding the harness's own ceiling (a throughput) at that point: the cell is
    client-bound when the point's own ``throughput`` reaches ``CLIENT_BOUND`` of it."""
    def pick(results: Results, engine: str, metric: Metric) -> Cell:
        frame = _select(results.of(workload), engine, point)
        summary = point_summary(frame, metric.name, [])
        if summary.empty or summary["n"].iloc[0] == 0:
            return Cell(None, reason=_why_missing(results, engine, workload, point))
        row = summary.iloc[0]
        value = float(row["median"])
        if metric.family_name and metric.statistic:
            merged = merged_latency(frame, metric.family_name, [])
            if not merged.empty and pd.notna(merged[metric.statistic].iloc[0]):
                value = float(merged[metric.statistic].iloc[0])
        bound = False
        if ceiling is not None:
            top, own = point_summary(frame, ceiling, []), point_summary(frame, "throughput", [])
            measured = not top.empty and top["n"].iloc[0] > 0 and not own.empty and own["n"].iloc[0] > 0
            bound = measured and float(own["median"].iloc[0]) >= CLIENT_BOUND * float(top["median"].iloc[0])
        return Cell(value, str(row["run_id"]), float(row["ci_low"]), float(row["ci_high"]), int(row["n"]), bool(row["unstable"]), bound)

    return pick


def _total(table_fn: Callable[[Results], pd.DataFrame], workload: str) -> Pick:
    """The engine's row of a per-engine table that totals each metric over the run (exact counts)."""
    def pick(results: Results, engine: str, metric: Metric) -> Cell:
        table = table_fn(results)
        row = table[table["engine"] == engine]
        column = metric.statistic or metric.name
        if row.empty or column not in row.columns or pd.isna(row[column].iloc[0]):
            return Cell(None, reason=_why_missing(results, engine, workload, {}))
        return Cell(float(row[column].iloc[0]), str(row["run_id"].iloc[0]))

    return pick


def _crash_losses(results: Results, engine: str, metric: Metric) -> Cell:
    """Acknowledged appends lost over every crash under the engine's durable settings (the faults
    workload); not measured when no crash could be injected under them, with the reason."""
    table = summaries.faults_summary(results)
    rows = table[(table["engine"] == engine) & (table["durable"] == True)] if not table.empty else table  # noqa: E712 (a column of bools)
    if rows.empty:
        return Cell(None, reason=_why_missing(results, engine, "faults", {}))
    if not rows["crashes"].fillna(0).sum():
        why = next((str(n) for n in rows["not_measured"] if isinstance(n, str) and n), "no crash was injected")
        return Cell(None, reason=f"not measured: {why}")
    faults = results.of("faults")
    runs = ",".join(sorted(set(faults[faults["engine"] == engine]["run_id"])))
    return Cell(float(rows["lost"].fillna(0).sum()), runs)


def _snapshot_speedup(length: int, every: int) -> Pick:
    """Warm load p50 without snapshots over with a snapshot every ``every``, per repetition; the
    median of those ratios with its CI."""
    def pick(results: Results, engine: str, metric: Metric) -> Cell:
        point = {"length": length, "cache": "warm"}
        frame = _select(results.of("snapshots"), engine, point)
        frame = frame[frame["metric"] == metric.name] if not frame.empty else frame
        by_rep = frame.pivot_table(index="repetition", columns="snapshot_every", values="value", aggfunc="first") if not frame.empty else frame
        if frame.empty or 0 not in by_rep.columns or every not in by_rep.columns:
            return Cell(None, reason=_why_missing(results, engine, "snapshots", {"length": length, "snapshot_every": every}))
        ratios = (by_rep[0] / by_rep[every]).dropna().tolist()
        summary = stats.summarize(ratios)
        return Cell(summary.median, ",".join(sorted(set(frame["run_id"]))), summary.ci_low, summary.ci_high, summary.n, summary.unstable)

    return pick


def sources(points: OperatingPoints | None = None) -> list[Source]:
    """The matrix columns, each at its operating point (``OperatingPoints``' defaults when None)."""
    p = points or OperatingPoints()
    uniform = {"writers": p.writers, "skew": 0.0}
    hot = {"writers": p.hot_writers, "skew": float(p.hot_skew)}
    closed = {"loop": "closed"}
    return [
        Source(f"commands @ {p.writers} writers, uniform", "contention", "throughput",
               f"contention: median successful commands/s at {p.writers} writers, skew 0 (uniform over the streams)", _at("contention", uniform, "ceiling_throughput"),
               key="commands_uniform"),
        Source(f"hot stream @ {p.hot_writers} writers, skew {p.hot_skew:g}", "contention", "throughput",
               f"contention: median successful commands/s at {p.hot_writers} writers, Zipf skew {p.hot_skew:g} (most commands on one stream)", _at("contention", hot, "ceiling_throughput"),
               key="hot_stream"),
        Source(f"hot stream p99 @ {p.hot_writers} writers, skew {p.hot_skew:g}", "contention", "command_latency_p99",
               f"contention: command latency p99 incl. retries (merged histograms) at {p.hot_writers} writers, skew {p.hot_skew:g}", _at("contention", hot), key="hot_p99"),
        Source("lost updates, all points", "contention", "lost_updates", "contention: lost updates summed over every point and repetition (must be 0)",
               _total(summaries.contention_correctness, "contention"), key="lost_updates"),
        Source("missed on resume", "resume", "missed_events", "resume: events in the store the consumer never handled, all repetitions (must be 0)",
               _total(summaries.resume_summary, "resume"), key="missed_on_resume"),
        Source("max repeats/restart", "resume", "max_repeats_per_restart", "resume: largest number of events handled again after one restart",
               _total(summaries.resume_summary, "resume"), key="repeats_per_restart"),
        Source("lost in crashes, durable settings", "faults", "lost",
               "faults: acknowledged appends missing after every engine crash (SIGKILL and restart) under the engine's durable settings (must be 0)",
               _crash_losses, key="crash_losses"),
        Source(f"snapshot speed-up @ {p.stream_length:,} events, N = {p.snapshot_every}", "snapshots", "load_time_p50",
               f"snapshots: warm load p50 without snapshots / with a snapshot every {p.snapshot_every}, stream of {p.stream_length:,} events (median of the repetitions' ratios)",
               _snapshot_speedup(p.stream_length, p.snapshot_every), unit="x", better="higher", key="snapshot_speedup"),
        Source("append p50, closed loop", "calls", "latency_p50", "calls: append of one event, one client, closed loop, p50 (merged histograms)",
               _at("calls", {"operation": "append_single", **closed}, "ceiling_throughput"), key="append_p50"),
        Source("batch append, closed loop", "calls", "event_throughput", "calls: append_batch, one client, closed loop, median events per second",
               _at("calls", {"operation": "append_batch", **closed}, "ceiling_throughput"), key="batch_append"),
        Source("read_stream p50, closed loop", "calls", "latency_p50", "calls: read_stream of the test stream, one client, closed loop, p50",
               _at("calls", {"operation": "read_stream", **closed}, "ceiling_throughput"), key="read_stream_p50"),
        Source("live delivery p50", "calls", "latency_p50", "calls: commit-to-handler latency while one writer appends back to back, p50",
               _at("calls", {"operation": "live_delivery", **closed}), key="live_p50"),
    ]


def append_p99(events_per_s: float = 0.0) -> Source:
    """The p99 of a one-event append: open loop at ``events_per_s`` (intended start times, so
    queueing counts), or one client's closed loop when 0. Never a value from another rate."""
    if events_per_s > 0:
        point: dict[str, Any] = {"operation": "append_single", "loop": "open", "target_rate": float(events_per_s)}
        words = f"open loop at {events_per_s:,g} appends/s"
    else:
        point, words = {"operation": "append_single", "loop": "closed"}, "one client, closed loop"
    return Source(f"append p99, {words}", "calls", "latency_p99", f"calls: append of one event, {words}, p99 (merged histograms)", _at("calls", point), key="append_p99")


#: The columns of ``matrix_cells`` (and of ``matrix.csv``): numbers and reasons apart.
CELL_COLUMNS = [
    "engine", "name", "key", "column", "value", "ci_low", "ci_high", "ci_relative", "n", "unstable", "client_bound", "reason", "unit", "better",
    "tags", "workload", "source", "metric", "run_id",
]


@cached
def matrix_cells(results: Results, points: OperatingPoints | None = None) -> pd.DataFrame:
    """Every cell of the matrix, one row each: engine (its label) and ``name`` (its registry name),
    column, value (in the unit shown), CI, repetitions, flags, the reason for a missing value,
    the tags that make it not comparable (``comparability.TAGS`` keys, the row's and the cell's),
    and where it came from."""
    rows = []
    columns = sources(points)
    for row in engine_facts(results).itertuples():
        for source in columns:
            cell = source.cell(results, str(row.engine))
            out = {
                "engine": row.label, "name": row.engine, "key": source.key, "column": source.column, "value": cell.value, "ci_low": cell.ci_low,
                "ci_high": cell.ci_high, "ci_relative": cell.ci_relative, "n": cell.n, "unstable": cell.unstable, "client_bound": cell.client_bound,
                "reason": cell.reason, "unit": source.shown_unit, "better": source.direction, "workload": source.workload,
                "source": source.description, "metric": f"{source.workload}/{source.metric_name}", "run_id": cell.run_id,
            }
            out["tags"] = [*row.tags, *cell_tags(out)]
            rows.append(out)
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def write_matrix_csv(cells: pd.DataFrame, path: str | Path) -> Path:
    """``matrix.csv``: every cell, numbers and reasons in separate columns, tags as words joined by ``; ``."""
    frame = cells.copy()
    frame["tags"] = ["; ".join(TAGS[t].label for t in tags) for tags in frame["tags"]]
    path = Path(path)
    frame.to_csv(path, index=False)
    return path


def _shown(cell: pd.Series) -> Any:
    """A cell as the wide matrix shows it: the number, flagged, or the reason it is missing."""
    if pd.isna(cell["value"]):
        return cell["reason"]
    flags = []
    if cell["unstable"]:
        flags.append("unstable: " + (f"CI ±{cell['ci_relative']:.0%}" if pd.notna(cell["ci_relative"]) else f"n = {cell['n']}"))
    elif pd.notna(cell["ci_relative"]) and cell["n"] > 1:
        flags.append(f"±{cell['ci_relative']:.0%}")
    if cell["client_bound"]:
        flags.append("client-bound")
    value = f"{cell['value']:,.3g}" if abs(cell["value"]) < 1000 else f"{cell['value']:,.0f}"
    return f"{value} ({'; '.join(flags)})" if flags else value


def comparison_matrix(results: Results, points: OperatingPoints | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matrix, cells): one row per engine and one column per ``Source`` (header: operating point,
    unit and which way is better) with each value's CI or flags, or why it is missing; and the
    long table of cells (``matrix_cells``) the matrix was built from, which is also its provenance."""
    cells = matrix_cells(results, points)
    if cells.empty:
        return pd.DataFrame(columns=["engine"]), cells
    header = {s.column: f"{s.column}, {'higher' if s.direction == 'higher' else 'lower'} is better" for s in sources(points)}
    cells = cells.assign(shown=cells.apply(_shown, axis=1))
    matrix = cells.pivot(index="engine", columns="column", values="shown")
    matrix = matrix.reindex(index=list(dict.fromkeys(cells["engine"])), columns=list(header)).rename(columns=header)
    return matrix.reset_index().rename_axis(columns=None), cells


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


#: What each declared capability means, in a few words (``eventstore.capabilities.Capabilities``).
CAPABILITY_MEANINGS = {
    "optimistic_concurrency": "append honours expected_version atomically per stream",
    "idempotent_append": "re-appending the same event ids is a no-op",
    "atomic_batch": "a multi-event append is all or nothing",
    "global_order": "read_all returns one total order",
    "gap_safe_global_order": "a checkpointing subscriber never misses a late commit",
    "indexed_category_reads": "read_category uses an index",
    "push_notifications": "live subscribers are woken, not polling",
    "transactional_checkpoints": "handler writes and checkpoint in one transaction",
    "snapshots": "snapshots stored by the engine",
    "max_batch_events": "most events in one atomic append",
    "max_batch_bytes": "largest append (bytes)",
    "max_event_bytes": "largest event (bytes)",
}


def capabilities_table(results: Results) -> pd.DataFrame:
    """Declared capability x engine (one column per engine label, so it stays narrow however many
    capabilities there are): yes / no, a limit, or "unbounded"; "not reported" for an engine that
    was never measured."""
    rows = []
    facts = engines_of(results)
    for name in CAPABILITY_NAMES:
        row: dict[str, Any] = {"capability": name.replace("_", " "), "meaning": CAPABILITY_MEANINGS.get(name, "")}
        for engine in facts.itertuples():
            caps = engine.capabilities if isinstance(engine.capabilities, dict) else None
            value = None if caps is None else caps.get(name)
            if caps is None:
                row[str(engine.label)] = "not reported"
            elif isinstance(value, bool):
                row[str(engine.label)] = "✓ yes" if value else "✗ no"
            elif value is None:
                row[str(engine.label)] = "unbounded" if name.startswith("max_") else "not declared"
            else:
                row[str(engine.label)] = f"{int(value):,}"
        rows.append(row)
    return pd.DataFrame(rows)


def limitations(results: Results) -> dict[str, list[str]]:
    """Engine label -> its declared limitations in plain words (or why it was not measured)."""
    out: dict[str, list[str]] = {}
    status = engine_status(results)
    for row in engines_of(results).itertuples():
        caps = row.capabilities if isinstance(row.capabilities, dict) else None
        if caps is None:
            reasons = dict.fromkeys(short_reason(r) for r in status[status["engine"] == row.engine]["reason"].dropna())
            out[row.label] = [f"Not measured: {r}" for r in reasons] or ["Not measured."]
        else:
            words = list(caps.get("limitations") or [])
            if row.emulator is True:
                words.append(f"Measured on {row.product}, an emulator: its timings say nothing about the real service's speed.")
            out[row.label] = words or ["No limitations declared."]
    return out


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
