"""What every workload shares: its parameters, its cases, and the measurements it yields.

A workload never starts an engine or writes a file. It takes its parameters and a store factory
(``new_url(label)`` for a fresh isolated store, ``connect(url)`` to open it) and yields
``Measurement``s; the runner stamps them with run id and engine and writes them. One case is one
point of the parameter grid for one repetition, so a run can show progress and stop between cases.
"""
from __future__ import annotations

import dataclasses
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from eventstore import EventStore

from .. import stats


class StoreFactory(Protocol):
    """The part of an engine handle a workload may use."""

    cross_process: bool

    def new_url(self, label: str) -> str: ...

    def connect(self, url: str) -> EventStore: ...


@dataclass(frozen=True)
class Measurement:
    """One measured value of one case; the runner adds who measured it, where and when."""

    metric: str
    value: float | None
    unit: str
    params: dict[str, Any]
    repetition: int | None
    hdr: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Params:
    """Parameters every workload has. Subclasses add theirs, each with a default sized for the report."""

    repetitions: int = 3
    seed: int = 42
    #: Seconds one engine may spend on this workload; later cases are recorded as ``skipped``.
    #: Cases run repetition by repetition, so a slow engine keeps every point of its first ones.
    budget_s: float | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "Params":
        """Build from a plain dict (YAML, notebook parameters); unknown names are an error, not ignored."""
        values = dict(values or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"{cls.__qualname__}: unknown parameter(s) {unknown}; known: {sorted(known)}")
        for name, value in values.items():
            if isinstance(value, list):
                values[name] = tuple(value)
        params = cls(**values)
        params.check()
        return params

    def check(self) -> None:
        if self.repetitions < 1:
            raise ValueError("repetitions must be >= 1")
        if self.budget_s is not None and self.budget_s <= 0:
            raise ValueError("budget_s must be > 0 or None")

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


class Workload(ABC):
    """One workload: ``cases()`` lists the grid, ``run_case`` measures one point of it."""

    name: ClassVar[str]
    title: ClassVar[str]
    params_type: ClassVar[type[Params]] = Params
    #: The workload runs a consumer in another process, so ``memory://`` cannot take part.
    needs_cross_process: ClassVar[bool] = False

    def __init__(self, params: Params | dict[str, Any] | None = None) -> None:
        if params is None or isinstance(params, dict):
            params = self.params_type.from_dict(params)
        self.params = params
        self.stores: StoreFactory | None = None
        #: ``time.monotonic()`` at which this engine's ``budget_s`` runs out (set by the runner), or None.
        self.deadline: float | None = None

    def time_left(self) -> float:
        """Seconds left of this engine's budget (infinite without one), for work inside one case."""
        return math.inf if self.deadline is None else self.deadline - time.monotonic()

    @abstractmethod
    def cases(self) -> list[dict[str, Any]]:
        """Every point of the grid times every repetition, in run order; each has a ``repetition`` key."""

    def open(self, stores: StoreFactory) -> None:
        """Prepare for one engine (shared stores, connections)."""
        self.stores = stores

    @abstractmethod
    def run_case(self, case: dict[str, Any]) -> Iterator[Measurement]:
        """Measure one case."""

    def close(self) -> None:
        """Release what ``open`` took."""


def latency_measurements(metric: str, histogram: Any, params: dict[str, Any], repetition: int | None) -> list[Measurement]:
    """Percentile rows of a latency histogram, plus the histogram itself (``<metric>_histogram``)
    so that repetitions and workers can be merged later without averaging percentiles."""
    values = stats.percentiles(histogram)
    rows = [Measurement(f"{metric}_{name}", value, "us", params, repetition) for name, value in values.items()]
    rows.append(Measurement(f"{metric}_histogram", float(histogram.get_total_count()), "samples", params, repetition, hdr=stats.encode(histogram)))
    return rows


def now_us() -> float:
    """A monotonic clock in microseconds, the unit of every latency."""
    return time.perf_counter_ns() / 1000.0


def read_everything(store: EventStore, page: int = 1000) -> list[Any]:
    """Every event of ``store`` in global order, read page by page."""
    events: list[Any] = []
    after = None
    while True:
        batch = store.read_all(after, page)
        events.extend(batch)
        if len(batch) < page:
            return events
        after = batch[-1].position
