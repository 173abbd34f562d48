"""One contention writer: its own connection, load-decide-append-retry from the common start until the
parent closes the window, and its tally sent back (a job of ``bench.harness.loadgen``'s workers).
"""
from __future__ import annotations

import bisect
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.harness import stats
from bench.harness.loadgen import Board, Timing
from bench.harness.model import Register, increment
from eventstore import EventStore, Repository, RetriesExhausted, execute
from eventstore.memory import MemoryStore

ENGINE, CEILING = "engine", "ceiling"

#: A writer stops after this many engine errors (a broken connection would otherwise spin).
MAX_ERRORS_PER_WRITER = 10


@dataclass(frozen=True)
class Commands:
    """What one writer does in one measurement: which store, streams, choice and bounds."""

    target: str  # ENGINE or CEILING
    ids: tuple[str, ...]
    cumulative: tuple[float, ...]
    seed: str
    max_attempts: int
    grace_s: float


@dataclass
class WriterTally:
    """One writer's account of one measurement, sent back to the parent."""

    #: Per stream, over the whole measurement: commands told "success", and commands whose append
    #: failed with an engine error (it may or may not have been stored).
    successes_all: Counter[int] = field(default_factory=Counter)
    ambiguous: Counter[int] = field(default_factory=Counter)
    #: Successes completed inside the window: the throughput's numerator.
    completed: int = 0
    # commands started inside the window
    started: int = 0
    measured_successes: int = 0
    measured_commands: int = 0
    attempts: int = 0
    conflicts: int = 0
    exhausted: int = 0
    abandoned: int = 0
    choices: Counter[int] = field(default_factory=Counter)
    #: The longest command (seconds, retries included), whether it succeeded or not.
    longest_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    #: Latency of successful commands started in the window (``stats.encode``).
    histogram: str = ""


class Writer:
    """A writer's job: its own connection to the engine's store, and a private in-memory store for
    the ceiling. ``opener`` opens a URL (``open_store`` in a process; the deployment's ``connect``
    in a thread, which then owns the store)."""

    def __init__(self, url: str, opener: Callable[[str], EventStore], owned: bool, *, board: Board, slot: int) -> None:
        self.store = opener(url)
        self.owned = owned
        self.ceiling = MemoryStore()
        self.board, self.slot = board, slot

    def handle(self, request: Commands | str, timing: Timing | None) -> WriterTally | str | None:
        if isinstance(request, str):  # PRIME: one command on a stream of its own, to warm up
            return prime(self.store, request)
        assert timing is not None, "a measurement has a timing"
        return write(self.store if request.target == ENGINE else self.ceiling, request, timing, self.board, self.slot)

    def close(self) -> None:
        if self.owned:
            self.store.close()


def prime(store: EventStore, stream: str) -> str | None:
    """One command on a stream no case uses, so that a writer's first measured command does not pay
    for connecting, taking a writer fence or filling a cache; the error, if it failed."""
    try:
        execute(Repository(store, Register, snapshot_every=0), stream, increment, max_attempts=3)
    except Exception as exc:  # the cases will meet and record it
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def write(store: EventStore, commands: Commands, timing: Timing, board: Board, slot: int) -> WriterTally:
    """Run load-decide-append-retry from the common start until the parent closes the window."""
    rng = random.Random(commands.seed)
    repo = Repository(store, Register, snapshot_every=0)
    tally = WriterTally()
    histogram = stats.new_histogram()
    finishes: list[float] = []  # successes that completed after the window opened, in order
    streams = range(len(commands.ids))
    measure_from = timing.measure_from

    def decide(register: Register) -> list[Any]:
        late = time.perf_counter() > board.end_at + commands.grace_s
        return [] if late or board.aborted else increment(register)

    timing.wait_for_start(board)
    while len(tally.errors) < MAX_ERRORS_PER_WRITER:
        began = time.perf_counter()
        if began >= board.end_at:
            break
        stream = rng.choices(streams, cum_weights=commands.cumulative)[0]
        measured = began >= measure_from
        tally.started += measured
        try:
            outcome = execute(repo, commands.ids[stream], decide, max_attempts=commands.max_attempts)
            attempts, ok = outcome.attempts, outcome.result is not None
            if not ok:  # gave up after the grace period: nothing appended
                tally.abandoned += 1
                tally.longest_s = max(tally.longest_s, time.perf_counter() - began)
                break
        except RetriesExhausted as exc:
            attempts, ok = exc.attempts, False
        except Exception as exc:  # an engine error: the append may or may not be stored
            tally.ambiguous[stream] += 1
            tally.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            tally.longest_s = max(tally.longest_s, time.perf_counter() - began)
            continue
        finished = time.perf_counter()
        tally.longest_s = max(tally.longest_s, finished - began)
        if ok:
            tally.successes_all[stream] += 1
            if finished >= measure_from:
                finishes.append(finished)
                board.completed(slot)
        if measured:
            tally.attempts += attempts
            tally.conflicts += attempts - 1 if ok else attempts
            tally.exhausted += 0 if ok else 1
            tally.measured_commands += 1
            tally.choices[stream] += 1
            if ok:
                tally.measured_successes += 1
                stats.record_us(histogram, (finished - began) * 1e6)
    tally.completed = bisect.bisect_right(finishes, board.end_at)
    tally.histogram = stats.encode(histogram)
    return tally
