"""Run workloads against engines and write their records.

For each engine: start it (or record why it cannot be measured), probe one store for its
version and capabilities, run every case with a progress bar, and write each measurement as soon
as it exists. Ctrl-C stops after the current call: the records written so far stay valid, and the
interrupted engine is recorded as ``interrupted``.
"""
from __future__ import annotations

import math
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import engines as engine_registry
from . import environment, stats
from .params import ConvergingParams, ParameterError
from .records import PROFILES, SCHEMA_VERSION, RecordWriter, new_run_id, now_iso
from .workload import Measurement, Workload


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
    profile: str = "decision"
    outcomes: list[EngineOutcome] = field(default_factory=list)
    interrupted: bool = False

    def __str__(self) -> str:
        profile = "" if self.profile == "decision" else f", {self.profile} profile: not for decisions"
        lines = [f"{self.workload} (run {self.run_id}{profile}) -> {self.records_path}"]
        for o in self.outcomes:
            detail = f"{o.records} records in {o.elapsed_s:.1f} s" + (f", {o.failed_cases} failed cases" if o.failed_cases else "")
            detail += f", {o.skipped_cases} cases skipped (time budget)" if o.skipped_cases else ""
            lines.append(f"  {o.engine:<15} {o.status:<13} {o.reason or detail}")
        if self.interrupted:
            lines.append("  interrupted: records up to the interruption are kept")
        return "\n".join(lines)


def run(
    instance: Workload[Any],
    *,
    engines: str | list[str] | None = "default",
    results_dir: str | Path = "results/scratch",
    run_id: str | None = None,
    progress: bool = True,
    profile: str = "decision",
) -> RunSummary:
    """Run one workload on each engine and append its records to ``<results_dir>/records/<workload>.jsonl``.

    Parameters:
        instance: the workload with its parameters (``bench.workloads.run_workload`` makes it from a name).
        engines: engine names, a comma-separated string, ``"default"`` or ``"all"``.
        results_dir: where records and ``environment.json`` go; created if missing.
        run_id: the run these records belong to; a new one when None.
        progress: show a tqdm progress bar per engine.
        profile: the parameter profile the run uses, stamped on every record: a run of any profile
            but ``decision`` is a smoke-sized run, and every page says so.
    """
    if profile not in PROFILES:
        raise ParameterError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    names = engine_registry.resolve(engines)
    results_dir = Path(results_dir)
    workload = instance.name
    summary = RunSummary(run_id or new_run_id(), workload, results_dir, results_dir / "records" / f"{workload}.jsonl", profile=profile)
    environment.update(results_dir)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, RecordWriter(summary.records_path) as writer:
        services = engine_registry.Servers(Path(tmp))
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


def _run_engine(workload: Workload, name: str, services: Any, writer: RecordWriter, summary: RunSummary, outcome: EngineOutcome, progress: bool) -> None:
    started = time.monotonic()
    base = {"schema_version": SCHEMA_VERSION, "run_id": summary.run_id, "workload": workload.name, "engine": name, "profile": summary.profile}
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
                seen = _Convergence(workload)
                with tqdm(cases, desc=label, disable=not progress, file=sys.stderr, leave=False) as bar:
                    for case in bar:
                        spent = time.monotonic() - started
                        if budget is not None and spent > budget:
                            outcome.skipped_cases += 1
                            writer.write(_record(stamp, _skipped(case, f"skipped: {name} used its {budget:g} s budget for {workload.name} ({spent:.0f} s spent)"), workload))
                            continue
                        outcome.records += _run_case(workload, case, stamp, writer, outcome, seen)
                    # Then more repetitions, one per round to every point not yet known well enough.
                    while (more := seen.pending()) and workload.time_left() > 0:
                        bar.total += len(more)
                        for case in more:
                            if workload.time_left() <= 0:
                                break
                            outcome.records += _run_case(workload, case, stamp, writer, outcome, seen)
                            bar.update()
                for m in seen.verdicts(budget_left=workload.time_left() > 0):
                    writer.write(_record(stamp, m, workload))
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


class _Convergence:
    """The values of a workload's ``converge_on`` metrics per point, and which points need more
    repetitions: those whose median's 95 % CI is not yet within ``stats.CI_TARGET``."""

    def __init__(self, workload: Workload) -> None:
        self.metrics = workload.converge_on
        params = workload.params
        self.cap = params.max_repetitions if isinstance(params, ConvergingParams) else params.repetitions
        #: case point -> (metric, the measurement's own point) -> values over repetitions
        self.values: dict[Point, dict[tuple[str, Point], list[float]]] = {}
        self.repetitions: dict[Point, int] = {}

    def add(self, case: dict[str, Any], m: Measurement) -> None:
        if m.metric in self.metrics and m.value is not None:
            self.values.setdefault(_point(case), {}).setdefault((m.metric, _point(m.params)), []).append(m.value)

    def ran(self, case: dict[str, Any]) -> None:
        point = _point(case)
        self.repetitions[point] = max(self.repetitions.get(point, 0), case.get("repetition", 0) + 1)

    def pending(self) -> list[dict[str, Any]]:
        """One more repetition of every point below the cap whose figures are not yet known."""
        return [
            {**dict(point), "repetition": done}
            for point, done in self.repetitions.items()
            if done < self.cap and any(stats.summarize(v).unstable for v in self._of(point).values())
        ]

    def verdicts(self, budget_left: bool) -> list[Measurement]:
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
                    why = "the cap" if done >= self.cap else "the budget"
                    if summary.n < 2:  # one value shows no spread: its CI is unknown, not zero
                        ci = math.nan
                        note = f"UNSTABLE: one repetition, so no CI (stopped by {why}; target ±{stats.CI_TARGET:.0%})"
                    else:
                        note = f"UNSTABLE: 95 % CI reaches ±{ci:.1%} after {summary.n} repetitions (stopped by {why}; target ±{stats.CI_TARGET:.0%})"
                out.append(Measurement("ci95_relative", ci if math.isfinite(ci) else None, {**dict(where), "of": metric}, None, note=note))
        return out

    def _of(self, point: Point) -> dict[tuple[str, Point], list[float]]:
        """The values of each converging metric at ``point``; a metric never recorded there is empty
        (and so unstable: a point that measured nothing is not known)."""
        found = self.values.get(point, {})
        recorded = {metric for metric, _ in found}
        return {**found, **{(metric, point): [] for metric in self.metrics if metric not in recorded}}


Point = tuple[tuple[str, Any], ...]


def _point(case: dict[str, Any]) -> Point:
    return tuple(sorted((k, v) for k, v in case.items() if k != "repetition"))


def _run_case(workload: Workload, case: dict[str, Any], stamp: dict[str, Any], writer: RecordWriter, outcome: EngineOutcome, seen: _Convergence) -> int:
    """Run one case, writing each measurement as it comes; a failing case becomes an ``error`` record,
    and so does a measurement of a metric the workload did not declare (``UndeclaredMetric``)."""
    written = 0
    seen.ran(case)
    try:
        for m in workload.run_case(case):
            writer.write(_record(stamp, m, workload))
            seen.add(case, m)
            written += 1
    except Exception as exc:
        outcome.failed_cases += 1
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        print(f"bench: {workload.name} on {stamp['engine']}, case {case}: {detail}", file=sys.stderr)
        point = {k: v for k, v in case.items() if k != "repetition"}
        writer.write(_record(stamp, Measurement("error", 1.0, point, case.get("repetition"), note=detail[:1000]), workload))
        written += 1
    return written


def _skipped(case: dict[str, Any], reason: str) -> Measurement:
    return Measurement("skipped", 1.0, {k: v for k, v in case.items() if k != "repetition"}, case.get("repetition"), note=reason)


def _record(stamp: dict[str, Any], m: Measurement, workload: Workload) -> dict[str, Any]:
    """The record of ``m``, its unit from the workload's declaration (an undeclared metric or point
    dimension is refused)."""
    workload.by(*m.params)
    return {
        **stamp, "kind": "measurement", "params": m.params, "metric": m.metric, "value": m.value, "unit": workload.metric(m.metric).unit,
        "repetition": m.repetition, "hdr": m.hdr, "note": m.note, "recorded_at": now_iso(),
    }
