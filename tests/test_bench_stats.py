"""Histogram merging and repetition statistics, against data whose answer is known."""
from __future__ import annotations

import random
import statistics

import pandas as pd
import pytest

from bench.harness import results, stats


def histogram_of(values):
    histogram = stats.new_histogram()
    for value in values:
        stats.record_us(histogram, value)
    return histogram


def test_merge_equals_the_histogram_of_the_union():
    rng = random.Random(1)
    parts = [[rng.lognormvariate(6, 1.5) for _ in range(2000)] for _ in range(4)]
    merged = stats.merge(histogram_of(p) for p in parts)
    union = histogram_of([v for p in parts for v in p])
    assert merged.get_total_count() == union.get_total_count() == 8000
    assert stats.percentiles(merged) == stats.percentiles(union)
    assert merged.equals(union)


def test_merged_percentiles_are_not_averaged_percentiles():
    fast = histogram_of([100] * 990 + [200] * 10)
    slow = histogram_of([10_000] * 100)
    merged = stats.percentiles(stats.merge([fast, slow]))
    assert merged["p50"] == pytest.approx(100, rel=1e-3)  # averaging the two p50s would give 5050
    assert merged["p95"] == pytest.approx(10_000, rel=1e-3)  # the slow repetition is the slowest 9 %
    # the pages read a point's percentiles the same way, from its repetitions' records merged
    records = pd.DataFrame([
        {"engine": "e", "label": "e", "metric": "latency_histogram", "hdr": stats.encode(h), "run_id": "r"} for h in (fast, slow)
    ])
    table = results.merged_latency(records, "latency", [])
    assert table["count"].tolist() == [1100]
    assert table[["p50", "p95"]].iloc[0].tolist() == [merged["p50"], merged["p95"]]


def test_percentiles_are_within_three_significant_digits():
    values = list(range(1, 100_001))
    p = stats.percentiles(histogram_of(values))
    for name, q in stats.PERCENTILES.items():
        exact = values[int(len(values) * q / 100) - 1]
        assert p[name] == pytest.approx(exact, rel=1e-3), name


def test_encode_decode_round_trip_and_clamping():
    histogram = histogram_of([0.2, 5, 50, 500, 5e9])  # below 1 µs and above 60 s are clamped, not lost
    copy = stats.decode(stats.encode(histogram))
    assert copy.get_total_count() == 5
    assert copy.get_min_value() == stats.LOWEST_US
    assert copy.get_max_value() >= stats.HIGHEST_US * 0.999
    assert stats.percentiles(copy) == stats.percentiles(histogram)


def test_cdf_ends_at_one_and_is_monotone():
    xs, ys = stats.cdf(histogram_of([1, 2, 2, 3, 10, 100]))
    assert ys[-1] == pytest.approx(1.0)
    assert xs == sorted(xs) and ys == sorted(ys)


def test_bootstrap_ci_of_constant_data_is_that_constant():
    assert stats.bootstrap_ci([7.0] * 5) == (7.0, 7.0)
    assert stats.bootstrap_ci([3.0]) == (3.0, 3.0)


def test_bootstrap_ci_covers_the_true_median_and_narrows_with_more_data():
    rng = random.Random(7)
    small = [rng.gauss(100, 10) for _ in range(30)]
    large = [rng.gauss(100, 10) for _ in range(3000)]
    low_s, high_s = stats.bootstrap_ci(small, resamples=1000)
    low_l, high_l = stats.bootstrap_ci(large, resamples=1000)
    assert low_s <= statistics.median(small) <= high_s
    assert low_l < 100 < high_l
    assert high_l - low_l < (high_s - low_s) / 3
    assert stats.bootstrap_ci(small, seed=3) == stats.bootstrap_ci(small, seed=3)


def test_bootstrap_ci_of_three_repetitions_spans_only_observed_values():
    low, high = stats.bootstrap_ci([10.0, 12.0, 30.0])
    assert 10.0 <= low <= 12.0 <= high <= 30.0


def test_summary_flags_a_ci_wider_than_the_target():
    steady = stats.summarize([100, 101, 99, 100, 102])
    shaky = stats.summarize([100, 200, 50])
    edge = stats.summarize([100, 106, 95])  # the CI reaches 6 % above the median
    assert steady.median == 100 and not steady.unstable and steady.n == 5 and steady.ci_relative <= stats.CI_TARGET
    assert shaky.unstable and shaky.spread == pytest.approx(1.5) and shaky.ci_relative == pytest.approx(1.0)
    assert edge.unstable and edge.ci_relative == pytest.approx(0.06)
    assert stats.summarize([5.0]).unstable  # one repetition proves nothing
    empty = stats.summarize([])
    assert empty.n == 0 and not empty.unstable


def test_a_paired_ratio_cancels_drift_both_sides_share_and_not_noise_within_a_pair() -> None:
    drift = [1.0 + 0.5 * (i % 7) for i in range(40)]  # the machine slows both sides of a pair alike
    together = stats.paired_ratio([100.0 * d for d in drift], [1.0 * d for d in drift])
    assert together.median == pytest.approx(100.0) and not together.unstable
    apart = stats.paired_ratio([100.0 * d for d in drift], [1.0 * d for d in reversed(drift)])
    assert apart.unstable and apart.ci_relative > 0.05
    assert stats.paired_ratio([2.0, 4.0], [1.0, 2.0], seed=5) == stats.paired_ratio([2.0, 4.0], [1.0, 2.0], seed=5)


def test_repetitions_for_a_spread_give_a_median_ci_near_the_target():
    """The rule the report states ("at this spread a median needs about n repetitions") holds for
    this module's own bootstrap: n values of that spread give a CI of about ±5 %, and fewer do not."""
    needed = stats.repetitions_for(0.10)
    assert needed == 25 and stats.repetitions_for(0.05) < needed < stats.repetitions_for(0.20)
    rng = random.Random(7)

    def typical_ci(n):
        return statistics.median(stats.summarize([rng.gauss(100.0, 10.0) for _ in range(n)], seed=k).ci_relative for k in range(40))

    assert 0.035 <= typical_ci(needed) <= 0.065
    assert typical_ci(needed // 4) > 0.075


def test_a_ci_past_the_target_never_reads_as_the_target():
    assert stats.percent_up(0.0504, 1) == "5.1%" and stats.percent_up(0.053) == "6%"
    assert stats.percent_up(0.07) == "7%" and stats.percent_up(0.05, 1) == "5.0%"  # float noise does not round up
    assert stats.percent_up(float("inf")) == "inf%"
