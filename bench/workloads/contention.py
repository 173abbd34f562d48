"""Append contention: W writers run load-decide-append-retry on S streams chosen with a Zipf skew.

Skew 0 spreads commands uniformly over the streams; larger skews concentrate them on the first
streams, so skew 3 sends about 80 % of commands to one hot stream (the record ``hot_stream_share``
says how much it really was). Each writer has its own connection and its own seeded random
stream choice. Throughput counts successes completed inside the ``duration_s`` window; latency
(including retries) is recorded for successful commands started inside it. The ``warmup_s``
before the window is not measured but counts for the correctness check, which compares each
stream's final value and event count with the commands that reported success (an append that
failed with an engine error may or may not be stored, and is allowed either way). A command still
retrying ``grace_s`` after the window is abandoned (its next decision appends nothing), so a slow
engine cannot stretch a case without bound.
"""
from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from eventstore import EventStore, Repository, RetriesExhausted, execute

from .. import stats
from .base import Measurement, Params, Workload, latency_measurements, now_us
from .model import Register, increment


@dataclass(frozen=True)
class ContentionParams(Params):
    writers: tuple[int, ...] = (1, 4, 16, 32)
    skews: tuple[float, ...] = (0.0, 1.0, 3.0)
    streams: int = 16
    duration_s: float = 0.25
    warmup_s: float = 0.1
    max_attempts: int = 50
    #: A command still retrying this long after the measurement ends is abandoned (no append).
    grace_s: float = 1.0
    budget_s: float | None = 20.0

    def check(self) -> None:
        super().check()
        if not self.writers or min(self.writers) < 1:
            raise ValueError("writers must be a non-empty list of counts >= 1")
        if not self.skews or min(self.skews) < 0:
            raise ValueError("skews must be a non-empty list of Zipf exponents >= 0")
        if self.streams < 1 or self.duration_s <= 0 or self.warmup_s < 0 or self.max_attempts < 1 or self.grace_s < 0:
            raise ValueError("streams >= 1, duration_s > 0, warmup_s >= 0, max_attempts >= 1, grace_s >= 0")


def zipf_cumulative(streams: int, skew: float) -> list[float]:
    """Cumulative weights of streams 0..S-1 with weight 1/(rank+1)^skew (skew 0: uniform)."""
    return list(accumulate(1.0 / (rank + 1) ** skew for rank in range(streams)))


#: A writer stops after this many engine errors (a broken connection would otherwise spin).
MAX_ERRORS_PER_WRITER = 10


@dataclass
class _WriterTally:
    #: Per stream, over the whole case: commands told "success", and commands whose append failed
    #: with an engine error (it may or may not have been stored).
    successes_all: Counter[int] = field(default_factory=Counter)
    ambiguous: Counter[int] = field(default_factory=Counter)
    #: Successes completed inside the measurement window: the throughput.
    completed: int = 0
    # commands started inside the measurement window
    measured_successes: int = 0
    measured_commands: int = 0
    attempts: int = 0
    conflicts: int = 0
    exhausted: int = 0
    abandoned: int = 0
    errors: list[str] = field(default_factory=list)


class Contention(Workload):
    name = "contention"
    title = "Append contention"
    params_type = ContentionParams

    def cases(self) -> list[dict[str, Any]]:
        p = self.params
        return [
            {"writers": w, "skew": float(s), "repetition": r}
            for r in range(p.repetitions) for s in p.skews for w in p.writers
        ]

    def open(self, stores: Any) -> None:
        super().open(stores)
        self._url = stores.new_url("contention")
        self._pool: list[EventStore] = []

    def _connections(self, n: int) -> list[EventStore]:
        while len(self._pool) < n:  # opened one by one: the first may create the schema or table
            self._pool.append(self.stores.connect(self._url))
        return self._pool[:n]

    def close(self) -> None:
        for store in self._pool:
            store.close()
        self._pool = []

    def run_case(self, case: dict[str, Any]) -> Iterator[Measurement]:
        p: ContentionParams = self.params  # type: ignore[assignment]
        writers, skew, rep = case["writers"], case["skew"], case["repetition"]
        point = {"writers": writers, "skew": skew, "streams": p.streams, "max_attempts": p.max_attempts}
        ids = [str(uuid.uuid4()) for _ in range(p.streams)]
        cumulative = zipf_cumulative(p.streams, skew)
        stores = self._connections(writers)
        tallies = [_WriterTally() for _ in range(writers)]
        histograms = [stats.new_histogram() for _ in range(writers)]
        choices: Counter[int] = Counter()
        start_line = threading.Barrier(writers + 1)
        clock: dict[str, float] = {}

        def decide(register: Register) -> list[Any]:
            return [] if now_us() > clock["give_up"] else increment(register)

        def write(n: int) -> None:
            rng = random.Random(f"{p.seed}/{rep}/{writers}/{skew}/{n}")
            repo = Repository(stores[n], Register, snapshot_every=0)
            tally, histogram = tallies[n], histograms[n]
            start_line.wait()
            while len(tally.errors) < MAX_ERRORS_PER_WRITER:
                began = now_us()
                if began >= clock["end"]:
                    return
                stream = rng.choices(range(p.streams), cum_weights=cumulative)[0]
                measured = began >= clock["measure_from"]
                try:
                    outcome = execute(repo, ids[stream], decide, max_attempts=p.max_attempts)
                    attempts, ok = outcome.attempts, outcome.result is not None
                    if not ok:  # gave up after the grace period: nothing appended
                        tally.abandoned += 1
                        return
                except RetriesExhausted as exc:
                    attempts, ok = exc.attempts, False
                except Exception as exc:  # an engine error: the append may or may not be stored
                    tally.ambiguous[stream] += 1
                    tally.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                finished = now_us()
                if ok:
                    tally.successes_all[stream] += 1
                    tally.completed += clock["measure_from"] <= finished <= clock["end"]
                if measured:
                    tally.attempts += attempts
                    tally.conflicts += attempts - 1 if ok else attempts
                    tally.exhausted += 0 if ok else 1
                    tally.measured_commands += 1
                    choices[stream] += 1
                    if ok:
                        tally.measured_successes += 1
                        stats.record_us(histogram, finished - began)

        threads = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(writers)]
        for thread in threads:
            thread.start()
        t0 = now_us()
        clock["measure_from"] = t0 + p.warmup_s * 1e6
        clock["end"] = clock["measure_from"] + p.duration_s * 1e6
        clock["give_up"] = clock["end"] + p.grace_s * 1e6
        start_line.wait()
        for thread in threads:
            thread.join()

        successes = sum(t.measured_successes for t in tallies)
        commands = sum(t.measured_commands for t in tallies)
        attempts = sum(t.attempts for t in tallies)
        conflicts = sum(t.conflicts for t in tallies)
        all_successes = sum((t.successes_all for t in tallies), Counter())
        ambiguous = sum((t.ambiguous for t in tallies), Counter())
        per_writer = [t.completed for t in tallies]
        errors = [e for t in tallies for e in t.errors]

        def m(metric: str, value: float | None, unit: str, note: str | None = None) -> Measurement:
            return Measurement(metric, value, unit, point, rep, note=note)

        yield m("throughput", sum(per_writer) / p.duration_s, "commands/s")
        yield m("commands", float(commands), "commands")
        yield m("conflicts", float(conflicts), "conflicts")
        yield m("conflict_rate", conflicts / attempts if attempts else None, "fraction of attempts")
        yield m("retries_per_success", (attempts - commands) / successes if successes else None, "retries")
        yield m("exhausted", float(sum(t.exhausted for t in tallies)), "commands")
        yield m("abandoned", float(sum(t.abandoned for t in tallies)), "commands")
        yield m("fairness_jain", _jain(per_writer), "index")
        yield m("fairness_min_max", min(per_writer) / max(per_writer) if max(per_writer) else None, "ratio")
        yield m("hot_stream_share", max(choices.values()) / commands if commands else None, "fraction")
        yield m("errors", float(len(errors)), "errors", note=errors[0] if errors else None)
        yield from latency_measurements("command_latency", stats.merge(histograms), point, rep)
        yield from self._correctness(ids, all_successes, ambiguous, point, rep)

    def _correctness(self, ids: list[str], successes: Counter[int], ambiguous: Counter[int], point: dict[str, Any], rep: int) -> Iterator[Measurement]:
        """Compare each stream with what the writers were told: every success must show in the
        value (else a lost update) and as one event; a failed append may or may not be stored."""
        repo = Repository(self._pool[0], Register, snapshot_every=0)
        lost = duplicated = missing = 0
        for n, id in enumerate(ids):
            register = repo.load(id)
            expected = successes[n]
            lost += max(0, expected - register.value)
            duplicated += max(0, register.applied - expected - ambiguous[n])
            missing += max(0, expected - register.applied)
        yield Measurement("lost_updates", float(lost), "commands", point, rep)
        yield Measurement("duplicate_events", float(duplicated), "events", point, rep)
        yield Measurement("missing_events", float(missing), "events", point, rep)
        yield Measurement("successful_commands", float(sum(successes.values())), "commands", point, rep)
        yield Measurement("ambiguous_commands", float(sum(ambiguous.values())), "commands", point, rep)


def _jain(values: list[int]) -> float | None:
    """Jain's fairness index: 1 when every writer got the same share, 1/n when one got everything."""
    total = sum(values)
    squares = sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else None

