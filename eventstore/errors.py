"""One error family for every backend, so callers catch the same errors whatever the engine.

Modelled on DB-API: ``EventStoreError`` is the root; input problems are ``InvalidInput`` (also a
``ValueError``), conflicts between writers are ``ConcurrencyError``.
"""
from __future__ import annotations

from typing import Any


class EventStoreError(Exception):
    """Root of every error raised by the event store."""


class InvalidInput(EventStoreError, ValueError):
    """The caller passed something the store will not accept; nothing was written."""


class LimitExceeded(InvalidInput):
    """A batch or event exceeds a limit the backend declares (count or bytes); nothing was written."""

    def __init__(self, message: str, *, limit: int, actual: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.actual = actual


class ConcurrencyError(EventStoreError):
    """The stream was not at the expected version; nothing was written. Reload and retry."""

    def __init__(self, stream_id: str, expected: Any, actual: int | None) -> None:
        self.stream_id = stream_id
        self.expected = expected
        #: The stream's current version, or None when the stream does not exist.
        self.actual = actual
        super().__init__(
            f"stream {stream_id!r}: expected version {expected!r}, actual version {actual!r}"
        )


class DuplicateEventError(EventStoreError):
    """Some event ids of a batch are already stored, but not as this exact batch; nothing was written.

    An exact retry (same ids, same stream, same positions) is not an error: it returns the original
    result. This is raised for partial overlaps and for ids reused elsewhere.
    """

    def __init__(self, message: str, *, event_ids: list[str]) -> None:
        super().__init__(message)
        self.event_ids = event_ids


class UnsupportedOperation(EventStoreError, NotImplementedError):
    """The backend declares that it lacks this capability."""


class SubscriptionError(EventStoreError):
    """A subscription's handler failed; the checkpoint stays before the failed event."""

    def __init__(self, name: str, position: Any, cause: BaseException) -> None:
        super().__init__(f"subscription {name!r} stopped at position {position!r}: {cause!r}")
        self.name = name
        self.position = position
        self.__cause__ = cause


class StoreUnavailable(EventStoreError):
    """The engine could not be reached or the connection broke. An append that raised this may or
    may not have committed: retry it with the same event ids and idempotency makes that safe."""
