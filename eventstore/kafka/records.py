"""One event as one Kafka record.

Key: the stream id (so any Kafka tool partitions and compacts by stream). Value: ``{"data": ...,
"metadata": ...}``. Headers: ``event_id`` and ``type``, readable without parsing the value, which
keeps the index and the type filter cheap, and ``version``, the version the writer assigned, for
consumers outside this adapter. The adapter itself takes versions from log order (``EventIndex``):
in fenced mode the two agree; in naive mode two racing writers can both stamp the same version.
Timestamp: the broker's append time (topics use ``LogAppendTime``), which is ``recorded_at``.
"""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from confluent_kafka import Message

from ..events import RecordedEvent
from ..validation import PreparedEvent
from .errors import UnreadableRecord

#: Key, value and headers; the headers typed as ``Producer.produce`` takes them (its list is invariant).
Record = tuple[bytes, bytes, list[tuple[str, str | bytes | None]]]


def encode(stream_id: str, version: int, event: PreparedEvent) -> Record:
    """Key, value and headers of ``event`` stored as ``version`` of ``stream_id``."""
    value = f'{{"data":{event.data_json},"metadata":{event.metadata_json}}}'.encode()
    headers: list[tuple[str, str | bytes | None]] = [("event_id", str(event.id).encode()), ("type", event.type.encode()), ("version", str(version).encode())]
    return stream_id.encode(), value, headers


def headers(message: Message) -> tuple[str, str, str]:
    """``(stream_id, event_id, type)`` of a record, without decoding its value."""
    found = dict(message.headers() or ())
    try:
        return _text(message.key()), _text(found["event_id"]), _text(found["type"])
    except (KeyError, AttributeError) as exc:
        raise UnreadableRecord(f"record at offset {message.offset()} of {message.topic()} is not an event of this store ({exc!r})") from None


def decode(message: Message, version: int) -> RecordedEvent:
    """The recorded event; ``version`` comes from the index (its place in the stream, in log order)."""
    stream_id, event_id, type_ = headers(message)
    value = message.value()
    assert value is not None, "a record with this store's headers has a value"
    body = json.loads(value)
    return RecordedEvent(stream_id, version, offset_of(message), uuid.UUID(event_id), type_, body["data"], body["metadata"], recorded_at(message))


def offset_of(message: Message) -> int:
    """The offset of a consumed record (the client reports none only for a record not in the log)."""
    offset = message.offset()
    assert offset is not None, "a consumed record has an offset"
    return offset


def recorded_at(message: Message) -> datetime:
    return datetime.fromtimestamp(message.timestamp()[1] / 1000, UTC)


def _text(value: str | bytes | None) -> str:
    """A key or header value as text; anything but bytes (no key, a null header) fails as ``.decode()`` on it would."""
    if not isinstance(value, bytes):
        raise AttributeError(f"{type(value).__name__!r} object has no attribute 'decode'")
    return value.decode()
