"""The matrix's columns as each workload declares them (its ``columns.py``), and the cells they give.

Every column is a ``Source``: a statistic of a metric its workload declares (whose unit and better
direction the column takes) at one operating point chosen in advance and named in the column's
header (``OperatingPoints``), never at whatever point an engine happened to reach. Each cell is a
``Cell``: the value with its 95 % CI and instability flag, or the reason it is missing ("not measured
at this point", and why). ``at_point`` and ``totals`` pick the usual kinds of cell; the report
(``bench.report.matrix``) collects every workload's columns into the matrix.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd

from .convergence import Target
from .metrics import Metric
from .results import Results, engine_status, merged_latency, notes, point_summary
from .workload import Workload

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
    #: The value of each repetition (by its number, which is its round where engines ran in turn),
    #: for resampling the cell: a verdict's confidence redraws them.
    samples: Mapping[int, float] = field(default_factory=dict)

    def scaled(self, factor: float) -> Cell:
        def times(x: float | None) -> float | None:
            return None if x is None else x * factor

        return Cell(times(self.value), self.run_id, times(self.ci_low), times(self.ci_high), self.n, self.unstable, self.client_bound, self.reason,
                    {k: v * factor for k, v in self.samples.items()})

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
    workload: type[Workload[Any]]
    metric_name: str
    description: str
    #: How a cell is read; by default the metric at ``point`` (``at_point``).
    pick: Pick | None = None
    unit: str | None = None
    better: str | None = None
    #: A short stable name for the column (what a decision profile weighs), independent of its point.
    key: str = ""
    #: The operating point the column reads, which a run measures first (None: the column totals a run).
    point: Mapping[str, Any] | None = None
    #: With the default ``pick``: the metric holding the load generator's own ceiling at ``point``.
    ceiling: str | None = None
    #: A run repeats ``point`` until the column's metric is known; False where its workload makes the
    #: figure known within one case (it records the figure's CI itself).
    converge: bool = True

    def __post_init__(self) -> None:
        self.workload.metric(self.metric_name)  # an undeclared metric fails here, not on a page
        if self.pick is None:
            if self.point is None:
                raise ValueError(f"column {self.label!r}: give a pick or the point it reads")
            object.__setattr__(self, "pick", at_point(self.workload.name, dict(self.point), self.ceiling))

    @property
    def target(self) -> Target | None:
        """What a run of this column's workload measures first, or None."""
        return None if self.point is None else Target(self.point, self.metric_name if self.converge else None)

    @property
    def metric(self) -> Metric:
        return self.workload.metric(self.metric_name)

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
        assert self.pick is not None  # set by __post_init__
        cell = self.pick(results, engine, self.metric)
        return cell if self.unit else cell.scaled(DISPLAY_UNITS.get(self.metric.unit, ("", 1.0))[1])


def _in_words(point: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v:g}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}" for k, v in point.items())


def select_point(frame: pd.DataFrame, engine: str, point: dict[str, Any]) -> pd.DataFrame:
    if frame.empty:
        return frame
    frame = frame[frame["engine"] == engine]
    for key, value in point.items():
        frame = frame[frame[key] == value] if key in frame.columns else frame.iloc[0:0]
    return frame


def why_missing(results: Results, engine: str, workload: str, point: dict[str, Any]) -> str:
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


def at_point(workload: str, point: dict[str, Any], ceiling: str | None = None) -> Pick:
    """The metric at one point: its median over repetitions with the bootstrap CI, or for a latency
    statistic the merged histograms' value (CI from the repetitions' own values of it).
    ``ceiling``: the metric holding the harness's own ceiling (a throughput) at that point: the cell is
    client-bound when the point's own ``throughput`` reaches ``CLIENT_BOUND`` of it."""
    def pick(results: Results, engine: str, metric: Metric) -> Cell:
        frame = select_point(results.of(workload), engine, point)
        summary = point_summary(frame, metric.name, [])
        if summary.empty or summary["n"].iloc[0] == 0:
            return Cell(None, reason=why_missing(results, engine, workload, point))
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
        values = frame[frame["metric"] == metric.name].dropna(subset=["value"])
        samples = {int(r): float(v) for r, v in values.groupby("repetition")["value"].median().items()} if not values.empty else {}
        n = int(row["n"])
        # One repetition shows no spread: its CI is unknown (None), never a width of 0.
        low, high = (float(row["ci_low"]), float(row["ci_high"])) if n > 1 else (None, None)
        return Cell(value, str(row["run_id"]), low, high, n, bool(row["unstable"]), bound, samples=samples)

    return pick


def totals(table_fn: Callable[[Results], pd.DataFrame], workload: str) -> Pick:
    """The engine's row of a per-engine table that totals each metric over the run (exact counts)."""
    def pick(results: Results, engine: str, metric: Metric) -> Cell:
        table = table_fn(results)
        row = table[table["engine"] == engine]
        column = metric.statistic or metric.name
        if row.empty or column not in row.columns or pd.isna(row[column].iloc[0]):
            return Cell(None, reason=why_missing(results, engine, workload, {}))
        return Cell(float(row[column].iloc[0]), str(row["run_id"].iloc[0]))

    return pick
