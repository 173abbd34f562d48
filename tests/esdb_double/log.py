"""The double's storage: one in-memory log with the server's write rules, and nothing else.

The rules follow EventStoreDB's ``IndexWriter.CheckCommit`` (the same in 24.10 and KurrentDB 25):
an exact expected version (or NO_STREAM) behind the stream's version is an idempotent retry when the
ids stored after it are the batch's ids, and a WrongExpectedVersion otherwise; ANY and EXISTS look
the ids up in the server's cache of recent commits (here: every commit, never evicted). Commit
positions are byte offsets of records, so they grow with gaps, as on the server.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

ANY, NO_STREAM, EXISTS = -2, -1, -4  # the server's ExpectedVersion constants
DELETED_REVISION = 2**63 - 1  # EventNumber.DeletedStream: the revision of a tombstone record
_FIRST_POSITION = 1_337  # the log never starts at 0 on a real server either (its own system events)
_RECORD_HEADER = 80  # bytes of framing a record costs beyond its fields: positions are not dense


@dataclass(frozen=True)
class Record:
    position: int
    stream: str
    revision: int
    id: str
    type: str
    content_type: str
    data: bytes
    metadata: bytes
    created: int  # 100-ns ticks since the Unix epoch


@dataclass(frozen=True)
class Proposed:
    id: str
    type: str
    content_type: str
    data: bytes
    metadata: bytes


@dataclass(frozen=True)
class Written:
    first: int
    last: int
    position: int


@dataclass(frozen=True)
class WrongVersion:
    current: int  # -1: no stream


class Deleted(Exception):
    """The stream is tombstoned."""


class Log:
    """Every record in commit order, the streams as indexes into it, and a condition for subscribers."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.records: list[Record] = []
        self._streams: dict[str, list[Record]] = {}
        self._deleted: set[str] = set()
        self._committed: dict[str, tuple[str, int]] = {}  # event id -> (stream, revision)
        self._next = _FIRST_POSITION

    # -- writes ------------------------------------------------------------------------------

    def append(self, stream: str, expected: int, events: list[Proposed]) -> Written | WrongVersion:
        with self.changed:
            decision = self._check(stream, expected, [e.id for e in events])
            if decision is not None:
                return decision
            current = self._current(stream)
            for n, e in enumerate(events):
                self._write(stream, current + 1 + n, e.id, e.type, e.content_type, e.data, e.metadata)
            written = self._streams.get(stream, [])[-len(events):] if events else []
            self.changed.notify_all()
            if not written:
                return Written(current, current, -1)
            return Written(written[0].revision, written[-1].revision, written[-1].position)

    def tombstone(self, stream: str) -> int:
        with self.changed:
            if stream in self._deleted:
                raise Deleted(stream)
            self._deleted.add(stream)
            record = self._write(stream, DELETED_REVISION, "00000000-0000-0000-0000-000000000000", "$streamDeleted", "application/octet-stream", b"", b"", index=False)
            self.changed.notify_all()
            return record.position

    def _check(self, stream: str, expected: int, ids: list[str]) -> Written | WrongVersion | None:
        """None: write. Otherwise the answer: an idempotent success or a WrongExpectedVersion."""
        if stream in self._deleted:
            raise Deleted(stream)
        current = self._current(stream)
        if expected == EXISTS and current < 0 and self._current(f"$${stream}") < 0:
            return WrongVersion(current)
        if expected in (ANY, EXISTS):
            known = [self._committed.get(i) for i in ids]
            if not ids or known[0] is None or known[0][0] != stream:
                return None
            if any(k is None or k[0] != stream for k in known):
                return WrongVersion(current)  # "corrupted idempotency"
            return self._already(stream, known[0][1], known[-1][1])  # type: ignore[index]
        if expected < current:
            stored = self._streams[stream]
            for n, event_id in enumerate(ids, start=expected + 1):
                if n > current or stored[n].id != event_id:
                    return WrongVersion(current)
            return self._already(stream, expected + 1, expected + len(ids)) if ids else WrongVersion(current)
        if expected > current:
            return WrongVersion(current)
        return None

    def _already(self, stream: str, first: int, last: int) -> Written:
        return Written(first, last, self._streams[stream][last].position)

    def _write(self, stream: str, revision: int, event_id: str, type_: str, content_type: str, data: bytes, metadata: bytes, index: bool = True) -> Record:
        record = Record(self._next, stream, revision, event_id, type_, content_type, data, metadata, time.time_ns() // 100)
        self._next += _RECORD_HEADER + len(stream.encode()) + len(type_.encode()) + len(data) + len(metadata)
        self.records.append(record)
        if index:
            self._streams.setdefault(stream, []).append(record)
            self._committed[event_id] = (stream, revision)
        return record

    def _current(self, stream: str) -> int:
        events = self._streams.get(stream)
        return events[-1].revision if events else -1

    # -- reads -------------------------------------------------------------------------------

    def stream(self, stream: str) -> list[Record] | None:
        """The readable events of a stream (after ``$tb`` and ``$maxCount``), or None when it has none at all."""
        with self.changed:
            if stream in self._deleted:
                raise Deleted(stream)
            events = list(self._streams.get(stream, ()))
            meta = self._streams.get(f"$${stream}")
        if not events:
            return None
        if meta:
            settings = json.loads(meta[-1].data or b"{}")
            first = settings.get("$tb", 0)
            if "$maxCount" in settings:
                first = max(first, events[-1].revision - settings["$maxCount"] + 1)
            events = [e for e in events if e.revision >= first]
        return events

    def snapshot(self) -> list[Record]:
        with self.changed:
            return list(self.records)
