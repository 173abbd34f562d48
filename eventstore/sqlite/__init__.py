"""``sqlite:///path.db``: the embedded default, zero setup, full capabilities.

One connection per thread (sqlite3 connections are not shareable across threads), WAL so readers
never block the writer, and ``BEGIN IMMEDIATE`` so the expected-version check and the insert are
one serialised step. ``sqlite://`` alone opens a private in-memory database.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..capabilities import Capabilities, EngineInfo
from ..errors import InvalidInput
from ..events import AppendResult, ExpectedVersion, Position, RecordedEvent, Snapshot, category_of
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


class SQLiteStore(EventStore):
    capabilities = CAPABILITIES

    def __init__(self, path: str, *, synchronous: str = "NORMAL") -> None:
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
        return cls(path, synchronous=options.get("synchronous", "NORMAL"))

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
        return AppendResult(stream_id, first, first + len(batch) - 1, last_position)

    # -- reads ---------------------------------------------------------------------------------

    def _read_stream(self, stream_id: str, from_version: int, limit: int | None, backwards: bool) -> list[RecordedEvent]:
        if backwards:
            bound, params = ("", [stream_id]) if from_version == 0 else (" AND version <= ?", [stream_id, from_version])
            sql = f"SELECT {_COLUMNS} FROM events WHERE stream_id = ?{bound} ORDER BY version DESC"
        else:
            sql = f"SELECT {_COLUMNS} FROM events WHERE stream_id = ? AND version >= ? ORDER BY version"
            params = [stream_id, from_version]
        return self._select(sql, params, limit)

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
        return [
            RecordedEvent(s, v, p, uuid.UUID(i), t, json.loads(d), json.loads(m), datetime.fromisoformat(r))
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
                time.sleep(min(0.01, left))

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


def _now() -> str:
    return datetime.now(UTC).isoformat()
