"""Run workloads against engines and write their records.

For each engine: start it (or record why it cannot be measured), probe one store for its
version and capabilities, run every case with a progress bar, and write each measurement as soon
as it exists. Ctrl-C stops after the current call: the records written so far stay valid, and the
interrupted engine is recorded as ``interrupted``.
"""
from __future__ import annotations

import sys
import tempfile
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import engines as engine_registry
from . import environment
from .records import RecordWriter, new_run_id, now_iso, SCHEMA_VERSION
from .workloads import WORKLOADS, Measurement, Workload


@dataclass
class EngineOutcome:
    engine: str
    status: str  # measured, not_measured, interrupted
    reason: str | None = None
    records: int = 0
    failed_cases: int = 0
    skipped_cases: int = 0
    elapsed_s: float = 0.0


@dataclass
class RunSummary:
    """What one ``run_workload`` call did; ``records_path`` holds its records."""

    run_id: str
    workload: str
    results_dir: Path
    records_path: Path
    outcomes: list[EngineOutcome] = field(default_factory=list)
    interrupted: bool = False

    def __str__(self) -> str:
        lines = [f"{self.workload} (run {self.run_id}) -> {self.records_path}"]
        for o in self.outcomes:
            detail = f"{o.records} records in {o.elapsed_s:.1f} s" + (f", {o.failed_cases} failed cases" if o.failed_cases else "")
            detail += f", {o.skipped_cases} cases skipped (time budget)" if o.skipped_cases else ""
            lines.append(f"  {o.engine:<15} {o.status:<13} {o.reason or detail}")
        if self.interrupted:
            lines.append("  interrupted: records up to the interruption are kept")
        return "\n".join(lines)


def run_workload(
    workload: str,
    params: dict[str, Any] | None = None,
    *,
    engines: str | list[str] | None = "default",
    results_dir: str | Path = "results/scratch",
    run_id: str | None = None,
    progress: bool = True,
) -> RunSummary:
    """Run one workload on each engine and append its records to ``<results_dir>/records/<workload>.jsonl``.

    Parameters:
        workload: a name from ``bench.workloads.WORKLOADS``.
        params: the workload's parameters (its ``Params`` fields); defaults are the report's sizes.
        engines: engine names, a comma-separated string, ``"default"`` or ``"all"``.
        results_dir: where records and ``environment.json`` go; created if missing.
        run_id: the run these records belong to; a new one when None.
        progress: show a tqdm progress bar per engine.
    """
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; known: {', '.join(WORKLOADS)}")
    instance = WORKLOADS[workload](params)
    names = engine_registry.resolve(engines)
    results_dir = Path(results_dir)
    summary = RunSummary(run_id or new_run_id(), workload, results_dir, results_dir / "records" / f"{workload}.jsonl")
    environment.update(results_dir)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, RecordWriter(summary.records_path) as writer:
        services = engine_registry.Services(Path(tmp))
        try:
            for name in names:
                outcome = EngineOutcome(name, "interrupted")
                summary.outcomes.append(outcome)
                _run_engine(instance, name, services, writer, summary, outcome, progress)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            services.close()
    return summary


def run_all(workloads: Iterable[str] | None = None, params: dict[str, dict[str, Any]] | None = None, **options: Any) -> list[RunSummary]:
    """Run several workloads (all by default) under one run id; ``params`` maps workload to its params."""
    options.setdefault("run_id", new_run_id())
    summaries = []
    for name in workloads or WORKLOADS:
        summary = run_workload(name, (params or {}).get(name), **options)
        summaries.append(summary)
        if summary.interrupted:
            break
    return summaries


def _run_engine(workload: Workload, name: str, services: Any, writer: RecordWriter, summary: RunSummary, outcome: EngineOutcome, progress: bool) -> None:
    started = time.monotonic()
    base = {"schema_version": SCHEMA_VERSION, "run_id": summary.run_id, "workload": workload.name, "engine": name}
    status: dict[str, Any] = {}
    try:
        with engine_registry.started(name, services) as handle:
            if workload.needs_cross_process and not handle.cross_process:
                raise engine_registry.NotMeasured(f"{name} stores live inside one process; this workload needs a consumer in another process")
            info, capabilities, extra = engine_registry.probe(handle)
            settings = {**handle.settings, **extra}
            environment.update(summary.results_dir, {name: settings})
            stamp = {**base, "backend": info.backend, "product": info.engine, "engine_version": info.version, "emulator": bool(info.emulator), "mode": info.mode}
            status = {**stamp, "settings": settings, "capabilities": capabilities.as_dict()}
            budget = workload.params.budget_s
            workload.deadline = started + budget if budget is not None else None
            workload.open(handle)
            try:
                cases = workload.cases()
                label = f"{workload.name} on {name}" + (" (emulator)" if info.emulator else "")
                for case in tqdm(cases, desc=label, disable=not progress, file=sys.stderr, leave=False):
                    spent = time.monotonic() - started
                    if budget is not None and spent > budget:
                        outcome.skipped_cases += 1
                        writer.write(_record(stamp, _skipped(case, f"skipped: {name} used its {budget:g} s budget for {workload.name} ({spent:.0f} s spent)")))
                        continue
                    outcome.records += _run_case(workload, case, stamp, writer, outcome)
            finally:
                workload.close()
        outcome.status = "measured"
    except engine_registry.NotMeasured as exc:
        outcome.status, outcome.reason = "not_measured", str(exc)
    except KeyboardInterrupt:
        outcome.status, outcome.reason = "interrupted", "stopped by Ctrl-C; records before it are kept"
        raise
    except Exception as exc:  # the engine broke outside a case (start-up, open): report, go on
        outcome.status, outcome.reason = "not_measured", f"failed: {type(exc).__name__}: {exc}"[:500]
    finally:
        outcome.elapsed_s = time.monotonic() - started
        writer.write({
            **base, "kind": "engine", "status": outcome.status, "reason": outcome.reason, "recorded_at": now_iso(),
            "elapsed_s": outcome.elapsed_s, **{k: v for k, v in status.items() if k not in base},
        })


def _run_case(workload: Workload, case: dict[str, Any], stamp: dict[str, Any], writer: RecordWriter, outcome: EngineOutcome) -> int:
    """Run one case, writing each measurement as it comes; a failing case becomes an ``error`` record."""
    written = 0
    try:
        for m in workload.run_case(case):
            writer.write(_record(stamp, m))
            written += 1
    except Exception as exc:
        outcome.failed_cases += 1
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        print(f"bench: {workload.name} on {stamp['engine']}, case {case}: {detail}", file=sys.stderr)
        point = {k: v for k, v in case.items() if k != "repetition"}
        writer.write(_record(stamp, Measurement("error", 1.0, "flag", point, case.get("repetition"), note=detail[:1000])))
        written += 1
    return written


def _skipped(case: dict[str, Any], reason: str) -> Measurement:
    return Measurement("skipped", 1.0, "flag", {k: v for k, v in case.items() if k != "repetition"}, case.get("repetition"), note=reason)


def _record(stamp: dict[str, Any], m: Measurement) -> dict[str, Any]:
    return {
        **stamp, "kind": "measurement", "params": m.params, "metric": m.metric, "value": m.value, "unit": m.unit,
        "repetition": m.repetition, "hdr": m.hdr, "note": m.note, "recorded_at": now_iso(),
    }
