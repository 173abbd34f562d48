"""Alternating rounds and the ratios taken from them, for the overhead workload
(``bench.workloads.overhead``) and any comparison of two variants of the same work.

Two variants of the same work (an adapter and the engine's raw path, say) run in ABBA order, each
as often first as last, so drift on a shared machine hits both alike; a ratio is taken per round
pair, and its median over the pairs is the figure, with the pairs' min and max beside it.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

T = TypeVar("T")

#: A ratio whose round pairs reach further than this from its median is shown as unstable.
STABLE_SPREAD = 0.05


def abba(variants: dict[str, Callable[[], T]], repetitions: int) -> dict[str, list[T]]:
    """Run each variant ``repetitions`` times, in ABBA order (each as often first as last)."""
    names = list(variants)
    results: dict[str, list[T]] = {n: [] for n in names}
    for k in range(repetitions):
        for name in names if k % 2 == 0 else names[::-1]:
            results[name].append(variants[name]())
    return results


def timed(op: Callable[[], object], seconds: float, events_per_op: int | None) -> Callable[[], float]:
    """A round: ``op`` as often as fits in ``seconds`` (at least once); events/s. ``events_per_op``
    None: ``op`` returns how many events it handled (a page of a read, say)."""

    def round_() -> float:
        n, start = 0, time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            done = op()
            n += events_per_op if events_per_op is not None else cast(int, done)
        return n / (time.perf_counter() - start)

    return round_


@dataclass(frozen=True)
class PairedRatio:
    """The median of per-round-pair ratios ``a / b``, with its extremes and the medians of each side."""

    ratio: float
    min: float
    max: float
    a: float
    b: float
    pairs: int

    @property
    def spread(self) -> float:
        """How far the furthest round pair lies from the median, as a fraction of it."""
        return max(self.ratio - self.min, self.max - self.ratio) / self.ratio if self.ratio else float("inf")

    @property
    def stable(self) -> bool:
        """Every round pair within ±``STABLE_SPREAD`` of the median."""
        return self.spread <= STABLE_SPREAD


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> PairedRatio:
    """``a / b`` per round pair (the k-th round of each), summarised; the sides must pair up."""
    if not a or len(a) != len(b):
        raise ValueError(f"paired rounds needed, got {len(a)} and {len(b)}")
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    return PairedRatio(statistics.median(ratios), min(ratios), max(ratios), statistics.median(a), statistics.median(b), len(ratios))
