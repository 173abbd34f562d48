"""What every workload shares: its cases, and the measurements it yields.

A workload never starts an engine or writes a file. It takes its parameters (``params.py``) and a
store factory (``new_url(label)`` for a fresh isolated store, ``connect(url)`` to open it) and
yields ``Measurement``s of the metrics it declares (``metrics.py``); the runner stamps them with
run id, engine and unit and writes them. One case is one point of the parameter grid for one
repetition, so a run can show progress and stop between cases.
"""
from __future__ import annotations

import functools
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from eventstore import EventStore

from . import stats
from .metrics import COMMON, COMMON_DIMENSIONS, Dimension, Metric, UndeclaredMetric, index
from .params import Params


class StoreFactory(Protocol):
    """The part of an engine handle a workload may use."""

    @property
    def cross_process(self) -> bool: ...

    def new_url(self, label: str) -> str: ...

    def connect(self, url: str) -> EventStore: ...


@dataclass(frozen=True)
class Measurement:
    """One measured value of one case; the runner adds who measured it, where and when, and the
    unit its workload declared for the metric."""

    metric: str
    value: float | None
    params: dict[str, Any]
    repetition: int | None
    hdr: str | None = None
    note: str | None = None


P = TypeVar("P", bound=Params)


class Workload(ABC, Generic[P]):
    """One workload: ``cases()`` lists the grid, ``run_case`` measures one point of it.

    Generic in its ``Params`` type, so ``self.params`` has the workload's own parameters."""

    name: ClassVar[str]
    title: ClassVar[str]
    #: Where its page comes in the report (lower first).
    rank: ClassVar[int] = 50
    params_type: ClassVar[type[Params]] = Params
    #: What the workload records, each metric once (``COMMON`` ones need no declaration).
    metrics: ClassVar[tuple[Metric, ...]] = ()
    #: The parameters of its measurement points, each declared once (``COMMON_DIMENSIONS`` need none).
    dimensions: ClassVar[tuple[Dimension, ...]] = ()
    #: Metrics whose per-point median must be known to ±``stats.CI_TARGET`` (95 % CI): the runner adds
    #: repetitions to a point until it is, up to ``max_repetitions`` (``ConvergingParams``).
    converge_on: ClassVar[tuple[str, ...]] = ()
    #: The workload runs a consumer in another process, so ``memory://`` cannot take part.
    needs_cross_process: ClassVar[bool] = False

    def __init__(self, params: P | dict[str, Any] | None = None) -> None:
        if params is None or isinstance(params, dict):
            params = cast(P, self.params_type.from_dict(params))
        self.params: P = params
        self._stores: StoreFactory | None = None
        #: ``time.monotonic()`` at which this engine's ``budget_s`` runs out (set by the runner), or None.
        self.deadline: float | None = None

    @classmethod
    def metric(cls, name: str) -> Metric:
        """The declaration of metric ``name`` (a family member such as ``latency_p99`` included)."""
        declared = _declared(cls)
        if name not in declared:
            raise UndeclaredMetric(f"workload {cls.name!r} did not declare metric {name!r}; it declares: {', '.join(declared)}")
        return declared[name]

    @classmethod
    def by(cls, *names: str) -> list[str]:
        """``names`` as the columns a table groups by, each checked against the declared dimensions."""
        declared = {d.name for d in (*COMMON_DIMENSIONS, *cls.dimensions)}
        unknown = [n for n in names if n not in declared]
        if unknown:
            raise UndeclaredMetric(f"workload {cls.name!r} did not declare point dimension(s) {', '.join(unknown)}; it declares: {', '.join(sorted(declared))}")
        return list(names)

    def time_left(self) -> float:
        """Seconds left of this engine's budget (infinite without one), for work inside one case."""
        return math.inf if self.deadline is None else self.deadline - time.monotonic()

    @abstractmethod
    def cases(self) -> list[dict[str, Any]]:
        """Every point of the grid times every repetition, in run order; each has a ``repetition`` key."""

    @property
    def stores(self) -> StoreFactory:
        """The engine ``open`` prepared the workload for."""
        if self._stores is None:
            raise RuntimeError(f"workload {self.name!r} is not open on an engine")
        return self._stores

    def open(self, stores: StoreFactory) -> None:
        """Prepare for one engine (shared stores, connections)."""
        self._stores = stores

    @abstractmethod
    def run_case(self, case: dict[str, Any]) -> Iterator[Measurement]:
        """Measure one case."""

    def close(self) -> None:
        """Release what ``open`` took."""


@functools.cache
def _declared(workload: type[Workload[Any]]) -> dict[str, Metric]:
    return index((*COMMON, *workload.metrics))


def latency_measurements(metric: str, histogram: Any, params: dict[str, Any], repetition: int | None) -> list[Measurement]:
    """Percentile rows of a latency histogram, plus the histogram itself (``<metric>_histogram``)
    so that repetitions and workers can be merged later without averaging percentiles."""
    values = stats.percentiles(histogram)
    rows = [Measurement(f"{metric}_{name}", value, params, repetition) for name, value in values.items()]
    rows.append(Measurement(f"{metric}_histogram", float(histogram.get_total_count()), params, repetition, hdr=stats.encode(histogram)))
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
