"""SQLite's raw path: plain ``sqlite3`` on the store's file, for the overhead workload.

The same file and table as the store, the same pragmas (WAL, the URL's ``synchronous``), the same
JSON text: a single-row INSERT committed on its own, a 100-row ``executemany`` in one transaction,
and a keyset SELECT on ``position`` decoding ``data`` and ``metadata`` with ``json.loads``, the event id
and the time stamp as the store does. No version check, no
idempotency lookup. Live: a connection of its own checks ``PRAGMA data_version`` as often as the
store's subscribers do, and on a change selects the new rows' ids (SQLite pushes nothing).
"""
from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..events import NewEvent
from ..plugins import RawListener, RawPath, RawRow
from . import DATA_VERSION_POLL_S, SQLiteStore

INSERT = (
    "INSERT INTO events (stream_id, version, event_id, event_type, category, data, metadata, recorded_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT = ("SELECT position, stream_id, version, event_type, data, event_id, metadata, recorded_at FROM events"
           " WHERE position > ? ORDER BY position LIMIT ?")


class SQLiteRawPath(RawPath):
    describe = "plain sqlite3 on the same file and pragmas: single-row INSERT, executemany in one transaction, keyset SELECT + json.loads"

    def __init__(self, url: str) -> None:
        store = SQLiteStore.from_url(url)  # the file, its schema and the URL's synchronous setting
        path, synchronous = store.path, store.synchronous
        store.close()
        if path in ("", ":memory:"):
            raise ValueError("the SQLite raw path needs a file: a private in-memory store cannot be shared")
        self._path = path
        self._conn = _connect(path)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute("PRAGMA busy_timeout=60000")
        self._versions: dict[str, int] = {}

    @staticmethod
    def _row(stream_id: str, version: int, event: NewEvent, now: str) -> tuple[Any, ...]:
        return (stream_id, version, str(event.id), event.type, stream_id.partition("-")[0], json.dumps(event.data),
                json.dumps(event.metadata or {}), now)

    def append_one(self, stream_id: str, event: NewEvent) -> None:
        version = self._versions.get(stream_id, -1) + 1
        self._conn.execute(INSERT, self._row(stream_id, version, event, datetime.now(UTC).isoformat()))
        self._versions[stream_id] = version

    def append_batch(self, stream_id: str, events: Sequence[NewEvent]) -> None:
        now = datetime.now(UTC).isoformat()
        self._conn.execute("BEGIN")
        try:
            self._conn.executemany(INSERT, [self._row(stream_id, n, e, now) for n, e in enumerate(events)])
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def read_page(self, after: Any, limit: int) -> list[RawRow]:
        loads, uuid_, when = json.loads, uuid.UUID, datetime.fromisoformat
        return [(p, s, v, t, loads(d), uuid_(i), loads(m), when(r)) for p, s, v, t, d, i, m, r in self._conn.execute(_SELECT, (after or 0, limit))]

    def listen(self, poll_interval: float) -> RawListener:
        return SQLiteListener(self._path)

    def close(self) -> None:
        self._conn.close()


class SQLiteListener(RawListener):
    describe = f"PRAGMA data_version every {DATA_VERSION_POLL_S * 1000:g} ms on a connection of its own (as the store's subscribers), then a keyset SELECT of the new ids"

    def __init__(self, path: str) -> None:
        self._conn = _connect(path)
        self._seen = self._data_version()
        self._after = self._conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def poll(self, timeout: float) -> list[uuid.UUID]:
        deadline = time.monotonic() + timeout
        while True:
            version = self._data_version()
            if version != self._seen:  # another connection committed
                self._seen = version
                rows = self._conn.execute("SELECT position, event_id FROM events WHERE position > ? ORDER BY position", (self._after,)).fetchall()
                if rows:
                    self._after = rows[-1][0]
                    return [uuid.UUID(i) for _, i in rows]
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            time.sleep(min(DATA_VERSION_POLL_S, left))

    def close(self) -> None:
        self._conn.close()


def _connect(path: str) -> sqlite3.Connection:
    """An autocommit connection to the store's file, usable from any one thread at a time."""
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
