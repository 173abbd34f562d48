"""What every promise class of the conformance suite shares: a fresh store per test, the skip on a
capability the engine declares it lacks, and small helpers to write events and aggregates with.

A promise class (``AppendConformance``, ``ReadConformance``, ...) subclasses ``ConformanceBase``; an
engine's test class provides ``make_store`` (and ``close_store`` when closing is not enough).
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ..aggregates import Aggregate
from ..events import NewEvent
from ..store import EventStore
from ..validation import PreparedEvent


def stream(category: str = "Order") -> str:
    return f"{category}-{uuid.uuid4()}"


def events(n: int, type: str = "Happened", **data: Any) -> list[NewEvent]:
    return [NewEvent(type, {"n": i, **data}) for i in range(n)]


def sized_event(size: int) -> NewEvent:
    """An event whose validated size (``PreparedEvent.size``, what limits count) is exactly ``size``."""
    empty = PreparedEvent(uuid.uuid4(), "Sized", {}, {}, '{"pad":""}', "{}").size
    return NewEvent("Sized", {"pad": "x" * (size - empty)})


class Counter(Aggregate):
    """The smallest interesting aggregate: a count and the last value added."""

    category = "Counter"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.total = 0
        self.applied = 0

    def apply(self, type: str, data: dict[str, Any]) -> None:
        self.total += data["by"]
        self.applied += 1

    def snapshot_state(self) -> dict[str, Any]:
        return {"total": self.total}

    def restore(self, state: dict[str, Any]) -> None:
        self.total = state["total"]


class Crash(BaseException):
    """Simulates a process dying inside a handler: nothing after it runs, not even a checkpoint."""


class ConformanceBase:
    """A fresh store per test (the ``store`` fixture) and the capability checks every promise uses."""

    #: Seconds a live subscriber may take to see an append.
    live_timeout: float = 10.0

    def make_store(self) -> EventStore:
        raise NotImplementedError

    def close_store(self, store: EventStore) -> None:
        store.close()

    @pytest.fixture
    def store(self) -> Iterator[EventStore]:
        s = self.make_store()
        try:
            yield s
        finally:
            self.close_store(s)

    @staticmethod
    def require(store: EventStore, *capabilities: str) -> None:
        missing = [c for c in capabilities if not getattr(store.capabilities, c)]
        if missing:
            pytest.skip(f"{store.engine.backend} ({store.engine.mode} mode) declares no {', '.join(missing)}")

    @staticmethod
    def require_limit(store: EventStore, name: str) -> int:
        """The declared limit ``name`` (a ``Capabilities`` field); skips when it is unbounded."""
        limit: int | None = getattr(store.capabilities, name)
        if limit is None:
            pytest.skip(f"{store.engine.backend} ({store.engine.mode} mode) declares no {name}")
        return limit
