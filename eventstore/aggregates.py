"""Aggregates over the store: load from the newest valid snapshot plus the tail, save with the
expected version, snapshot every N events, and retry a command on ``ConcurrencyError``.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import ConcurrencyError, InvalidInput
from .events import AppendResult, NewEvent, Snapshot, StreamState
from .store import EventStore

DEFAULT_SNAPSHOT_EVERY = 100


class Aggregate:
    """Base class: subclasses fold events in ``apply`` and (de)serialise their state for snapshots.

    ``schema_version`` names the shape of ``snapshot_state()``; bump it when that shape changes and
    older snapshots are ignored (replayed from events instead).
    """

    category: str = "Aggregate"
    schema_version: int = 1

    def __init__(self, id: str) -> None:
        self.id = id
        #: Version of the last applied event; -1 for an aggregate with no events.
        self.version = -1

    @property
    def stream_id(self) -> str:
        return f"{self.category}-{self.id}"

    def apply(self, type: str, data: dict[str, Any]) -> None:
        """Fold one event into the state; it sees only what the event says, never where it is stored."""
        raise NotImplementedError

    def snapshot_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def restore(self, state: dict[str, Any]) -> None:
        raise NotImplementedError


A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class LoadStats:
    """How an aggregate was loaded: the evidence behind snapshot savings."""

    snapshot_version: int | None
    events_replayed: int


class Repository(Generic[A]):
    """Loads and saves one aggregate type. ``snapshot_every=0`` disables snapshots."""

    def __init__(self, store: EventStore, factory: Callable[[str], A], *, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY) -> None:
        if isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int) or snapshot_every < 0:
            raise InvalidInput(f"snapshot_every must be an int >= 0, not {snapshot_every!r}")
        self.store = store
        self.factory = factory
        self.snapshot_every = snapshot_every
        self.last_load: LoadStats | None = None

    def load(self, id: str) -> A:
        """The aggregate from its newest snapshot of the current schema, then the events after it."""
        aggregate = self.factory(id)
        snapshot = None
        if self.snapshot_every:
            snapshot = self.store.load_snapshot(aggregate.stream_id, aggregate.schema_version)
            if snapshot is not None:
                aggregate.restore(snapshot.state)
                aggregate.version = snapshot.version
        tail = self.store.read_stream(aggregate.stream_id, from_version=aggregate.version + 1)
        for event in tail:
            aggregate.apply(event.type, event.data)
            aggregate.version = event.version
        self.last_load = LoadStats(snapshot.version if snapshot else None, len(tail))
        return aggregate

    def save(self, aggregate: A, events: list[NewEvent]) -> AppendResult:
        """Append ``events`` at the aggregate's version, apply them, and snapshot on crossing N."""
        expected = StreamState.NO_STREAM if aggregate.version < 0 else aggregate.version
        result = self.store.append(aggregate.stream_id, events, expected_version=expected)
        before = aggregate.version
        for event in events:
            aggregate.apply(event.type, event.data)
        aggregate.version = result.last_version
        n = self.snapshot_every
        if n and (before + 1) // n != (aggregate.version + 1) // n:
            self.store.save_snapshot(Snapshot(aggregate.stream_id, aggregate.version, aggregate.snapshot_state(), aggregate.schema_version))
        return result


@dataclass(frozen=True)
class CommandResult:
    """The outcome of ``execute``: the append's result (None when the command decided nothing) and attempts used."""

    result: AppendResult | None
    attempts: int


class RetriesExhausted(ConcurrencyError):
    """``execute`` hit ``ConcurrencyError`` on every one of its attempts."""

    def __init__(self, last: ConcurrencyError, attempts: int) -> None:
        super().__init__(last.stream_id, last.expected, last.actual)
        self.attempts = attempts


def execute(
    repository: Repository[A],
    id: str,
    decide: Callable[[A], list[NewEvent]],
    *,
    max_attempts: int = 10,
    backoff: float = 0.001,
) -> CommandResult:
    """Load, decide, append; on ``ConcurrencyError`` reload and decide again, at most ``max_attempts`` times.

    ``decide`` must be a pure function of the aggregate's state: it runs again on every retry.
    Each retry keeps fresh event ids because the decision may differ after a reload.
    """
    if max_attempts < 1:
        raise InvalidInput("max_attempts must be >= 1")
    for attempt in range(1, max_attempts + 1):
        aggregate = repository.load(id)
        events = decide(aggregate)
        if not events:
            return CommandResult(None, attempt)
        try:
            return CommandResult(repository.save(aggregate, events), attempt)
        except ConcurrencyError as exc:
            if attempt == max_attempts:
                raise RetriesExhausted(exc, attempt) from exc
            time.sleep(random.uniform(0, backoff * attempt))
    raise AssertionError("unreachable")
