"""Subscription resume: a consumer process is killed with SIGKILL at random points and restarted,
while several writers keep appending concurrently.

The consumer (``bench.workloads.resume.consumer``) logs every event it handles. At the end the writers stop,
a last consumer catches up, and the log is compared with the store's final ``read_all``:

- missed: an event in the store the consumer never handled. It must be 0 for a gap-safe store.
  Each miss is attributed to the consumer run that first moved past its position.
- repeated: an event handled again after a restart; at-least-once delivery bounds it by the
  checkpoint interval, per restart.
- catch-up time: from the consumer's store being open to having handled everything visible; and
  from the process being started (what a restart really costs: start-up, joining, reading the
  checkpoint) to the same point.

Writers append to the store concurrently (each with its own connection), so commits land out of
position order: the case the textbook sequence design gets wrong.
"""
from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness.metrics import EVERY_ENGINE, Dimension, Metric
from bench.harness.params import ParameterError, Params, param
from bench.harness.workload import Measurement, Workload, read_everything
from eventstore import EventStore, NewEvent

CONSUMER = "resume-consumer"


@dataclass(frozen=True)
class ResumeParams(Params):
    budget_s: float | None = param(15.0, "seconds one engine may spend; later repetitions are recorded as skipped")
    kills: int = param(4, "SIGKILLs of the consumer per repetition (it is restarted after each)")
    kill_after_s: tuple[float, float] = param((0.2, 1.0), "a kill comes uniformly within this many seconds after the consumer opened its store")
    writers: int = param(8, "concurrent writer threads, each with its own connection")
    appends_per_s: float = param(100.0, "appends per second per writer")
    max_batch: int = param(3, "events per append, uniform from 1 to this")
    streams: int = param(20, "streams the writers append to")
    checkpoint_every: int = param(20, "the consumer saves its checkpoint after this many events (and whenever it goes idle)")
    batch_size: int = param(50, "events the consumer reads per query")
    poll_interval_s: float = param(0.05, "longest wait between polls when the engine does not push")
    start_timeout_s: float = param(30.0, "longest wait for a consumer process to open its store before it is killed anyway")
    final_timeout_s: float = param(120.0, "longest wait for the final consumer to catch up after the writers stop")

    def check(self) -> None:
        super().check()
        low, high = self.kill_after_s
        if self.kills < 1 or self.writers < 1 or not 0 <= low <= high or self.appends_per_s <= 0:
            raise ParameterError("kills >= 1, writers >= 1, 0 <= kill_after_s[0] <= kill_after_s[1], appends_per_s > 0")
        if self.max_batch < 1 or self.streams < 1 or self.checkpoint_every < 1 or self.batch_size < 1:
            raise ParameterError("max_batch, streams, checkpoint_every and batch_size must be >= 1")


@dataclass
class ConsumerLog:
    """The parsed log of every consumer run, in start order."""

    segments: list[list[tuple[Any, str]]] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    caught_up: dict[int, float] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> ConsumerLog:
        log = cls()
        text = path.read_text()
        lines = text.splitlines()
        if lines and not text.endswith("\n"):
            lines.pop()  # read while the consumer is writing: the last line is not complete yet
        for raw in lines:
            kind, _, rest = raw.partition(" ")
            if kind == "S":
                log.segments.append([])
                log.started.append(float(rest))
            elif kind == "E" and log.segments:
                position, _, event_id = rest.rpartition(" ")
                log.segments[-1].append((_position(json.loads(position)), event_id))
            elif kind == "C" and log.segments:
                log.caught_up[len(log.segments) - 1] = float(rest.split()[0])
        return log


def _position(value: Any) -> Any:
    return tuple(_position(v) for v in value) if isinstance(value, list) else value


class Resume(Workload[ResumeParams]):
    name = "resume"
    title = "Subscription resume"
    rank = 30
    params_type = ResumeParams
    needs_cross_process = True
    dimensions = (
        Dimension("writers", "writers appending while the consumer runs", "writers"),
        Dimension("kills", "consumer kills per repetition", "kills"),
        Dimension("checkpoint_every", "events between the consumer's checkpoints", "events"),
        Dimension("appends_per_s", "appends per second per writer", "appends/s"),
        Dimension("consumer_run", "which start of the consumer (0: the first)"),
        Dimension("run_kind", "killed, or the final catch-up"),
    )
    metrics = (
        Metric("events_written", "events", "events whose append was acknowledged (the note holds a writer's error)"),
        Metric("events_in_store", "events", "events in the store at the end"),
        Metric("acknowledged_not_stored", "events", "acknowledged appends missing from the store", "lower", rule=EVERY_ENGINE),
        Metric("events_handled", "events", "events the consumer handled, repeats included"),
        Metric("missed_events", "events", "events a resumed subscriber never handled", "lower", rule="gap_safe_global_order"),
        Metric("repeated_events", "events", "events handled again after a restart", "lower"),
        Metric("handled_not_in_store", "events", "handled events that are not in the store", "lower", rule=EVERY_ENGINE),
        Metric("consumer_runs", "runs", "consumer processes started, the final catch-up included"),
        Metric("max_repeats_per_restart", "events", "most events handled again after one restart", "lower"),
        Metric("restarts_over_bound", "restarts", "restarts after which more events were handled again than the checkpoint interval", "lower", rule=EVERY_ENGINE),
        Metric("missed_per_run", "events", "missed events charged to the consumer run that first read past them", "lower"),
        Metric("repeats_per_run", "events", "events a consumer run handled again", "lower"),
        Metric("catch_up_time", "us", "time from the consumer's store being open to having handled everything visible", "lower"),
        Metric("restart_to_caught_up", "us", "time from the consumer process being started to having handled everything visible", "lower"),
    )

    def cases(self) -> list[dict[str, Any]]:
        return [{"repetition": r} for r in range(self.params.repetitions)]

    def run_case(self, case: dict[str, Any]) -> Iterator[Measurement]:
        p = self.params
        rep = case["repetition"]
        url = self.stores.new_url(f"resume{rep}")
        rng = random.Random(f"{p.seed}/{rep}")
        store = self.stores.connect(url)  # opened first: creates the schema, table or topics
        point = {"writers": p.writers, "kills": p.kills, "checkpoint_every": p.checkpoint_every, "appends_per_s": p.appends_per_s}
        with tempfile.TemporaryDirectory(prefix="resume-") as tmp:
            logfile = Path(tmp) / "consumer.log"
            errfile = Path(tmp) / "consumer.err"
            writers = _Writers(self.stores, url, p, rng.random())
            notes: list[str] = []
            spawned: list[float] = []
            try:
                writers.start()
                for run in range(p.kills):
                    if run and self.time_left() <= 0:
                        notes.append(f"stopped after {run} of {p.kills} kills: the engine's time budget ran out")
                        break
                    spawned.append(time.time())
                    process = self._spawn(url, logfile, errfile)
                    started = self._wait_for_start(logfile, run, process, p.start_timeout_s)
                    time.sleep(rng.uniform(*p.kill_after_s) if started else 0)
                    if process.poll() is None:
                        process.send_signal(signal.SIGKILL)
                    elif process.returncode != 0:
                        notes.append(f"consumer exited with {process.returncode}: {_tail(errfile)}")
                    process.wait()
            finally:
                writers.stop()
            spawned.append(time.time())
            final = self._spawn(url, logfile, errfile)
            segments_before = ConsumerLog.read(logfile).segments
            caught_up = self._wait_for_caught_up(logfile, len(segments_before), final, p.final_timeout_s)
            if final.poll() is None:
                final.send_signal(signal.SIGTERM)
            try:
                final.wait(timeout=30)
            except subprocess.TimeoutExpired:
                final.kill()
                final.wait()
            if not caught_up:
                notes.append(f"final consumer did not catch up within {p.final_timeout_s:.0f} s, so misses are unknown: {_tail(errfile)}")
            log = ConsumerLog.read(logfile)
        stored = [(_position(e.position), str(e.event_id)) for e in read_everything(store)]
        store.close()
        yield from self._measurements(log, stored, writers, point, rep, "; ".join(notes) or None, spawned, caught_up)

    # -- the consumer process --------------------------------------------------------------------

    def _spawn(self, url: str, logfile: Path, errfile: Path) -> subprocess.Popen[bytes]:
        p = self.params
        argv = [
            sys.executable, "-m", "bench.workloads.resume.consumer", url, CONSUMER, str(logfile),
            "--checkpoint-every", str(p.checkpoint_every), "--batch-size", str(p.batch_size),
            "--poll-interval", str(p.poll_interval_s),
        ]
        with open(errfile, "ab") as err:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)

    @staticmethod
    def _wait_for_start(logfile: Path, run: int, process: subprocess.Popen[bytes], timeout: float) -> bool:
        """Wait until consumer run number ``run`` has opened its store (or has ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if logfile.exists() and len(ConsumerLog.read(logfile).started) > run:
                return True
            time.sleep(0.01)
        return False

    def _wait_for_caught_up(self, logfile: Path, segment: int, process: subprocess.Popen[bytes], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if segment in ConsumerLog.read(logfile).caught_up:
                return True
            time.sleep(0.02)
        return False

    # -- the comparison --------------------------------------------------------------------------

    def _measurements(
        self, log: ConsumerLog, stored: list[tuple[Any, str]], writers: _Writers, point: dict[str, Any], rep: int,
        note: str | None, spawned: list[float] | None = None, complete: bool = True,
    ) -> Iterator[Measurement]:
        """Compare the consumer's log with the store. ``complete``: the final consumer caught up, so
        an event it never handled was really missed (otherwise misses are unknown: None)."""
        p = self.params
        stored_ids = {event_id for _, event_id in stored}
        position_of = {event_id: position for position, event_id in stored}
        seen: Counter[str] = Counter()
        repeats_per_run: list[int] = []
        furthest: list[Any] = []
        for segment in log.segments:
            repeats_per_run.append(sum(1 for _, event_id in segment if seen[event_id] > 0))
            for _, event_id in segment:
                seen[event_id] += 1
            furthest.append(max((position for position, _ in segment), default=None))
        missed = sorted(stored_ids - set(seen), key=lambda e: position_of[e])
        missed_per_run = [0] * len(log.segments)
        for event_id in missed:  # blame the first run that moved past the missed event's position
            blamed = next((n for n, top in enumerate(furthest) if top is not None and top > position_of[event_id]), len(furthest) - 1)
            if blamed >= 0:
                missed_per_run[blamed] += 1
        written = writers.acknowledged
        restarts = repeats_per_run[1:]

        def m(metric: str, value: float | None, extra: dict[str, Any] | None = None, note: str | None = None) -> Measurement:
            return Measurement(metric, value, {**point, **(extra or {})}, rep, note=note)

        yield m("events_written", float(len(written)), note=writers.error)
        yield m("events_in_store", float(len(stored_ids)))
        yield m("acknowledged_not_stored", float(len(set(written) - stored_ids)))
        yield m("events_handled", float(sum(seen.values())))
        yield m("missed_events", float(len(missed)) if complete else None, note=note)
        yield m("repeated_events", float(sum(repeats_per_run)))
        yield m("handled_not_in_store", float(len(set(seen) - stored_ids)))
        yield m("consumer_runs", float(len(log.segments)))
        yield m("max_repeats_per_restart", float(max(restarts, default=0)))
        yield m("restarts_over_bound", float(sum(repeats > p.checkpoint_every for repeats in restarts)))
        for run, (missed_n, repeated_n) in enumerate(zip(missed_per_run, repeats_per_run, strict=True)):
            kind = "final" if run == len(log.segments) - 1 else "killed"
            extra = {"consumer_run": run, "run_kind": kind}
            yield m("missed_per_run", float(missed_n) if complete else None, extra)
            yield m("repeats_per_run", float(repeated_n), extra)
            if run in log.caught_up:
                yield m("catch_up_time", (log.caught_up[run] - log.started[run]) * 1e6, extra)
                # Spawn times line up with consumer runs only if every spawned process got as far as
                # logging its start; otherwise which spawn a run belongs to is unknown: no figure.
                if spawned and len(spawned) == len(log.started):
                    yield m("restart_to_caught_up", (log.caught_up[run] - spawned[run]) * 1e6, extra)


class _Writers:
    """Writer threads appending small batches at a paced rate, each with its own connection."""

    def __init__(self, stores: Any, url: str, p: ResumeParams, seed: float) -> None:
        self.p = p
        self.stores = stores
        self.url = url
        self.seed = seed
        self.acknowledged: list[str] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._streams = [f"Resume-{uuid.uuid4()}" for _ in range(p.streams)]

    def start(self) -> None:
        connections = [self.stores.connect(self.url) for _ in range(self.p.writers)]
        for n, store in enumerate(connections):
            thread = threading.Thread(target=self._write, args=(n, store), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _write(self, n: int, store: EventStore) -> None:
        rng = random.Random(f"{self.seed}/{n}")
        interval = 1.0 / self.p.appends_per_s
        next_at = time.monotonic() + rng.uniform(0, interval)
        try:
            while not self._stop.is_set():
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_at += interval
                events = [NewEvent("Written", {"writer": n}) for _ in range(rng.randint(1, self.p.max_batch))]
                store.append(rng.choice(self._streams), events)
                with self._lock:
                    self.acknowledged.extend(str(e.id) for e in events)
        except Exception as exc:  # reported on the events_written record
            self.error = f"writer {n}: {type(exc).__name__}: {exc}"[:300]
        finally:
            store.close()


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "(no output)"
    except OSError:
        return "(no output)"
