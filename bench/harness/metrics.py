"""What a workload measures, each metric declared once: name, unit, meaning, which way is better,
and, where it is a correctness rule, the capability that makes it one; and where it measures it,
each point dimension (``writers``, ``skew``) declared once too.

The runner refuses a measurement of a metric or at a point dimension its workload did not declare,
and takes each record's unit from the declaration; the correctness checks, the matrix and the
tables (which group by declared dimensions) read the same lists.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from . import stats

#: A rule's ``rule`` when it binds every engine, whatever its capabilities.
EVERY_ENGINE = "every engine"
#: What ``latency_measurements`` appends to a family's name, besides ``_histogram``.
FAMILY_STATISTICS = (*stats.PERCENTILES, "min", "max", "mean")


class UndeclaredMetric(ValueError):
    """A measurement of a metric (or at a point dimension) its workload did not declare."""


@dataclass(frozen=True)
class Dimension:
    """One parameter of a measurement point, what tables group by: ``writers``, ``skew``."""

    name: str
    meaning: str
    unit: str = ""


@dataclass(frozen=True)
class Metric:
    """One declared metric.

    ``rule``: a correctness rule, the value must be 0 on engines that declare this capability
    (``EVERY_ENGINE``: on every engine); None: measured and shown, never failed.
    ``family``: a latency family as ``latency_measurements`` writes it, ``<name>_p50`` ..
    ``<name>_mean`` in ``unit`` and ``<name>_histogram`` (the sample count, with the histogram).
    ``statistic``: for a member of a family, which one (``p99``); None otherwise.
    """

    name: str
    unit: str
    meaning: str
    better: Literal["higher", "lower", "none"] = "none"
    rule: str | None = None
    family: bool = False
    statistic: str | None = None

    @property
    def family_name(self) -> str | None:
        """For a family member, the family's name (``latency`` for ``latency_p99``); None otherwise."""
        return self.name.removesuffix(f"_{self.statistic}") if self.statistic else None

    def members(self) -> list[Metric]:
        """The metric names a record can carry for this declaration: itself, or a family's members."""
        if not self.family:
            return [self]
        members = [Metric(f"{self.name}_{s}", self.unit, f"{self.meaning} ({s})", self.better, statistic=s) for s in FAMILY_STATISTICS]
        return [*members, Metric(f"{self.name}_histogram", "samples", f"{self.meaning}: samples, with the HDR histogram", statistic="histogram")]


#: Metrics every workload may record: the runner writes them for failed and skipped cases.
COMMON = (
    Metric("error", "flag", "a case that failed; its note holds the error"),
    Metric("skipped", "flag", "a case that was not run; its note says why"),
    Metric("ci95_relative", "fraction of the median", "how far the 95 % CI of a point's median reaches from it (param `of` names the metric); its note says whether it met the target", "lower"),
)


#: Dimensions every workload may record: the runner's ``ci95_relative`` rows name their metric.
COMMON_DIMENSIONS = (Dimension("of", "the metric a ci95_relative record is about"),)


def index(metrics: Iterable[Metric]) -> dict[str, Metric]:
    """Every recordable metric name -> its declaration (families expanded); a name declared twice is an error."""
    out: dict[str, Metric] = {}
    for metric in metrics:
        for member in metric.members():
            if member.name in out:
                raise ValueError(f"metric {member.name!r} declared twice")
            out[member.name] = member
    return out
