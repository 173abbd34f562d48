"""The matrix columns calls feeds: append, batch, read and live-delivery figures at one client,
closed loop, and the append p99 a latency requirement is checked against.
"""
from __future__ import annotations

from typing import Any

from bench.harness.columns import OperatingPoints, Source

from .workload import Calls


def columns(p: OperatingPoints) -> list[Source]:
    def closed(operation: str) -> dict[str, Any]:
        return {"operation": operation, "loop": "closed"}

    return [
        Source("append p50, closed loop", Calls, "latency_p50", "calls: append of one event, one client, closed loop, p50 (merged histograms)",
               point=closed("append_single"), ceiling="ceiling_throughput", key="append_p50"),
        Source("batch append, closed loop", Calls, "event_throughput", "calls: append_batch, one client, closed loop, median events per second",
               point=closed("append_batch"), ceiling="ceiling_throughput", key="batch_append"),
        Source("read_stream p50, closed loop", Calls, "latency_p50", "calls: read_stream of the test stream, one client, closed loop, p50",
               point=closed("read_stream"), ceiling="ceiling_throughput", key="read_stream_p50"),
        Source("live delivery p50", Calls, "latency_p50", "calls: commit-to-handler latency while one writer appends back to back, p50",
               point=closed("live_delivery"), key="live_p50"),
    ]


def append_p99(events_per_s: float = 0.0) -> Source:
    """The p99 of a one-event append: open loop at ``events_per_s`` (intended start times, so
    queueing counts), or one client's closed loop when 0. Never a value from another rate."""
    if events_per_s > 0:
        point: dict[str, Any] = {"operation": "append_single", "loop": "open", "target_rate": float(events_per_s)}
        words = f"open loop at {events_per_s:,g} appends/s"
    else:
        point, words = {"operation": "append_single", "loop": "closed"}, "one client, closed loop"
    return Source(f"append p99, {words}", Calls, "latency_p99", f"calls: append of one event, {words}, p99 (merged histograms)", point=point, key="append_p99")
