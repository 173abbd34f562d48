"""The values that cross the API: events to append, events as recorded, results and snapshots."""
from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: A global position: the cursor ``read_all(after=...)`` takes. Totally ordered within one store.
#: An ``int`` for most backends; a tuple such as ``(transaction_id, sequence)`` where the engine's
#: order is composite (the gap-safe PostgreSQL reference, KurrentDB commit/prepare pairs).
Position = int | tuple[int, ...]


class StreamState(enum.Enum):
    """Symbolic expected versions for ``append``; an ``int`` means an exact version."""

    ANY = "any"
    NO_STREAM = "no_stream"
    EXISTS = "exists"

    def __repr__(self) -> str:
        return f"StreamState.{self.name}"


ExpectedVersion = StreamState | int


@dataclass(frozen=True)
class NewEvent:
    """An event to append. ``id`` is the idempotency key: a retry must reuse it."""

    type: str
    data: dict[str, Any]
    metadata: dict[str, Any] | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def __post_init__(self) -> None:
        if isinstance(self.id, str):
            try:
                object.__setattr__(self, "id", uuid.UUID(self.id))
            except ValueError:
                from .errors import InvalidInput

                raise InvalidInput(f"event id {self.id!r} is not a UUID") from None


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: its stream, version within it, and global position."""

    stream_id: str
    version: int
    position: Position
    event_id: uuid.UUID
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime

    @property
    def category(self) -> str:
        return category_of(self.stream_id)


@dataclass(frozen=True)
class AppendResult:
    """What an append wrote: the stream's versions and the last event's global position.

    ``next_expected_version`` is what the caller passes as ``expected_version`` next time.
    """

    stream_id: str
    first_version: int
    last_version: int
    last_position: Position

    @property
    def next_expected_version(self) -> int:
        return self.last_version


@dataclass(frozen=True)
class Snapshot:
    """An aggregate's state after applying events up to and including ``version``.

    ``schema_version`` is the version of the state's shape; a reader ignores snapshots of another
    schema, which is how a change to the aggregate invalidates old snapshots without a migration.
    """

    stream_id: str
    version: int
    state: dict[str, Any]
    schema_version: int = 1
    recorded_at: datetime | None = None


def category_of(stream_id: str) -> str:
    """``Order-7f3c...`` belongs to category ``Order``; a stream id without ``-`` is its own category."""
    return stream_id.split("-", 1)[0]
