"""The matrix column snapshots feeds: the load speed-up a snapshot every N buys on a long stream."""
from __future__ import annotations

from bench.harness import stats
from bench.harness.columns import Cell, OperatingPoints, Pick, Source, select_point, why_missing
from bench.harness.metrics import Metric
from bench.harness.results import Results

from .workload import Snapshots


def _snapshot_speedup(length: int, every: int) -> Pick:
    """Warm load p50 without snapshots over with a snapshot every ``every``, per repetition; the
    median of those ratios with its CI."""
    def pick(results: Results, engine: str, metric: Metric) -> Cell:
        point = {"length": length, "cache": "warm"}
        frame = select_point(results.of(Snapshots.name), engine, point)
        frame = frame[frame["metric"] == metric.name] if not frame.empty else frame
        by_rep = frame.pivot_table(index="repetition", columns="snapshot_every", values="value", aggfunc="first") if not frame.empty else frame
        if frame.empty or 0 not in by_rep.columns or every not in by_rep.columns:
            return Cell(None, reason=why_missing(results, engine, Snapshots.name, {"length": length, "snapshot_every": every}))
        ratios = (by_rep[0] / by_rep[every]).dropna().tolist()
        summary = stats.summarize(ratios)
        return Cell(summary.median, ",".join(sorted(set(frame["run_id"]))), summary.ci_low, summary.ci_high, summary.n, summary.unstable)

    return pick


def columns(p: OperatingPoints) -> list[Source]:
    return [
        Source(f"snapshot speed-up @ {p.stream_length:,} events, N = {p.snapshot_every}", Snapshots, "load_time_p50",
               f"snapshots: warm load p50 without snapshots / with a snapshot every {p.snapshot_every}, stream of {p.stream_length:,} events "
               "(median of the repetitions' ratios)",
               _snapshot_speedup(p.stream_length, p.snapshot_every), unit="x", better="higher", key="snapshot_speedup"),
    ]
