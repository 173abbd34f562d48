"""How the library's values sit in our store: a stored event's state bytes as event data, an
originator id as a stream id of the application's category.

State is bytes to the library (JSON from its transcoder, or compressed or encrypted bytes); our
events carry JSON objects. UTF-8 text without NUL is stored as a JSON string under ``state`` (the
usual case, readable in the table); anything else as base64 under ``state_b64``. Either way the
bytes read back are the bytes written.
"""
from __future__ import annotations

import base64
import uuid
from typing import Any

from eventsourcing.persistence import DataError

from ..validation import MAX_TYPE_BYTES, check_identifier, check_stream_id, encode_json

#: What ``EVENTSTORE_ORIGINATOR_ID_TYPE`` may say: originator ids read back as UUIDs or as strings.
ORIGINATOR_ID_TYPES = ("uuid", "text")


def state_data(state: bytes) -> dict[str, str]:
    """The event data that holds ``state`` exactly."""
    try:
        text = state.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:  # JSON stores such as PostgreSQL's refuse NUL
        return {"state": text}
    return {"state_b64": base64.b64encode(state).decode("ascii")}


def data_state(data: dict[str, Any]) -> bytes:
    """The state bytes ``state_data`` stored in ``data``."""
    if "state" in data:
        return str(data["state"]).encode("utf-8")
    return base64.b64decode(data["state_b64"])


def check_category(name: str) -> str:
    """An application's name as the category of its streams: printable, and without ``-``, which
    ends a category (``Category-<id>``)."""
    try:
        check_identifier(name, "application name", MAX_TYPE_BYTES)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    if "-" in name:
        raise DataError(f"application name {name!r} contains '-', which would end its category in a stream id")
    return name


class Codec:
    """Stream ids and event rows of one category, for one originator id type."""

    def __init__(self, category: str, originator_id_type: str) -> None:
        if originator_id_type not in ORIGINATOR_ID_TYPES:
            raise DataError(f"originator id type must be one of {ORIGINATOR_ID_TYPES}, not {originator_id_type!r}")
        self.category = check_category(category)
        self.prefix = f"{category}-"
        self.uuids = originator_id_type == "uuid"

    def stream_id(self, originator_id: uuid.UUID | str) -> str:
        try:
            return check_stream_id(f"{self.prefix}{originator_id}")
        except ValueError as exc:
            raise DataError(str(exc)) from None

    def originator_id(self, stream_id: str) -> uuid.UUID | str:
        text = stream_id[len(self.prefix):]
        if not self.uuids:
            return text
        try:
            return uuid.UUID(text)
        except ValueError:
            raise DataError(f"stream {stream_id!r} does not end in a UUID; set EVENTSTORE_ORIGINATOR_ID_TYPE=text for string ids") from None

    def row(self, originator_id: uuid.UUID | str, version: int, topic: str, state: bytes) -> tuple[str, int, str, str]:
        """(stream id, version, event type, data JSON) of one stored event, checked as our API checks
        an append: a bad value is refused before anything is written."""
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise DataError(f"originator_version must be an int >= 0 in this store, not {version!r}")
        try:
            check_identifier(topic, "topic", MAX_TYPE_BYTES)
            data = encode_json(state_data(state), "state")
        except ValueError as exc:
            raise DataError(str(exc)) from None
        return self.stream_id(originator_id), version, topic, data
