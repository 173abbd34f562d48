"""The double's storage: one in-memory transaction log with the server's write and read rules.

Sources, in KurrentDB's server source (``kurrent-io/KurrentDB``, ``src/KurrentDB.Core/Services/``; the
same rules as EventStoreDB 24.10's ``EventStore.Core``):

- ``Storage/ReaderIndex/IndexWriter.cs``, ``CheckCommit``: the expected-version and idempotency check,
  ported rule by rule in ``_check`` below. ANY and EXISTS look the ids up in the server's cache of
  recent commits, ``BoundedCache.PutRecord(..., throwOnDuplicate: false)``, which keeps the *first*
  writer of an id (here: never evicted, where the server's cache is bounded).
- ``Storage/StorageWriterService.cs``: a tombstone (hard delete) is a ``$streamDeleted`` record whose
  event number is ``EventNumber.DeletedStream``; a soft delete writes ``{"$tb": DeletedStream}`` to the
  metadata stream; writing to a soft-deleted stream (or to its metadata stream) undeletes it by
  rewriting the metadata with ``$tb`` at the first new event number.
- ``RequestManager/Managers/RequestManagerBase.cs``: a failed check is StreamDeleted when the stream
  is tombstoned or EXISTS was expected of a soft-deleted stream, else WrongExpectedVersion.
- ``Storage/ReaderIndex/IndexReader.cs``: a stream with no events or a ``$tb`` of DeletedStream reads
  as NoStream; ``$maxCount`` and ``$tb`` bound the readable range; metadata is the last event of the
  metastream when it is JSON; a metastream reads with ``$maxCount`` 1 (``ESConsts.MetaStreamMaxCount``)
  and as deleted once its stream is tombstoned.
- ``TransactionLog/Chunks/TFChunkScavengerLogManager.cs``: on first election a server writes the
  metadata of ``$scavenges`` (max age 30 days, read by ``$ops``), so ``$all`` starts with a system event.
- ``Storage/StorageReaderWorker.All.cs``: ``$all`` is read from the position of a record; a position
  inside a record is an invalid position.

Positions are byte offsets of records, so they grow with gaps, as on the server.
"""
from __future__ import annotations

import bisect
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

ANY, NO_STREAM, EXISTS = -2, -1, -4  # the server's ExpectedVersion constants
DELETED = 2**63 - 1  # EventNumber.DeletedStream: the tombstone's event number, and $tb of a soft delete
_EPOCH_BYTES = 128  # the log opens with an epoch record, which is no event
_RECORD_HEADER = 80  # framing a record costs beyond its fields: positions are not dense
_META_MAX_COUNT = 1  # ESConsts.MetaStreamMaxCount: a metastream reads as its last event only
_SCAVENGES_METADATA = {"$maxAge": 30 * 24 * 3600, "$acl": {"$r": ["$ops"], "$w": [], "$d": [], "$mr": [], "$mw": []}}


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
    """Success, or an idempotent retry's original result."""

    first: int
    last: int
    position: int


@dataclass(frozen=True)
class Refused:
    """A failed consistency check: StreamDeleted when ``deleted``, else WrongExpectedVersion."""

    current: int  # -1: no stream; DELETED: tombstoned
    deleted: bool = False


@dataclass(frozen=True)
class _Ok:
    current: int
    soft_deleted: bool


class Deleted(Exception):
    """The stream is tombstoned."""


class InvalidPosition(Exception):
    """A ``$all`` position inside a record."""


class Log:
    """Every record in log order, the streams as indexes into it, and a condition for subscribers."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.records: list[Record] = []
        self._positions: list[int] = []  # of self.records, ascending
        self.end = _EPOCH_BYTES  # where the next record goes
        self._streams: dict[str, list[Record]] = {}  # events by revision (a tombstone is not one)
        self._last: dict[str, int] = {}  # last event number; DELETED once tombstoned
        self._committed: dict[str, tuple[str, int]] = {}  # event id -> (stream, revision) of its first writer
        self._write("$$$scavenges", 0, str(uuid.uuid4()), "$metadata", "application/json", json.dumps(_SCAVENGES_METADATA).encode(), b"")

    # -- writes ------------------------------------------------------------------------------

    def append(self, stream: str, expected: int, events: list[Proposed]) -> Written | Refused:
        with self.changed:
            check = self._check(stream, expected, [e.id for e in events])
            if not isinstance(check, _Ok):
                return check
            undelete_original = stream.startswith("$$") and self._soft_deleted(stream[2:])
            for n, e in enumerate(events, start=check.current + 1):
                self._write(stream, n, e.id, e.type, e.content_type, e.data, e.metadata)
            position = self.records[-1].position if events else self.end
            if check.soft_deleted:
                self._undelete(stream, check.current + 1)
            if undelete_original:
                self._undelete(stream[2:], self._last.get(stream[2:], -1) + 1)
            self.changed.notify_all()
            return Written(check.current + 1, check.current + len(events), position)

    def delete(self, stream: str, expected: int, hard: bool) -> int | Refused:
        """A tombstone (``hard``) or a soft delete; the position of the record it wrote."""
        with self.changed:
            check = self._check(stream, expected, [str(uuid.uuid4())])
            if not isinstance(check, _Ok):  # a fresh id is never an idempotent retry
                assert isinstance(check, Refused)
                return check
            if hard:
                record = self._write(stream, DELETED, str(uuid.uuid4()), "$streamDeleted", "application/octet-stream", b"", b"")
                self._last[stream] = DELETED
            else:
                meta = f"$${stream}"
                if self._last.get(stream, -1) < 0 and self._last.get(meta, -1) < 0:
                    return Refused(-1)  # the stream never existed
                data = json.dumps({"$tb": DELETED}).encode()
                record = self._write(meta, self._last.get(meta, -1) + 1, str(uuid.uuid4()), "$metadata", "application/json", data, b"")
            self.changed.notify_all()
            return record.position

    def _check(self, stream: str, expected: int, ids: list[str]) -> _Ok | Written | Refused:
        """``IndexWriter.CheckCommit``: write (``_Ok``), an idempotent retry (``Written``), or ``Refused``."""
        current = self._last.get(stream, -1)
        if current == DELETED:
            if ids or expected not in (ANY, NO_STREAM, DELETED):
                return Refused(DELETED, deleted=True)
            return _Ok(current, False)
        soft_deleted = self._soft_deleted(stream)
        if expected == EXISTS:
            if soft_deleted:
                return Refused(current, deleted=True)
            if current < 0 and self._last.get(f"$${stream}", -1) < 0:
                return Refused(current)
        if expected in (ANY, EXISTS):  # weak idempotency: the cache of recent commits
            found: list[int] = []
            for event_id in ids:
                known = self._committed.get(event_id)
                if known is not None and known[0] == stream:
                    found.append(known[1])
                    continue
                return Refused(current) if found else _Ok(current, soft_deleted)  # found: "corrupted idempotency"
            return self._already(stream, found[0], found[-1]) if found else _Ok(current, soft_deleted)
        if expected < current:  # strong idempotency: the ids stored right after the expected version
            number = expected
            for n, event_id in enumerate(ids):
                number += 1
                stored = self._streams[stream][number] if number <= current else None
                if self._committed.get(event_id) == (stream, number) or (stored is not None and stored.id == event_id):
                    continue
                if n == 0 and expected == NO_STREAM and soft_deleted:
                    return _Ok(current, True)
                return Refused(current)
            if not ids:
                return _Ok(current, True) if expected == NO_STREAM and soft_deleted else Refused(current)
            return self._already(stream, expected + 1, number)
        if expected > current:
            return Refused(current)
        return _Ok(current, soft_deleted)

    def _already(self, stream: str, first: int, last: int) -> Written:
        return Written(first, last, self._streams[stream][last].position)

    def _undelete(self, stream: str, recreate_from: int) -> None:
        """``SoftUndeleteStream``: the stream's metadata again, with ``$tb`` at the first new event number."""
        meta = f"$${stream}"
        settings = self._metadata(stream)
        if settings is None:
            return  # the server leaves metadata it cannot parse alone
        data = json.dumps({**settings, "$tb": recreate_from}).encode()
        self._write(meta, self._last.get(meta, -1) + 1, str(uuid.uuid4()), "$metadata", "application/json", data, b"")

    def _write(self, stream: str, revision: int, event_id: str, type_: str, content_type: str, data: bytes, metadata: bytes) -> Record:
        record = Record(self.end, stream, revision, event_id, type_, content_type, data, metadata, time.time_ns() // 100)
        self.end += _RECORD_HEADER + len(stream.encode()) + len(type_.encode()) + len(data) + len(metadata)
        self.records.append(record)
        self._positions.append(record.position)
        self._committed.setdefault(event_id, (stream, revision))
        if revision != DELETED:
            self._streams.setdefault(stream, []).append(record)
            self._last[stream] = revision
        return record

    def _metadata(self, stream: str) -> dict[str, Any] | None:
        """The stream's newest metadata ({} without any), None when it is not a JSON object."""
        events = self._streams.get(f"$${stream}")
        if not events or events[-1].content_type != "application/json":
            return {}
        try:
            settings = json.loads(events[-1].data or b"{}")
        except ValueError:
            return None
        return settings if isinstance(settings, dict) else None

    def _soft_deleted(self, stream: str) -> bool:
        return (self._metadata(stream) or {}).get("$tb") == DELETED

    # -- reads -------------------------------------------------------------------------------

    def stream(self, stream: str) -> list[Record] | None:
        """The readable events of a stream (after ``$tb`` and ``$maxCount``); None when it reads as NoStream."""
        with self.changed:
            last = self._last.get(stream, -1)
            meta_of = stream[2:] if stream.startswith("$$") else None
            if last == DELETED or (meta_of is not None and self._last.get(meta_of) == DELETED):
                raise Deleted(stream)  # a metastream is deleted with its stream
            settings = {"$maxCount": _META_MAX_COUNT} if meta_of is not None else self._metadata(stream) or {}
            if last < 0 or settings.get("$tb") == DELETED:
                return None
            first = 0
            if isinstance(settings.get("$maxCount"), int):
                first = max(first, last - settings["$maxCount"] + 1)
            if isinstance(settings.get("$tb"), int):
                first = max(first, settings["$tb"])
            return self._streams[stream][first:]

    def last_revision(self, stream: str) -> int:
        """The stream's last event number (-1: none; DELETED: tombstoned)."""
        with self.changed:
            return self._last.get(stream, -1)

    def index(self, position: int | None, backwards: bool = False) -> int:
        """Where a read of ``$all`` from ``position`` starts in ``records``: forwards the first record at or
        after it, backwards the count of records before it (None: the start, or the end backwards)."""
        with self.changed:
            if position is None:
                return len(self.records) if backwards else 0
            at = bisect.bisect_left(self._positions, position)
            if 0 < position < self.end and (at == len(self._positions) or self._positions[at] != position):
                raise InvalidPosition(position)
            return at

    def slice(self, start: int, stop: int | None = None) -> list[Record]:
        with self.changed:
            return self.records[start:stop]

    def size(self) -> int:
        with self.changed:
            return len(self.records)
