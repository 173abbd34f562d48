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


#: ``NewEvent``'s default for ``id``: generate one.
_GENERATE: Any = object()


@dataclass(frozen=True, init=False)
class NewEvent:
    """An event to append. ``id`` is the idempotency key: a retry must reuse it."""

    type: str
    data: dict[str, Any]
    metadata: dict[str, Any] | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def __init__(
        self, type: str, data: dict[str, Any], metadata: dict[str, Any] | None = None, id: uuid.UUID = _GENERATE
    ) -> None:
        """A new UUID when ``id`` is not given; a str ``id`` must spell a UUID. Written out rather
        than generated: the generated frozen ``__init__`` sets each field through
        ``object.__setattr__``, a measurable share of a one-event append."""
        if id is _GENERATE:
            id = uuid.uuid4()
        elif isinstance(id, str):
            try:
                id = uuid.UUID(id)
            except ValueError:
                from .errors import InvalidInput

                raise InvalidInput(f"event id {id!r} is not a UUID") from None
        self.__dict__.update(type=type, data=data, metadata=metadata, id=id)


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


_new = object.__new__


def recorded_event(
    stream_id: str,
    version: int,
    position: Position,
    event_id: uuid.UUID,
    type: str,
    data: dict[str, Any],
    metadata: dict[str, Any],
    recorded_at: datetime,
) -> RecordedEvent:
    """``RecordedEvent(...)``, equal in every way, for readers that build thousands per page: the
    frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, which costs
    about as much as decoding the row. Backends call it with values they read from storage."""
    event = _new(RecordedEvent)
    event.__dict__.update(
        stream_id=stream_id, version=version, position=position, event_id=event_id, type=type,
        data=data, metadata=metadata, recorded_at=recorded_at,
    )
    return event


def append_result(stream_id: str, first_version: int, last_version: int, last_position: Position) -> AppendResult:
    """``AppendResult(...)``, equal in every way, built without the frozen dataclass's per-field
    ``__setattr__`` (one per append: a measurable share of a one-event append)."""
    result = _new(AppendResult)
    result.__dict__.update(stream_id=stream_id, first_version=first_version, last_version=last_version, last_position=last_position)
    return result


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
