"""Input checks shared by every backend, run before anything touches storage.

Each check raises ``InvalidInput`` (or ``LimitExceeded``) with a message naming the bad value, so a
bad call never reaches an engine and never changes what is stored.
"""
from __future__ import annotations

import math
import re
import uuid
from _json import encode_basestring, make_encoder
from collections.abc import Iterable
from typing import Any, NamedTuple

from .capabilities import Capabilities
from .errors import InvalidInput, LimitExceeded
from .events import ExpectedVersion, NewEvent, StreamState

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A JSON-escaped NUL: ``\u0000`` preceded by an even number of backslashes.
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

MAX_STREAM_ID_BYTES = 256
MAX_TYPE_BYTES = 256
MAX_NAME_BYTES = 256


class PreparedEvent(NamedTuple):
    """A validated event with its JSON already encoded, so every backend stores the same bytes.

    A NamedTuple: one is built per appended event, and a frozen dataclass costs several times more
    to build."""

    id: uuid.UUID
    type: str
    data: dict[str, Any]
    metadata: dict[str, Any]
    data_json: str
    metadata_json: str

    @property
    def size(self) -> int:
        return len(self.data_json.encode()) + len(self.metadata_json.encode()) + len(self.type.encode()) + 16


def check_identifier(value: object, what: str, max_bytes: int) -> str:
    """A non-empty string of printable characters, without NUL, at most ``max_bytes`` in UTF-8."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    if _CONTROL.search(value):
        raise InvalidInput(f"{what} {value[:40]!r} contains a NUL or control character")
    size = len(value) if value.isascii() else len(_utf8(value, what))
    if size > max_bytes:
        raise LimitExceeded(f"{what} is {size} bytes; the limit is {max_bytes}", limit=max_bytes, actual=size)
    return value


def check_stream_id(stream_id: object) -> str:
    return check_identifier(stream_id, "stream id", MAX_STREAM_ID_BYTES)


def check_expected_version(expected: object) -> ExpectedVersion:
    if isinstance(expected, StreamState):
        return expected
    if isinstance(expected, bool) or not isinstance(expected, int):
        raise InvalidInput(f"expected_version must be a StreamState or an int >= 0, not {expected!r}")
    if expected < 0:
        raise InvalidInput(f"expected_version must be >= 0 (use StreamState.NO_STREAM), not {expected}")
    return expected


def check_limit(limit: object) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidInput(f"limit must be None or an int >= 0, not {limit!r}")
    return limit


def check_version(version: object, what: str = "from_version") -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InvalidInput(f"{what} must be an int >= 0, not {version!r}")
    return version


def _refuse(obj: object) -> None:
    raise TypeError(f"{type(obj).__name__} {obj!r:.60}")


#: One encoder, built once: ``json.dumps`` (and ``JSONEncoder.encode``) builds a new C encoder on
#: every call, which costs more than encoding a small event. The arguments are ``JSONEncoder``'s:
#: no circular-reference markers (a cycle ends in ``RecursionError`` instead, refused the same way),
#: ``default=_refuse``, ``ensure_ascii=False``, compact separators, no key sorting, no skipped keys,
#: ``allow_nan=False``. It holds no state between calls, so threads can share it.
_ENCODE = make_encoder(None, _refuse, encode_basestring, None, ":", ",", False, False, False)
#: Event types that passed ``check_identifier``: a service appends the same few types over and
#: over, and a set lookup costs less than the checks. Bounded: it starts over when full.
_CHECKED_TYPES: set[str] = set()
_CHECKED_TYPES_MAX = 4096


def _utf8(text: str, what: str) -> bytes:
    """``text`` in UTF-8; a lone surrogate (``'\\ud800'``) has no encoding and is refused."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what} contains a lone surrogate {text[exc.start]!r}, which has no UTF-8 encoding") from None


_STR_ONLY = {str}


def _check_keys(value: dict[Any, Any], where: str) -> None:
    """Refuse non-string object keys: the encoder would silently store ``{1: 'a'}`` as ``{"1": "a"}``,
    so the event read back would differ from the one appended. Called after encoding succeeded, so
    the value has no cycles."""
    pending: list[Any] = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    raise InvalidInput(f"{where} has the key {key!r} of type {type(key).__name__}; JSON object keys are strings")
                if isinstance(item, (dict, list, tuple)):
                    pending.append(item)
        else:
            pending.extend(item for item in node if isinstance(item, (dict, list, tuple)))


def encode_json(value: object, where: str) -> str:
    """Strict JSON: no NaN or Infinity, no NUL, no lone surrogate, string keys, only JSON types;
    the text every backend stores."""
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be a dict, not {type(value).__name__}")

    try:
        text = "".join(_ENCODE(value, 0))
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"{where} is not JSON-serialisable: {exc}") from None
    if "\\u0000" in text and _ESCAPED_NUL.search(text):
        raise InvalidInput(f"{where} contains a NUL character, which JSON stores such as PostgreSQL refuse")
    if not text.isascii():
        _utf8(text, where)
    # One "{" and no "[" in the text: no nested object or array (tuples encode as arrays), so only
    # the top level's keys need checking, and a set of their types does it in C.
    if text.count("{") != 1 or "[" in text or not {*map(type, value)} <= _STR_ONLY:
        _check_keys(value, where)
    return text


def prepare_batch(events: object, capabilities: Capabilities) -> list[PreparedEvent]:
    """Validate a batch against the API's rules and the backend's declared limits."""
    if isinstance(events, NewEvent):
        raise InvalidInput("events must be a list of NewEvent, not a single NewEvent")
    if isinstance(events, list):
        batch = events
    elif isinstance(events, Iterable) and not isinstance(events, (str, bytes, dict)):
        batch = list(events)
    else:
        raise InvalidInput(f"events must be a list of NewEvent, not {type(events).__name__}")
    if not batch:
        raise InvalidInput("events must not be empty")
    prepared: list[PreparedEvent] = []
    seen: set[uuid.UUID] = set()
    max_event = capabilities.max_event_bytes
    checked_types = _CHECKED_TYPES
    for i, event in enumerate(batch):
        if type(event) is not NewEvent and not isinstance(event, NewEvent):
            raise InvalidInput(f"events[{i}] must be a NewEvent, not {type(event).__name__}")
        event_id, event_type, data, metadata = event.id, event.type, event.data, event.metadata
        if type(event_id) is not uuid.UUID and not isinstance(event_id, uuid.UUID):
            raise InvalidInput(f"events[{i}].id must be a UUID, not {event_id!r}")
        if event_id in seen:
            raise InvalidInput(f"event id {event_id} appears twice in one batch")
        seen.add(event_id)
        if metadata is None:
            metadata = {}
        try:
            if event_type.__class__ is not str or event_type not in checked_types:
                check_identifier(event_type, "type", MAX_TYPE_BYTES)
                if len(checked_types) >= _CHECKED_TYPES_MAX:
                    checked_types.clear()
                checked_types.add(event_type)
            p = PreparedEvent(
                event_id,
                event_type,
                data,
                metadata,
                encode_json(data, "data"),
                "{}" if type(metadata) is dict and not metadata else encode_json(metadata, "metadata"),
            )
        except InvalidInput as exc:  # named here, not up front: formatting labels costs every append
            exc.args = (f"events[{i}].{exc.args[0]}", *exc.args[1:])
            raise
        if max_event is not None and p.size > max_event:
            raise LimitExceeded(
                f"events[{i}] is {p.size} bytes; this backend's limit is {max_event}", limit=max_event, actual=p.size
            )
        prepared.append(p)
    if capabilities.max_batch_events is not None and len(prepared) > capabilities.max_batch_events:
        raise LimitExceeded(
            f"batch has {len(prepared)} events; this backend appends at most {capabilities.max_batch_events} atomically",
            limit=capabilities.max_batch_events,
            actual=len(prepared),
        )
    if capabilities.max_batch_bytes is not None:
        total = sum(p.size for p in prepared)
        if total > capabilities.max_batch_bytes:
            raise LimitExceeded(
                f"batch is {total} bytes; this backend appends at most {capabilities.max_batch_bytes} bytes atomically",
                limit=capabilities.max_batch_bytes,
                actual=total,
            )
    return prepared


def check_float(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidInput(f"{what} must be a finite number >= 0, not {value!r}")
    return float(value)
