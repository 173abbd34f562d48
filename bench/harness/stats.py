"""Latency histograms and repetition statistics.

Percentiles are only ever read from a histogram: histograms of workers and repetitions are merged
first, never their percentiles averaged (an average of p99s is not a p99). Values are recorded in
microseconds in an HDR histogram covering 1 µs .. 60 s at 3 significant digits, which is exact to
0.1 % anywhere in that range.
"""
from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3
#: The percentiles every latency measurement reports, by metric suffix.
PERCENTILES: dict[str, float] = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
#: A point is decision-grade when the bootstrap 95 % CI of its median lies within this share of the
#: median on either side (DESIGN section 6); otherwise it is flagged ``unstable`` with the CI it reached.
CI_TARGET = 0.05


def new_histogram() -> HdrHistogram:
    """An empty histogram of microseconds, 1 µs .. 60 s, 3 significant digits."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def record_us(histogram: HdrHistogram, microseconds: float) -> None:
    """Record one latency; values outside the range are clamped to it rather than lost."""
    histogram.record_value(int(min(max(round(microseconds), LOWEST_US), HIGHEST_US)))


def merge(histograms: Iterable[HdrHistogram]) -> HdrHistogram:
    """One histogram holding every value of ``histograms``."""
    merged = new_histogram()
    for histogram in histograms:
        merged.add(histogram)
    return merged


def encode(histogram: HdrHistogram) -> str:
    """The compressed, base64 form stored in a record's ``hdr`` field."""
    return histogram.encode().decode("ascii")


def decode(text: str) -> HdrHistogram:
    """The histogram a record's ``hdr`` field holds."""
    histogram = new_histogram()
    histogram.decode_and_add(text.encode("ascii"))
    return histogram


def percentiles(histogram: HdrHistogram) -> dict[str, float]:
    """p50 .. p99.9, min, max and mean, in microseconds (NaN for an empty histogram)."""
    if histogram.get_total_count() == 0:
        return {**{k: math.nan for k in PERCENTILES}, "min": math.nan, "max": math.nan, "mean": math.nan}
    values = {name: float(histogram.get_value_at_percentile(p)) for name, p in PERCENTILES.items()}
    values["min"] = float(histogram.get_min_value())
    values["max"] = float(histogram.get_max_value())
    values["mean"] = float(histogram.get_mean_value())
    return values


def cdf(histogram: HdrHistogram) -> tuple[list[float], list[float]]:
    """(latency µs, cumulative fraction) pairs for plotting a latency CDF."""
    total = histogram.get_total_count()
    if total == 0:
        return [], []
    xs: list[float] = []
    ys: list[float] = []
    seen = 0
    for item in histogram.get_recorded_iterator():
        seen += item.count_added_in_this_iter_step
        xs.append(float(item.value_iterated_to))
        ys.append(seen / total)
    return xs, ys


@dataclass(frozen=True)
class Summary:
    """The repetitions of one measurement point: median, bootstrap CI of the median, and spread."""

    n: int
    median: float
    ci_low: float
    ci_high: float
    spread: float  # (max - min) / |median|; NaN when the median is 0
    unstable: bool

    @property
    def ci_relative(self) -> float:
        """The CI's larger distance from the median, as a share of the median (inf for a median of 0
        with a non-zero interval, NaN without values)."""
        if self.n == 0:
            return math.nan
        half = max(self.ci_high - self.median, self.median - self.ci_low)
        return half / abs(self.median) if self.median else (0.0 if half == 0 else math.inf)


def bootstrap_ci(
    values: Sequence[float],
    *,
    statistic: Callable[[Sequence[float]], float] = statistics.median,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of ``statistic`` over ``values``.

    Deterministic for a given ``seed``. With very few values (the default 3 repetitions) the
    interval can only span observed values: it says how much the repetitions disagree, which is
    what the instability flag needs.
    """
    data = [float(v) for v in values]
    if not data:
        return math.nan, math.nan
    if len(data) == 1:
        return data[0], data[0]
    rng = random.Random(seed)
    stats = sorted(statistic(rng.choices(data, k=len(data))) for _ in range(resamples))
    alpha = (1.0 - confidence) / 2.0
    low = stats[int(math.floor(alpha * (resamples - 1)))]
    high = stats[int(math.ceil((1.0 - alpha) * (resamples - 1)))]
    return float(low), float(high)


def summarize(values: Sequence[float], *, seed: int = 0, target: float = CI_TARGET) -> Summary:
    """Median of the repetitions and its bootstrap CI; ``unstable`` unless at least two repetitions
    put the CI within ``target`` of the median (one repetition shows no spread, so it proves nothing)."""
    data = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not data:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, False)
    median = statistics.median(data)
    low, high = bootstrap_ci(data, seed=seed)
    spread = (max(data) - min(data)) / abs(median) if median else (0.0 if max(data) == min(data) else math.inf)
    summary = Summary(len(data), median, low, high, spread, False)
    return Summary(len(data), median, low, high, spread, len(data) < 2 or summary.ci_relative > target)


def percent_up(share: float, decimals: int = 0) -> str:
    """``share`` as a percentage rounded up to ``decimals``, so a CI just past the target never reads
    as the target (0.0504 -> "5.1%" with one decimal); float noise below 1e-9 does not round up."""
    if not math.isfinite(share):
        return f"{share * 100}%"
    step = 10**decimals
    return f"{math.ceil(share * 100 * step - 1e-9) / step:.{decimals}f}%"


def repetitions_for(cv: float, target: float = CI_TARGET) -> int:
    """About how many repetitions a median needs for its 95 % CI to lie within ``target`` when they
    spread with coefficient of variation ``cv`` (normal noise: the median's standard error is
    sqrt(pi / 2), about 1.25, times the mean's)."""
    return max(1, math.ceil((1.96 * math.sqrt(math.pi / 2) * cv / target) ** 2))


def paired_ratio(a: Sequence[float], b: Sequence[float], *, seed: int = 0, resamples: int = 2000, target: float = CI_TARGET) -> Summary:
    """The ratio of medians ``median(a) / median(b)`` of paired measurements (``a[i]`` and ``b[i]``
    taken together), with a bootstrap 95 % CI that resamples the pairs, so what drifted for both
    sides of a pair cancels; ``unstable`` unless that CI is within ``target`` (and at least two pairs).
    Resampled with numpy: a workload judges its pairs while it loads, and a pure-Python bootstrap of
    hundreds of short loads' pairs took longer than the loads themselves."""
    pairs = np.array([(float(x), float(y)) for x, y in zip(a, b, strict=True) if y], dtype=float).reshape(-1, 2)
    if not len(pairs):
        return Summary(0, math.nan, math.nan, math.nan, math.nan, False)
    ratio = float(np.median(pairs[:, 0]) / np.median(pairs[:, 1]))
    if len(pairs) == 1:
        return Summary(1, ratio, ratio, ratio, 0.0, True)
    picked = pairs[np.random.default_rng(seed).integers(0, len(pairs), size=(resamples, len(pairs)))]
    draws = np.sort(np.median(picked[:, :, 0], axis=1) / np.median(picked[:, :, 1], axis=1))
    low, high = float(draws[int(0.025 * (resamples - 1))]), float(draws[int(math.ceil(0.975 * (resamples - 1)))])
    singles = pairs[:, 0] / pairs[:, 1]
    spread = float(singles.max() - singles.min()) / abs(ratio) if ratio else math.inf
    summary = Summary(len(pairs), ratio, low, high, spread, False)
    return Summary(summary.n, ratio, low, high, spread, summary.ci_relative > target)
