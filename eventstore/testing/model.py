"""An independent, deliberately naive model of the append/read semantics of DESIGN section 1.

It shares no code with the backends' append path, so the property-based test compares two
separate implementations of the rules rather than one with itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConcurrencyError, DuplicateEventError
from ..events import NewEvent, StreamState
from ..validation import check_expected_version


@dataclass
class ModelEvent:
    event_id: Any
    stream_id: str
    version: int
    data: dict[str, Any]


@dataclass(frozen=True)
class ModelResult:
    """An append's result as the model gives it: versions only (it has no global positions)."""

    stream_id: str
    first_version: int
    last_version: int


class ModelStore:
    def __init__(self) -> None:
        self.streams: dict[str, list[ModelEvent]] = {}
        self.where: dict[Any, ModelEvent] = {}

    def append(self, stream_id: str, batch: list[NewEvent], expected: Any) -> ModelResult:
        expected = check_expected_version(expected)
        known = [self.where.get(e.id) for e in batch]
        if any(known):
            versions = [k.version for k in known if k]
            whole = all(known) and all(k.stream_id == stream_id for k in known if k)
            consecutive = versions == list(range(versions[0], versions[0] + len(batch)))
            placed = (
                expected == versions[0] - 1 if isinstance(expected, int)
                else versions[0] == 0 if expected is StreamState.NO_STREAM
                else True
            )
            if whole and consecutive and placed:
                return ModelResult(stream_id, versions[0], versions[-1])
            raise DuplicateEventError("overlap", event_ids=[])
        stream = self.streams.setdefault(stream_id, [])
        current = len(stream) - 1 if stream else None
        if expected is StreamState.ANY:
            ok = True
        elif expected is StreamState.NO_STREAM:
            ok = current is None
        elif expected is StreamState.EXISTS:
            ok = current is not None
        else:
            ok = current == expected
        if not ok:
            raise ConcurrencyError(stream_id, expected, current)
        for e in batch:
            recorded = ModelEvent(e.id, stream_id, len(stream), e.data)
            stream.append(recorded)
            self.where[e.id] = recorded
        return ModelResult(stream_id, len(stream) - len(batch), len(stream) - 1)

    def read_stream(self, stream_id: str, start: int = 0, limit: int | None = None, backwards: bool = False) -> list[ModelEvent]:
        stream = self.streams.get(stream_id, [])
        if backwards:
            chosen = list(reversed(stream if start == 0 else stream[: start + 1]))
        else:
            chosen = stream[start:]
        return chosen if limit is None else chosen[:limit]
