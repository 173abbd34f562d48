"""The matrix columns contention feeds: commands/s at the uniform and the hot-stream operating
points, the hot stream's p99, and lost updates over every point.
"""
from __future__ import annotations

from bench.harness.columns import OperatingPoints, Source, totals

from .tables import contention_correctness
from .workload import Contention


def columns(p: OperatingPoints) -> list[Source]:
    uniform = {"writers": p.writers, "skew": 0.0}
    hot = {"writers": p.hot_writers, "skew": float(p.hot_skew)}
    return [
        Source(f"commands @ {p.writers} writers, uniform", Contention, "throughput",
               f"contention: median successful commands/s at {p.writers} writers, skew 0 (uniform over the streams)",
               point=uniform, ceiling="ceiling_throughput", key="commands_uniform"),
        Source(f"hot stream @ {p.hot_writers} writers, skew {p.hot_skew:g}", Contention, "throughput",
               f"contention: median successful commands/s at {p.hot_writers} writers, Zipf skew {p.hot_skew:g} (most commands on one stream)",
               point=hot, ceiling="ceiling_throughput", key="hot_stream"),
        Source(f"hot stream p99 @ {p.hot_writers} writers, skew {p.hot_skew:g}", Contention, "command_latency_p99",
               f"contention: command latency p99 incl. retries (merged histograms) at {p.hot_writers} writers, skew {p.hot_skew:g}",
               point=hot, key="hot_p99"),
        Source("lost updates, all points", Contention, "lost_updates", "contention: lost updates summed over every point and repetition (must be 0)",
               totals(contention_correctness, Contention.name), key="lost_updates"),
    ]
