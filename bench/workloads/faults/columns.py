"""The matrix column faults feeds: acknowledged appends lost in crashes under durable settings."""
from __future__ import annotations

from bench.harness.columns import Cell, OperatingPoints, Source, why_missing
from bench.harness.metrics import Metric
from bench.harness.results import Results

from .tables import faults_summary
from .workload import Faults


def _crash_losses(results: Results, engine: str, metric: Metric) -> Cell:
    """Acknowledged appends lost over every crash under the engine's durable settings (the faults
    workload); not measured when no crash could be injected under them, with the reason."""
    table = faults_summary(results)
    rows = table[(table["engine"] == engine) & (table["durable"] == True)] if not table.empty else table  # noqa: E712 (a column of bools)
    if rows.empty:
        return Cell(None, reason=why_missing(results, engine, "faults", {}))
    if not rows["crashes"].fillna(0).sum():
        why = next((str(n) for n in rows["not_measured"] if isinstance(n, str) and n), "no crash was injected")
        return Cell(None, reason=f"not measured: {why}")
    faults = results.of("faults")
    runs = ",".join(sorted(set(faults[faults["engine"] == engine]["run_id"])))
    return Cell(float(rows["lost"].fillna(0).sum()), runs)


def columns(p: OperatingPoints) -> list[Source]:
    return [
        Source("lost in crashes, durable settings", Faults, "lost",
               "faults: acknowledged appends missing after every engine crash (SIGKILL and restart) under the engine's durable settings (must be 0)",
               _crash_losses, key="crash_losses"),
    ]
