"""When a point is known: its converging metrics' medians have a 95 % CI within ``stats.CI_TARGET``.

A workload names the metrics every point of its grid repeats for (``converge_on``, up to
``max_repetitions``). The matrix's operating points come on top (``Target``s, from the matrix
columns a run is asked to fill first): on an engine that competes for a verdict (a product, not an
emulator or a naive design) such a point repeats until the column's own metric is known too, up to
``matrix_max_repetitions``. Every point ends with one ``ci95_relative`` record per metric saying how
far its CI reaches and why it stopped.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import stats
from .params import ConvergingParams
from .workload import Measurement, Workload

#: A case or a measurement's point: its parameters without the repetition, as a hashable key.
Point = tuple[tuple[str, Any], ...]


def point_of(case: Mapping[str, Any]) -> Point:
    return tuple(sorted((k, v) for k, v in case.items() if k != "repetition"))


@dataclass(frozen=True)
class Target:
    """A matrix operating point a run measures first, and the metric its column reads there (None:
    the point is measured first, but its workload makes the figure known within one case)."""

    point: Mapping[str, Any]
    metric: str | None = None

    def matches(self, case: Mapping[str, Any]) -> bool:
        """The case measures this point: it shares at least one of its parameters, and every one it shares has the point's value."""
        shared = [k for k in self.point if k in case]
        return bool(shared) and all(_same(case[k], self.point[k]) for k in shared)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return bool(a == b)


class Convergence:
    """The values of the converging metrics per point of one engine, and which points need more
    repetitions: those whose median's 95 % CI is not yet within ``stats.CI_TARGET`` and below their cap.

    ``targets`` are the matrix's operating points; they count only where ``competes`` (the engine
    can win a verdict)."""

    def __init__(self, workload: Workload[Any], targets: Iterable[Target] = (), *, competes: bool = True) -> None:
        params = workload.params
        self.metrics = workload.converge_on
        self.cap = params.max_repetitions if isinstance(params, ConvergingParams) else params.repetitions
        self.matrix_cap = max(self.cap, params.matrix_max_repetitions) if isinstance(params, ConvergingParams) else self.cap
        self.targets = list(targets) if competes else []
        #: case point -> (metric, the measurement's own point) -> values over repetitions
        self.values: dict[Point, dict[tuple[str, Point], list[float]]] = {}
        self.repetitions: dict[Point, int] = {}

    def decisive(self, case: Mapping[str, Any]) -> bool:
        """The case is at one of the matrix's operating points (so it runs first)."""
        return any(t.matches(case) for t in self.targets)

    def cap_of(self, point: Point) -> int:
        return self.matrix_cap if any(t.metric and t.matches(dict(point)) for t in self.targets) else self.cap

    def converging(self, point: Point) -> tuple[str, ...]:
        """The metrics ``point`` repeats for: the workload's, and at an operating point its column's."""
        extra = [t.metric for t in self.targets if t.metric and t.matches(dict(point))]
        return tuple(dict.fromkeys([*self.metrics, *extra]))

    def add(self, case: Mapping[str, Any], m: Measurement) -> None:
        point = point_of(case)
        if m.value is not None and m.metric in self.converging(point):
            self.values.setdefault(point, {}).setdefault((m.metric, point_of(m.params)), []).append(m.value)

    def ran(self, case: Mapping[str, Any]) -> None:
        point = point_of(case)
        self.repetitions[point] = max(self.repetitions.get(point, 0), case.get("repetition", 0) + 1)

    def known(self, point: Point) -> bool:
        return not any(stats.summarize(v).unstable for v in self._of(point).values())

    def pending(self, points: Iterable[Point] | None = None) -> list[dict[str, Any]]:
        """One more repetition of every point (of ``points``, or all) below its cap whose figures are not yet known."""
        chosen = self.repetitions if points is None else {p: self.repetitions[p] for p in points if p in self.repetitions}
        return [{**dict(point), "repetition": done} for point, done in chosen.items() if done < self.cap_of(point) and not self.known(point)]

    def verdicts(self) -> list[Measurement]:
        """Per point and metric: how far its CI reaches, and whether it met the target, in words."""
        out = []
        for point, done in self.repetitions.items():
            for (metric, where), values in self._of(point).items():
                summary = stats.summarize(values)
                ci = summary.ci_relative
                if summary.n == 0:
                    note = "no value recorded at this point (its error or skipped records say why)"
                elif not summary.unstable:
                    note = f"within ±{stats.CI_TARGET:.0%} after {summary.n} repetitions"
                else:
                    why = "the cap" if done >= self.cap_of(point) else "the budget"
                    if summary.n < 2:  # one value shows no spread: its CI is unknown, not zero
                        ci = math.nan
                        note = f"UNSTABLE: one repetition, so no CI (stopped by {why}; target ±{stats.CI_TARGET:.0%})"
                    else:
                        note = f"UNSTABLE: 95 % CI reaches ±{stats.percent_up(ci, 1)} after {summary.n} repetitions (stopped by {why}; target ±{stats.CI_TARGET:.0%})"
                out.append(Measurement("ci95_relative", ci if math.isfinite(ci) else None, {**dict(where), "of": metric}, None, note=note))
        return out

    def _of(self, point: Point) -> dict[tuple[str, Point], list[float]]:
        """The values of each converging metric at ``point``; a metric never recorded there is empty
        (and so unstable: a point that measured nothing is not known)."""
        found = self.values.get(point, {})
        recorded = {metric for metric, _ in found}
        return {**found, **{(metric, point): [] for metric in self.converging(point) if metric not in recorded}}
