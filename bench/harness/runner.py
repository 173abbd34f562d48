"""Run a workload against engines and write its records.

For each engine: start it (or record why it cannot be measured), probe one store for its version
and capabilities, run every case with a progress bar, and write each measurement as soon as it
exists. Ctrl-C stops after the current call: the records written so far stay valid, and the
interrupted engine is recorded as ``interrupted``.

With ``targets`` (the matrix's operating points, ``convergence.Target``) the budget goes to what
decides first: every engine is started and opened at once, and the target points are measured in
rounds, engines in turn (A, B, C, A, B, C ...), one repetition per round, until each is known or
capped (their extra repetitions take at most ``MATRIX_SHARE`` of an engine's budget), so that slow
drift of a shared machine hits every engine alike and repetition k of two engines comes from the
same round (a ratio between them can be taken per round). Then each engine runs the rest of its
grid (the sweeps behind the figures) with the time it has left. Each engine
spends its own ``budget_s``: the time of its own cases, not the others' rounds. An engine that
competes for no verdict (an emulator, a naive design) gets ``reference_share`` of it.
"""
from __future__ import annotations

import sys
import tempfile
import time
import traceback
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from . import engines as engine_registry
from . import environment
from .convergence import Convergence, Target, point_of
from .params import ParameterError
from .records import PROFILES, SCHEMA_VERSION, RecordWriter, new_run_id, now_iso
from .workload import Measurement, Workload

#: The share of an engine's budget its extra repetitions at the matrix's points may take: the rest is
#: kept for the sweeps behind the figures (which also get whatever the points leave).
MATRIX_SHARE = 0.8


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
    targets: Iterable[Target] = (),
) -> RunSummary:
    """Run one workload on each engine and append its records to ``<results_dir>/records/<workload>.jsonl``.

    Parameters:
        instance: the workload with its parameters (``bench.workloads.run_workload`` makes it from a name).
        engines: engine names, a comma-separated string, ``"default"`` or ``"all"``.
        results_dir: where records and ``environment.json`` go; created if missing.
        run_id: the run these records belong to; a new one when None.
        progress: show a tqdm progress bar.
        profile: the parameter profile the run uses, stamped on every record: a run of any profile
            but ``decision`` is a smoke-sized run, and every page says so.
        targets: the matrix's operating points this workload measures: with any, engines run in
            interleaved rounds over them first (see the module's docstring); without, one after another.
    """
    if profile not in PROFILES:
        raise ParameterError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    names = engine_registry.resolve(engines)
    results_dir = Path(results_dir)
    workload = instance.name
    summary = RunSummary(run_id or new_run_id(), workload, results_dir, results_dir / "records" / f"{workload}.jsonl", profile=profile)
    environment.update(results_dir)
    targets = [t for t in targets if any(t.matches(case) for case in instance.cases())]
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, RecordWriter(summary.records_path) as writer, ExitStack() as stack:
        services = engine_registry.Servers(Path(tmp))
        stack.callback(services.close)
        bar = stack.enter_context(tqdm(desc=workload, total=0, disable=not progress, file=sys.stderr, leave=False))
        run = _Run(instance, summary, writer, services, targets, bar)
        try:
            if targets:
                run.interleaved(names)
            else:
                for name in names:
                    run.one_after_another(name)
        except KeyboardInterrupt as exc:
            summary.interrupted = True
            run.close("stopped by Ctrl-C; records before it are kept", exc)
        except BaseException as exc:
            run.close(f"the run failed: {type(exc).__name__}: {exc}"[:500], exc)
            raise
    return summary


class _Engine:
    """One engine's part of a run: its deployment, its own workload instance, what it spent, what it recorded."""

    def __init__(self, name: str, workload: Workload[Any], outcome: EngineOutcome, base: dict[str, Any]) -> None:
        self.name, self.workload, self.outcome, self.base = name, workload, outcome, base
        self.stack = ExitStack()
        self.stamp: dict[str, Any] = {}
        self.status: dict[str, Any] = {}
        self.spent = 0.0
        self.began = time.monotonic()
        self.seen: Convergence | None = None
        #: The share of ``budget_s`` this engine may spend (``reference_share`` when it competes for no verdict).
        self.share = 1.0
        self.open = False
        self.finished = False

    @property
    def budget(self) -> float | None:
        budget = self.workload.params.budget_s
        return None if budget is None else budget * self.share

    def left(self) -> float:
        return float("inf") if self.budget is None else self.budget - self.spent


class _Run:
    def __init__(self, instance: Workload[Any], summary: RunSummary, writer: RecordWriter, services: Any, targets: list[Target], bar: Any) -> None:
        self.instance, self.summary, self.writer, self.services, self.targets, self.bar = instance, summary, writer, services, targets, bar
        self.engines: list[_Engine] = []

    # -- the two orders ----------------------------------------------------------------------------

    def one_after_another(self, name: str) -> None:
        engine = self._start(name)
        if engine.open:
            cases = engine.workload.cases()
            self.bar.total += len(cases)
            self._cases(engine, cases)
            self._converge(engine)
        self._finish(engine)

    def interleaved(self, names: list[str]) -> None:
        started = [self._start(name) for name in names]
        running = [e for e in started if e.open]
        for engine in started:
            if not engine.open:
                self._finish(engine)
        first = {e.name: [c for c in e.workload.cases() if e.seen is not None and e.seen.decisive(c)] for e in running}
        for engine in running:
            self.bar.total += len(engine.workload.cases())
        # The operating points, in rounds: every engine's repetition k before any engine's k + 1.
        rounds = max((c["repetition"] for cases in first.values() for c in cases), default=-1) + 1
        for k in range(rounds):
            for engine in running:
                self._cases(engine, [c for c in first[engine.name] if c["repetition"] == k])
        while True:
            ran = False
            for engine in running:
                assert engine.seen is not None
                more = engine.seen.pending({point_of(c) for c in first[engine.name]})
                if more and engine.left() > 0 and (engine.budget is None or engine.spent < MATRIX_SHARE * engine.budget):
                    self.bar.total += len(more)
                    self._cases(engine, more)
                    ran = True
            if not ran:
                break
        # Then the sweeps, engine by engine, with the time each has left.
        for engine in running:
            self._cases(engine, [c for c in engine.workload.cases() if c not in first[engine.name]])
            self._converge(engine)
            self._finish(engine)

    # -- one engine ----------------------------------------------------------------------------------

    def _start(self, name: str) -> _Engine:
        """Deploy, probe and open ``name``; an engine that cannot be measured says why at ``_finish``."""
        outcome = EngineOutcome(name, "interrupted")
        self.summary.outcomes.append(outcome)
        base = {"schema_version": SCHEMA_VERSION, "run_id": self.summary.run_id, "workload": self.instance.name, "engine": name, "profile": self.summary.profile}
        engine = _Engine(name, type(self.instance)(self.instance.params), outcome, base)
        self.engines.append(engine)
        try:
            handle = engine.stack.enter_context(engine_registry.started(name, self.services))
            if engine.workload.needs_cross_process and not handle.cross_process:
                raise engine_registry.NotMeasured(f"{name} stores live inside one process; this workload needs a consumer in another process")
            info, capabilities, extra = engine_registry.probe(handle)
            settings = {**handle.settings, **extra}
            environment.update(self.summary.results_dir, {name: settings})
            engine.stamp = {**base, "backend": info.backend, "product": info.engine, "engine_version": info.version, "emulator": bool(info.emulator), "mode": info.mode}
            engine.status = {**engine.stamp, "settings": settings, "capabilities": capabilities.as_dict()}
            competes = not info.emulator and info.mode != "naive"
            engine.seen = Convergence(engine.workload, self.targets, competes=competes)
            engine.share = 1.0 if competes else engine.workload.params.reference_share
            with self._timed(engine):
                engine.workload.open(handle)
            engine.stack.callback(engine.workload.close)
            engine.open = True
        except engine_registry.NotMeasured as exc:
            outcome.status, outcome.reason = "not_measured", str(exc)
        except Exception as exc:  # the engine broke outside a case (start-up, open): report, go on
            outcome.status, outcome.reason = "not_measured", f"failed: {type(exc).__name__}: {exc}"[:500]
        return engine

    def _cases(self, engine: _Engine, cases: list[dict[str, Any]]) -> None:
        """Run ``cases`` on ``engine``; once its budget is spent, the rest are recorded as skipped."""
        for case in cases:
            self.bar.set_postfix_str(engine.name, refresh=False)
            if engine.left() <= 0:
                engine.outcome.skipped_cases += 1
                reason = f"skipped: {engine.name} used its {engine.budget:g} s budget for {engine.workload.name} ({engine.spent:.0f} s spent)"
                if engine.share < 1:
                    reason += f"; as an emulator or a naive design it competes for no verdict, so it gets {engine.share:.0%} of budget_s"
                self.writer.write(_record(engine.stamp, _skipped(case, reason), engine.workload))
            else:
                with self._timed(engine):
                    engine.outcome.records += _run_case(engine, case, self.writer)
            self.bar.update()

    def _converge(self, engine: _Engine) -> None:
        """More repetitions, one per round to every point not yet known well enough, while time is left."""
        assert engine.seen is not None
        while (more := engine.seen.pending()) and engine.left() > 0:
            self.bar.total += len(more)
            self._cases(engine, more)

    def _finish(self, engine: _Engine, stopped_by: BaseException | None = None) -> None:
        """Close the engine and write its convergence and status records. ``stopped_by``: the exception
        that stopped the run, which the engine's deployment sees on its way out, as a ``with`` block
        would show it (a throwaway server that Ctrl-C stopped too is then not asked to drop its stores)."""
        if engine.finished:
            return
        engine.finished = True
        try:
            if stopped_by is None:
                engine.stack.close()
            else:
                engine.stack.__exit__(type(stopped_by), stopped_by, stopped_by.__traceback__)
            if engine.open:
                assert engine.seen is not None
                for m in engine.seen.verdicts():
                    self.writer.write(_record(engine.stamp, m, engine.workload))
                engine.outcome.status = "measured"
        except Exception as exc:  # closing or dropping its stores failed: its records stand, the status says why
            engine.outcome.status, engine.outcome.reason = "not_measured", f"failed while closing: {type(exc).__name__}: {exc}"[:500]
        finally:
            engine.outcome.elapsed_s = time.monotonic() - engine.began
            self.writer.write({
                **engine.base, "kind": "engine", "status": engine.outcome.status, "reason": engine.outcome.reason, "recorded_at": now_iso(),
                "elapsed_s": engine.outcome.elapsed_s, "spent_s": engine.spent, **{k: v for k, v in engine.status.items() if k not in engine.base},
            })

    def close(self, reason: str, stopped_by: BaseException) -> None:
        """Finish every engine not finished yet, as interrupted for ``reason`` (an engine that was never
        measured keeps its own reason). An interrupted engine writes no convergence verdicts."""
        for engine in self.engines:
            if not engine.finished:
                if engine.open or engine.outcome.status == "interrupted":
                    engine.outcome.status, engine.outcome.reason = "interrupted", reason
                engine.open = False
                self._finish(engine, stopped_by)

    @staticmethod
    def _timed(engine: _Engine) -> Any:
        """A context that adds its duration to ``engine.spent`` and points the workload's deadline at its budget's end."""
        return _Spending(engine)


class _Spending:
    def __init__(self, engine: _Engine) -> None:
        self.engine = engine

    def __enter__(self) -> None:
        self.began = time.monotonic()
        left = self.engine.left()
        self.engine.workload.deadline = None if left == float("inf") else self.began + left

    def __exit__(self, *exc: object) -> None:
        self.engine.spent += time.monotonic() - self.began


def _run_case(engine: _Engine, case: dict[str, Any], writer: RecordWriter) -> int:
    """Run one case, writing each measurement as it comes; a failing case becomes an ``error`` record,
    and so does a measurement of a metric or point the workload did not declare (``UndeclaredMetric``)."""
    workload, stamp, seen = engine.workload, engine.stamp, engine.seen
    assert seen is not None
    written = 0
    seen.ran(case)
    try:
        for m in workload.run_case(case):
            writer.write(_record(stamp, m, workload))
            seen.add(case, m)
            written += 1
    except Exception as exc:
        engine.outcome.failed_cases += 1
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        print(f"bench: {workload.name} on {stamp['engine']}, case {case}: {detail}", file=sys.stderr)
        point = {k: v for k, v in case.items() if k != "repetition"}
        writer.write(_record(stamp, Measurement("error", 1.0, point, case.get("repetition"), note=detail[:1000]), workload))
        written += 1
    return written


def _skipped(case: dict[str, Any], reason: str) -> Measurement:
    return Measurement("skipped", 1.0, {k: v for k, v in case.items() if k != "repetition"}, case.get("repetition"), note=reason)


def _record(stamp: dict[str, Any], m: Measurement, workload: Workload[Any]) -> dict[str, Any]:
    """The record of ``m``, its unit from the workload's declaration (an undeclared metric or point
    dimension is refused)."""
    workload.by(*m.params)
    return {
        **stamp, "kind": "measurement", "params": m.params, "metric": m.metric, "value": m.value, "unit": workload.metric(m.metric).unit,
        "repetition": m.repetition, "hdr": m.hdr, "note": m.note, "recorded_at": now_iso(),
    }
