"""A writer of the faults workload: it appends commands and settles every ambiguous outcome by
retrying the same batch, with the same event ids, until the store answers (a bounded retry).

A command is one batch of events, named by a command id carried in every event's metadata, so an
audit can tell "stored once" from "stored twice under other ids". Appends use ``StreamState.ANY``:
a retry of the same ids is then an idempotent retry whatever else was written in between. Every
step goes to a journal, one line each, written with a direct ``write`` (a SIGKILL loses no complete
line)::

    P <t> <command> <stream> <event id>,...   about to send the command's first attempt
    F <t> <command> <error>                  an attempt ended without an answer: ambiguous, retried
    C <t> <command> <error>                  the store refused the attempt (nothing written), retried
    A <t> <command> <first> <last>           acknowledged, at these stream versions
    X <t> <command> <error>                  given up: refused for good, or the retry bound ran out
    S <t> -                                  the writer has opened its store and starts

A writer started again on the same journal (after its process was killed mid-commit) first
settles the command it had sent without an answer, the way a client with an outbox would.

Run as a process (for an embedded engine, whose crash is its client's)::

    python -m bench.workloads.faults.writer ENGINE URL JOURNAL --writer N --streams S,S,... [--appends-per-s R]
        [--max-batch B] [--retry-for S] [--seed X]

SIGTERM stops it after the command in hand is settled.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eventstore import ConcurrencyError, EventStore, NewEvent, StoreUnavailable
from eventstore.errors import EventStoreError
from eventstore.plugins import get_engine

EVENT_TYPE = "FaultWritten"


@dataclass(frozen=True)
class WriterConfig:
    """What one writer does: its number, the streams it picks from, its pace, its retry bound, and
    the seed of its choices (a restarted writer process gets a new one, so it does not repeat itself)."""

    writer: int
    streams: Sequence[str]
    appends_per_s: float
    max_batch: int
    retry_for_s: float
    seed: str


@dataclass(frozen=True)
class Command:
    """One append: its id, stream and event ids; the events themselves follow from these."""

    id: str
    writer: int
    stream: str
    event_ids: tuple[str, ...]

    def events(self) -> list[NewEvent]:
        meta = {"command": self.id, "writer": self.writer}
        return [NewEvent(EVENT_TYPE, {"command": self.id, "n": n}, meta, id=uuid.UUID(i)) for n, i in enumerate(self.event_ids)]


class Journal:
    """The writer's journal file, appended one complete line per ``write``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def line(self, kind: str, command: str, *fields: str) -> None:
        text = " ".join((kind, f"{time.time():.6f}", command, *(f.replace("\n", " ") for f in fields)))
        os.write(self._fd, (text + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


def starts(path: Path) -> int:
    """How many times a writer has started on the journal at ``path``."""
    return sum(1 for line in path.read_text().splitlines() if line.startswith("S ")) if path.exists() else 0


def unsettled(path: Path, writer: int) -> Command | None:
    """The command the journal at ``path`` shows as sent but neither acknowledged nor given up."""
    if not path.exists():
        return None
    pending: Command | None = None
    for raw in path.read_text().splitlines():
        kind, _, command, *rest = raw.split(" ")
        if kind == "P":
            pending = Command(command, writer, rest[0], tuple(rest[1].split(",")))
        elif kind in ("A", "X") and pending is not None and pending.id == command:
            pending = None
    return pending


def run(store: EventStore, journal: Journal, config: WriterConfig, stopping: Callable[[], bool]) -> None:
    """Append paced commands until ``stopping()``; each is settled before the next starts."""
    rng = random.Random(f"{config.seed}/{config.writer}")
    left = unsettled(journal.path, config.writer)
    journal.line("S", "-")
    if left is not None:
        journal.line("F", left.id, "the writer crashed before the answer")
        settle(store, journal, left, config.retry_for_s)
    interval = 1.0 / config.appends_per_s
    next_at = time.monotonic() + rng.uniform(0, interval)
    while not stopping():
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_at = max(next_at + interval, time.monotonic())  # after an outage, no burst to catch up
        size = rng.randint(1, config.max_batch)
        command = Command(uuid.uuid4().hex, config.writer, rng.choice(config.streams), tuple(str(uuid.uuid4()) for _ in range(size)))
        journal.line("P", command.id, command.stream, ",".join(command.event_ids))
        settle(store, journal, command, config.retry_for_s)


def settle(store: EventStore, journal: Journal, command: Command, retry_for_s: float) -> None:
    """Append ``command``, retrying with the same ids after a failure without an answer
    (``StoreUnavailable``, or any error that is not the store's answer) or a refusal that wrote
    nothing (``ConcurrencyError``), with backoff, for at most ``retry_for_s`` after the first."""
    events = command.events()
    deadline: float | None = None
    backoff = 0.05
    while True:
        error: Exception
        try:
            result = store.append(command.stream, events)
        except ConcurrencyError as exc:
            kind, error = "C", exc
        except StoreUnavailable as exc:
            kind, error = "F", exc
        except EventStoreError as exc:  # a definite answer (a partial overlap of ids, invalid input): retrying cannot help
            journal.line("X", command.id, f"{type(exc).__name__}: {exc}"[:300])
            return
        except Exception as exc:  # not the store's answer (a client library's connection error): ambiguous
            kind, error = "F", exc
        else:
            journal.line("A", command.id, str(result.first_version), str(result.last_version))
            return
        journal.line(kind, command.id, f"{type(error).__name__}: {error}"[:300])
        deadline = deadline or time.monotonic() + retry_for_s
        if time.monotonic() >= deadline:
            journal.line("X", command.id, f"no answer within the {retry_for_s:g} s retry bound")
            return
        time.sleep(random.uniform(backoff / 2, backoff))
        backoff = min(1.0, backoff * 2)


def open_engine_store(name: str, url: str) -> EventStore:
    """Open ``url`` through engine ``name`` alone. ``open_store`` loads every registered engine, and
    with it every engine's client library (about a second here), which would dominate how long a
    crashed writer takes to come back."""
    return get_engine(name).open_store(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workloads.faults.writer", description=__doc__.splitlines()[0])
    parser.add_argument("engine", help="the registered engine's name")
    parser.add_argument("url")
    parser.add_argument("journal", type=Path)
    parser.add_argument("--writer", type=int, required=True)
    parser.add_argument("--streams", required=True, help="comma-separated stream ids")
    parser.add_argument("--appends-per-s", type=float, default=50.0)
    parser.add_argument("--max-batch", type=int, default=3)
    parser.add_argument("--retry-for", type=float, default=60.0)
    parser.add_argument("--seed", default="0")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    config = WriterConfig(args.writer, args.streams.split(","), args.appends_per_s, args.max_batch, args.retry_for, args.seed)
    journal = Journal(args.journal)
    store = open_engine_store(args.engine, args.url)
    try:
        run(store, journal, config, stop.is_set)
    finally:
        store.close()
        journal.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
