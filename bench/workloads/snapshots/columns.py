"""The matrix column snapshots feeds: the load speed-up a snapshot every N buys on a long stream."""
from __future__ import annotations

from bench.harness import stats
from bench.harness.columns import Cell, OperatingPoints, Pick, Source, select_point, why_missing
from bench.harness.metrics import Metric
from bench.harness.results import Results

from .workload import Snapshots


def _snapshot_speedup(length: int, every: int) -> Pick:
    """The warm load speed-up a snapshot every ``every`` buys on a stream of ``length`` events: the
    ratio of the medians of paired loads with its CI over the pairs (one repetition), or the median over
    repetitions with their bootstrap CI (several)."""
    def pick(results: Results, engine: str, metric: Metric) -> Cell:
        frame = select_point(results.of(Snapshots.name), engine, {"length": length, "snapshot_every": every, "cache": "warm"})
        rows = frame[frame["metric"] == metric.name].dropna(subset=["value"]) if not frame.empty else frame
        if rows.empty:
            return Cell(None, reason=why_missing(results, engine, Snapshots.name, {"length": length, "snapshot_every": every}))
        run_id = ",".join(sorted(set(rows["run_id"])))
        samples = {int(r): float(v) for r, v in zip(rows["repetition"], rows["value"], strict=True)}
        if len(rows) > 1:
            summary = stats.summarize(rows["value"].tolist())
            return Cell(summary.median, run_id, summary.ci_low, summary.ci_high, summary.n, summary.unstable, samples=samples)
        value = float(rows["value"].iloc[0])
        bounds = {m: frame[frame["metric"] == m]["value"].dropna() for m in (f"{metric.name}_ci_low", f"{metric.name}_ci_high", "load_pairs")}
        low, high, pairs = (float(b.iloc[0]) if not b.empty else None for b in bounds.values())
        half = max(high - value, value - low) / value if low is not None and high is not None and value else None
        unstable = half is None or half > stats.CI_TARGET
        return Cell(value, run_id, low, high, int(pairs or 1), unstable, samples=samples)

    return pick


def columns(p: OperatingPoints) -> list[Source]:
    return [
        Source(f"snapshot speed-up @ {p.stream_length:,} events, N = {p.snapshot_every}", Snapshots, "load_speedup",
               f"snapshots: warm load time without a snapshot / with a snapshot every {p.snapshot_every}, stream of {p.stream_length:,} events "
               "(ratio of the medians of paired loads, CI over the pairs)",
               _snapshot_speedup(p.stream_length, p.snapshot_every), key="snapshot_speedup",
               point={"length": p.stream_length, "snapshot_every": p.snapshot_every, "cache": "warm"}, converge=False),
    ]
