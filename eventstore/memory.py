"""``memory://``: a process-local store for experiments and as the model other backends are checked against."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from .capabilities import Capabilities, EngineInfo
from .events import AppendResult, ExpectedVersion, Position, RecordedEvent, Snapshot, category_of
from .plugins import Deployment, Engine, Servers
from .store import EventStore, check_expected, match_retry
from .subscriptions import Wait
from .validation import PreparedEvent

CAPABILITIES = Capabilities(
    optimistic_concurrency=True,
    idempotent_append=True,
    atomic_batch=True,
    global_order=True,
    gap_safe_global_order=True,
    indexed_category_reads=False,
    push_notifications=True,
    transactional_checkpoints=False,
    snapshots=True,
    limitations=("Lives in one process and is lost when it exits.", "Category reads scan every event."),
)


class MemoryStore(EventStore):
    """Everything under one lock: trivially gap-safe, and the reference model for tests."""

    capabilities = CAPABILITIES

    def __init__(self) -> None:
        self.engine = EngineInfo("memory", "Python in-memory", "1")
        self._lock = threading.Condition()
        self._events: list[RecordedEvent] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._by_id: dict[str, RecordedEvent] = {}
        self._checkpoints: dict[str, Position] = {}
        self._snapshots: dict[str, list[Snapshot]] = {}

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        return cls()

    def _append(self, stream_id: str, batch: list[PreparedEvent], expected: ExpectedVersion) -> AppendResult:
        with self._lock:
            stored = [self._by_id[str(e.id)] for e in batch if str(e.id) in self._by_id]
            retry = match_retry(stream_id, batch, expected, [(r.event_id, r.stream_id, r.version, r.position) for r in stored])
            if retry is not None:
                return retry
            stream = self._streams.get(stream_id, [])
            current = stream[-1].version if stream else None
            check_expected(stream_id, expected, current)
            now = datetime.now(UTC)
            first = 0 if current is None else current + 1
            recorded = [
                RecordedEvent(stream_id, first + n, len(self._events) + n + 1, e.id, e.type, _copy(e.data_json), _copy(e.metadata_json), now)
                for n, e in enumerate(batch)
            ]
            self._events.extend(recorded)
            self._streams.setdefault(stream_id, []).extend(recorded)
            self._by_id.update((str(r.event_id), r) for r in recorded)
            self._lock.notify_all()
            return AppendResult(stream_id, first, recorded[-1].version, recorded[-1].position)

    def _read_stream(self, stream_id: str, from_version: int, limit: int | None, backwards: bool) -> list[RecordedEvent]:
        with self._lock:
            stream = self._streams.get(stream_id, [])
            if backwards:
                top = len(stream) if from_version == 0 else from_version + 1
                selected = stream[:top][::-1]
            else:
                selected = stream[from_version:]
            return selected[:limit] if limit is not None else list(selected)

    def _read_all(self, after: Position | None, limit: int | None, types: list[str] | None, categories: list[str] | None) -> list[RecordedEvent]:
        with self._lock:
            assert after is None or isinstance(after, int)  # the default _check_position admits ints only
            start = 0 if after is None else int(after)  # positions are 1-based list indexes
            out: list[RecordedEvent] = []
            for event in self._events[start:]:
                if types is not None and event.type not in types:
                    continue
                if categories is not None and category_of(event.stream_id) not in categories:
                    continue
                out.append(event)
                if limit is not None and len(out) >= limit:
                    break
            return out

    def _load_checkpoint(self, name: str) -> Position | None:
        with self._lock:
            return self._checkpoints.get(name)

    def _save_checkpoint(self, name: str, position: Position, tx: Any) -> None:
        with self._lock:
            self._checkpoints[name] = position

    def _save_snapshot(self, snapshot: Snapshot) -> None:
        with self._lock:
            kept = [s for s in self._snapshots.get(snapshot.stream_id, []) if (s.version, s.schema_version) != (snapshot.version, snapshot.schema_version)]
            kept.append(Snapshot(snapshot.stream_id, snapshot.version, _copy_obj(snapshot.state), snapshot.schema_version, datetime.now(UTC)))
            self._snapshots[snapshot.stream_id] = sorted(kept, key=lambda s: s.version)

    def _load_snapshot(self, stream_id: str, schema_version: int | None) -> Snapshot | None:
        with self._lock:
            for s in reversed(self._snapshots.get(stream_id, [])):
                if schema_version is None or s.schema_version == schema_version:
                    return s
            return None

    def _delete_snapshots(self, stream_id: str | None) -> None:
        with self._lock:
            if stream_id is None:
                self._snapshots.clear()
            else:
                self._snapshots.pop(stream_id, None)

    def drop(self) -> None:
        with self._lock:
            self._events.clear()
            self._streams.clear()
            self._by_id.clear()
            self._checkpoints.clear()
            self._snapshots.clear()

    @contextmanager
    def notifications(self) -> Iterator[Wait]:
        """Woken by the append itself (the store's condition variable): True once events were added."""
        seen = len(self._events)

        def wait(timeout: float) -> bool:
            nonlocal seen
            with self._lock:
                woke = self._lock.wait_for(lambda: len(self._events) != seen, timeout)
                seen = len(self._events)
            return woke

        yield wait


def _copy(text: str) -> dict[str, Any]:
    """Decode stored JSON afresh so a caller's later changes to its own dict cannot reach the store."""
    return json.loads(text)


def _copy_obj(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(obj))


class MemoryEngine(Engine):
    name = "memory"
    description = "In-process Python store, for quick experiments"
    schemes = ("memory",)
    url_form = "memory:// (each open_store call is a new, empty store)"
    default = False
    cross_process = False
    rank = 90

    def open_store(self, url: str) -> EventStore:
        return MemoryStore.from_url(url)

    @contextmanager
    def deploy(self, servers: Servers) -> Iterator[Deployment]:
        with Deployment(self, lambda label: f"memory://{label}", settings={"process": "in-process", "durability": "in memory"}) as deployment:
            yield deployment


ENGINE = MemoryEngine()
