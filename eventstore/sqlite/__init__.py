"""``sqlite:///path.db``: the embedded default, zero setup, full capabilities.

One connection per thread (sqlite3 connections are not shareable across threads), WAL so readers
never block the writer, and an append as one INSERT statement, which takes SQLite's write lock
before it reads anything, so the expected-version check and the insert are one serialised step
(``BEGIN IMMEDIATE`` where the step-by-step path needs several statements). ``sqlite://`` alone
opens a private in-memory database.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import types
import uuid
from _json import make_scanner
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..capabilities import Capabilities, EngineInfo
from ..errors import InvalidInput
from ..events import AppendResult, ExpectedVersion, Position, RecordedEvent, Snapshot, StreamState, append_result, category_of, recorded_event
from ..store import EventStore, check_expected, match_retry
from ..subscriptions import Wait
from ..validation import PreparedEvent

CAPABILITIES = Capabilities(
    optimistic_concurrency=True,
    idempotent_append=True,
    atomic_batch=True,
    global_order=True,
    gap_safe_global_order=True,
    indexed_category_reads=True,
    push_notifications=False,
    transactional_checkpoints=True,
    snapshots=True,
    limitations=(
        "One writer at a time for the whole database: appends to different streams still queue.",
        "Embedded: only processes on the same machine can share a database file.",
        "Live subscribers poll PRAGMA data_version (every 10 ms), not a push from the engine.",
    ),
)

_COLUMNS = "stream_id, version, position, event_id, event_type, data, metadata, recorded_at"
#: How often a live subscriber checks ``PRAGMA data_version`` (the raw path's listener checks as often).
DATA_VERSION_POLL_S = 0.01


class SQLiteStore(EventStore):
    capabilities = CAPABILITIES

    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise InvalidInput(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.synchronous = synchronous.upper()
        if path in ("", ":memory:"):
            self._target, self._uri = f"file:eventstore-{uuid.uuid4().hex}?mode=memory&cache=shared", True
        else:
            self._target, self._uri = path, False
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        #: Highest version this instance has seen stored, per stream (see ``_append``).
        self._seen: dict[str, int] = {}
        self._keepalive = self._conn()  # keeps a shared in-memory database alive
        self._keepalive.executescript(files(__package__).joinpath("schema.sql").read_text())
        self.engine = EngineInfo("sqlite", "SQLite", sqlite3.sqlite_version)

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        parts = urlsplit(url)
        if parts.netloc:
            raise InvalidInput(f"sqlite URLs have no host: use sqlite:///relative.db or sqlite:////absolute.db, not {url!r}")
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return cls(path, synchronous=options.get("synchronous", "FULL"))

    def settings_summary(self) -> dict[str, str]:
        return {"journal_mode": "wal", "synchronous": self.synchronous}

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._target, uri=self._uri, isolation_level=None, check_same_thread=False, timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
            with self._guard:
                self._all.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- append --------------------------------------------------------------------------------

    def _append(self, stream_id: str, batch: list[PreparedEvent], expected: ExpectedVersion) -> AppendResult:
        """One statement, committed on its own, in the common case; it writes nothing when the stream
        is not at ``expected`` or an id is already stored, and then ``_append_checked`` tells a
        retry of this batch, a duplicate and a version conflict apart.

        ``NO_STREAM`` and exact expected versions fix the versions, so the statement is a plain
        multi-row INSERT (``_insert_at_query``): UNIQUE (stream_id, version) refuses a version
        another writer holds, and only a stream behind ``expected`` needs a check, which is left out
        once this instance has seen version ``expected`` stored (stored versions are permanent:
        triggers refuse UPDATE and DELETE). ``ANY`` and ``EXISTS`` read the stream's last version
        in the statement (``_insert_after_current_query``)."""
        if len(batch) > _STATEMENT_ROWS:  # past SQLite's limit of parameters per statement
            return self._append_checked(stream_id, batch, expected)
        category, now = stream_id.partition("-")[0], _now()  # category_of(stream_id)
        if isinstance(expected, StreamState) and expected is not StreamState.NO_STREAM:
            params: list[Any] = [stream_id, category, now]
            for e in batch:
                params += (str(e.id), e.type, e.data_json, e.metadata_json)
            query = _insert_after_current_query(len(batch), expected is StreamState.EXISTS)
            try:
                rows = self._conn().execute(query, params).fetchall()
            except sqlite3.IntegrityError:
                rows = []  # an id is already stored: nothing was written
            if not rows:
                return self._append_checked(stream_id, batch, expected)
            if len(rows) > 1:
                rows.sort()
            self._saw(stream_id, rows[-1][1])
            return append_result(stream_id, rows[0][1], rows[-1][1], rows[-1][0])
        first = 0 if expected is StreamState.NO_STREAM else expected + 1
        size = len(batch)
        if size == 1:
            e = batch[0]
            params = [stream_id, first, str(e.id), e.type, category, e.data_json, e.metadata_json, now]
        else:
            params = []
            for n, e in enumerate(batch, first):
                params += (stream_id, n, str(e.id), e.type, category, e.data_json, e.metadata_json, now)
        seen = self._seen
        checked = first > 0 and seen.get(stream_id, -1) < first - 1
        if checked:
            params += (stream_id, first - 1)
        try:
            cursor = self._conn().execute(_INSERT_ONE if size == 1 and not checked else _insert_at_query(size, checked), params)
        except sqlite3.IntegrityError:
            return self._append_checked(stream_id, batch, expected)  # a version or an id is taken
        if cursor.rowcount != size:  # the stream is behind the expected version
            return self._append_checked(stream_id, batch, expected)
        last = first + size - 1
        if len(seen) >= _SEEN_STREAMS:
            seen.clear()
        seen[stream_id] = last  # it held at most first - 1: last is stored now
        position = cursor.lastrowid  # the last row the INSERT wrote
        assert position is not None
        return append_result(stream_id, first, last, position)

    def _saw(self, stream_id: str, version: int) -> None:
        if len(self._seen) >= _SEEN_STREAMS:
            self._seen.clear()
        if self._seen.get(stream_id, -1) < version:
            self._seen[stream_id] = version

    def _append_checked(self, stream_id: str, batch: list[PreparedEvent], expected: ExpectedVersion) -> AppendResult:
        """The append step by step in one ``BEGIN IMMEDIATE`` transaction: stored ids first (an exact
        retry returns the original result), then the expected version, then the insert."""
        ids = [str(e.id) for e in batch]
        with self._write() as conn:
            marks = ",".join("?" * len(ids))
            stored = conn.execute(
                f"SELECT event_id, stream_id, version, position FROM events WHERE event_id IN ({marks})", ids
            ).fetchall()
            retry = match_retry(stream_id, batch, expected, stored)
            if retry is not None:
                return retry
            current = conn.execute("SELECT max(version) FROM events WHERE stream_id = ?", (stream_id,)).fetchone()[0]
            check_expected(stream_id, expected, current)
            first = 0 if current is None else current + 1
            now = _now()
            category = category_of(stream_id)
            conn.executemany(
                "INSERT INTO events (stream_id, version, event_id, event_type, category, data, metadata, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(stream_id, first + n, str(e.id), e.type, category, e.data_json, e.metadata_json, now) for n, e in enumerate(batch)],
            )
            last_position = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        self._saw(stream_id, first + len(batch) - 1)
        return AppendResult(stream_id, first, first + len(batch) - 1, last_position)

    # -- reads ---------------------------------------------------------------------------------

    def _read_stream(self, stream_id: str, from_version: int, limit: int | None, backwards: bool) -> list[RecordedEvent]:
        if backwards:
            bound, params = ("", [stream_id]) if from_version == 0 else (" AND version <= ?", [stream_id, from_version])
            sql = f"SELECT {_COLUMNS} FROM events WHERE stream_id = ?{bound} ORDER BY version DESC"
        else:
            sql = f"SELECT {_COLUMNS} FROM events WHERE stream_id = ? AND version >= ? ORDER BY version"
            params = [stream_id, from_version]
        events = self._select(sql, params, limit)
        if events:
            self._saw(stream_id, max(events[0].version, events[-1].version))
        return events

    def _read_all(self, after: Position | None, limit: int | None, types: list[str] | None, categories: list[str] | None) -> list[RecordedEvent]:
        assert after is None or isinstance(after, int)  # the default _check_position admits ints only
        where = ["position > ?"]
        params: list[int | str] = [after or 0]
        if types is not None:
            where.append(f"event_type IN ({','.join('?' * len(types))})")
            params += types
        if categories is not None:
            where.append(f"category IN ({','.join('?' * len(categories))})")
            params += categories
        return self._select(f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY position", params, limit)

    def _select(self, sql: str, params: list[Any], limit: int | None) -> list[RecordedEvent]:
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, limit]
        uuid_, json_, datetime_ = _uuid, _json, datetime.fromisoformat
        return [
            recorded_event(s, v, p, uuid_(i), t, json_(d), {} if m == "{}" else json_(m), datetime_(r))
            for s, v, p, i, t, d, m, r in self._conn().execute(sql, params)
        ]

    # -- checkpoints ---------------------------------------------------------------------------

    def _load_checkpoint(self, name: str) -> Position | None:
        row = self._conn().execute("SELECT position FROM subscription_checkpoints WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _save_checkpoint(self, name: str, position: Position, tx: Any) -> None:
        sql = (
            "INSERT INTO subscription_checkpoints (name, position, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at"
        )
        (tx or self._conn()).execute(sql, (name, position, _now()))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside ``BEGIN IMMEDIATE``: handler writes and the checkpoint commit together."""
        with self._write() as conn:
            yield conn

    # -- snapshots -----------------------------------------------------------------------------

    def _save_snapshot(self, snapshot: Snapshot) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO snapshots (stream_id, version, schema_version, state, recorded_at) VALUES (?, ?, ?, ?, ?)",
            (snapshot.stream_id, snapshot.version, snapshot.schema_version, json.dumps(snapshot.state), _now()),
        )

    def _load_snapshot(self, stream_id: str, schema_version: int | None) -> Snapshot | None:
        sql = "SELECT stream_id, version, state, schema_version, recorded_at FROM snapshots WHERE stream_id = ?"
        params: list[Any] = [stream_id]
        if schema_version is not None:
            sql += " AND schema_version = ?"
            params.append(schema_version)
        row = self._conn().execute(sql + " ORDER BY version DESC LIMIT 1", params).fetchone()
        if row is None:
            return None
        return Snapshot(row[0], row[1], json.loads(row[2]), row[3], datetime.fromisoformat(row[4]))

    def _delete_snapshots(self, stream_id: str | None) -> None:
        if stream_id is None:
            self._conn().execute("DELETE FROM snapshots")
        else:
            self._conn().execute("DELETE FROM snapshots WHERE stream_id = ?", (stream_id,))

    # -- live ----------------------------------------------------------------------------------

    @contextmanager
    def notifications(self) -> Iterator[Wait]:
        """True once another connection has committed: ``PRAGMA data_version`` changed (checked every
        10 ms; a poll of the file's header, not a push from the engine)."""
        conn = self._conn()
        seen = conn.execute("PRAGMA data_version").fetchone()[0]

        def wait(timeout: float) -> bool:
            nonlocal seen
            deadline = time.monotonic() + timeout
            while True:
                now = conn.execute("PRAGMA data_version").fetchone()[0]
                if now != seen:
                    seen = now
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                time.sleep(min(DATA_VERSION_POLL_S, left))

        yield wait

    def close(self) -> None:
        with self._guard:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def drop(self) -> None:
        """Close, then delete the database file and its WAL and shared-memory files."""
        self.close()
        if not self._uri:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)


_COLUMNS_IN = "stream_id, version, event_id, event_type, category, data, metadata, recorded_at"
#: How many streams' highest seen version a store instance remembers (then it starts over).
_SEEN_STREAMS = 10_000
#: Larger batches go through ``_append_checked``: eight parameters per event, and SQLite binds at
#: most 32,766 per statement.
_STATEMENT_ROWS = 1000


@lru_cache(maxsize=256)
def _insert_at_query(size: int, checked: bool) -> str:
    """The append of ``size`` events at versions the caller fixed: one row of eight parameters per
    event (``_COLUMNS_IN``); ``checked`` adds two (stream id, version) that must already be stored."""
    rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * size)
    if not checked:
        return f"INSERT INTO events ({_COLUMNS_IN}) VALUES {rows}"
    return (
        f"INSERT INTO events ({_COLUMNS_IN}) SELECT * FROM (VALUES {rows})"
        " WHERE EXISTS (SELECT 1 FROM events WHERE stream_id = ? AND version = ?) ORDER BY 2"
    )


_INSERT_ONE = _insert_at_query(1, False)


@lru_cache(maxsize=256)
def _insert_after_current_query(size: int, exists: bool) -> str:
    """The append of ``size`` events after the stream's last version (``ANY``; with ``exists``, only
    to a stream that has one): it reads that version under SQLite's write lock, which a writing
    statement takes before it reads. Parameters: ?1 stream id, ?2 category, ?3 recorded_at, then id,
    type, data and metadata of each event. Returns (position, version) per event; none when
    ``exists`` and the stream has no events."""
    # Not max(version): in a subquery SQLite reads every version of the stream to find it.
    current = "(SELECT (SELECT version FROM events WHERE stream_id = ?1 ORDER BY version DESC LIMIT 1) AS current) AS c"
    check = " WHERE c.current IS NOT NULL" if exists else ""
    rows = ", ".join(f"({n}, ?{4 + 4 * n}, ?{5 + 4 * n}, ?{6 + 4 * n}, ?{7 + 4 * n})" for n in range(size))
    return (
        f"INSERT INTO events ({_COLUMNS_IN})"
        " SELECT ?1, coalesce(c.current + 1, 0) + b.column1, b.column2, b.column3, ?2, b.column4, b.column5, ?3"
        f" FROM {current}, (VALUES {rows}) AS b{check} ORDER BY b.column1 RETURNING position, version"
    )


_SCAN_JSON = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed: the context is a decoder


def _json(text: str) -> Any:
    """``json.loads(text)`` for the JSON this store wrote: the scanner ``json.loads`` ends in, without
    the layers above it, which cost as much as scanning a small event."""
    try:
        value, end = _SCAN_JSON(text, 0)
        if end == len(text):
            return value
    except StopIteration:
        pass
    return json.loads(text)  # not what this store writes: let json decide, or name the fault


_new = object.__new__
#: ``UUID`` keeps its value in two slots; setting them through their descriptors skips
#: ``UUID.__init__``, which parses every spelling it accepts, at several times the cost.
_UUID_INT: Any = vars(uuid.UUID).get("int")
_UUID_SAFE: Any = vars(uuid.UUID).get("is_safe")
_SAFE_UNKNOWN = uuid.SafeUUID.unknown


def _uuid(text: str) -> uuid.UUID:
    """``uuid.UUID(text)`` for the canonical text this store wrote (``str(uuid)``), built the way
    psycopg builds the UUIDs it reads."""
    value = _new(uuid.UUID)
    _UUID_INT.__set__(value, int(text.replace("-", ""), 16))
    _UUID_SAFE.__set__(value, _SAFE_UNKNOWN)
    return value


if not (isinstance(_UUID_INT, types.MemberDescriptorType) and isinstance(_UUID_SAFE, types.MemberDescriptorType)):
    _uuid = uuid.UUID  # type: ignore[assignment]  # a Python whose UUID keeps no slots: the plain constructor


def _now() -> str:
    return datetime.now(UTC).isoformat()
