"""Errors only the Kafka backend raises; each is an ``EventStoreError`` so callers need no Kafka import."""
from __future__ import annotations

from ..errors import ConcurrencyError, EventStoreError, StoreUnavailable
from ..events import ExpectedVersion


class BrokerError(StoreUnavailable):
    """The broker failed, refused or did not answer a request in time (unreachable, timed out, topic
    gone). Every broker request is bounded (``config.TIMEOUT_S``), so a hung broker ends in this error.

    It is a ``StoreUnavailable``, so callers handle it as they handle any engine being unreachable.
    An append that raises this may or may not have been written: retry it with the same event ids,
    which the fenced mode recognises as an idempotent retry.
    """


class UnreadableRecord(EventStoreError):
    """A record in the store's topic was not written by this adapter (its headers are missing)."""


class WriterFenced(ConcurrencyError):
    """Other store instances took the prefix's writer fence every time this append tried to commit.

    Nothing was written. It is a ``ConcurrencyError`` because it is one: writers contending for the
    same prefix; ``execute`` reloads and retries it like a version conflict.
    """

    def __init__(self, stream_id: str, expected: ExpectedVersion, actual: int | None, attempts: int) -> None:
        super().__init__(stream_id, expected, actual)
        self.attempts = attempts
        self.args = (
            f"stream {stream_id!r}: lost the writer fence to other store instances {attempts} times in a row; "
            f"nothing was written (last seen version {actual!r}, expected {expected!r})",
        )
