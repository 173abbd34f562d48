"""The one step our store's API has no call for, per engine: the events of several streams and a
tracking record written in one transaction of the store (``store.transaction()``, the transaction
that transactional checkpoints share), with each event's position returned; and the largest
position of a category. Everything else the recorders do goes through the API.

Notification ids are positions as integers. SQLite's positions are integers already, assigned and
committed in one order (one writer at a time). The PostgreSQL reference's positions are
``(transaction_id, global_position)`` pairs, read only once every older transaction has ended: the
id packs the pair as ``transaction_id << 63 | global_position`` (global_position is a bigint, so
below 2**63), an order-preserving one-to-one map. A follower reading ``gt=id`` therefore resumes at
exactly the pair the reference's own cursor would, and never skips a late commit.
"""
from __future__ import annotations

import sqlite3
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from eventsourcing.persistence import DatabaseError, DataError, IntegrityError, OperationalError

from ..events import Position, category_of
from ..postgres.store import PostgresStore
from ..sqlite import SQLiteStore
from ..store import EventStore

#: (stream id, version, event type, data JSON): one event as ``Codec.row`` checked it.
Row = tuple[str, int, str, str]
#: (checkpoint name, notification id): a tracking record.
Checkpoint = tuple[str, int]


class Dialect(ABC):
    """Positions as notification ids, and the transactional write, for one engine."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    @abstractmethod
    def notification_id(self, position: Position) -> int: ...

    @abstractmethod
    def position(self, notification_id: int) -> Position | None:
        """The position whose notification id is ``notification_id``; None before the first."""

    @abstractmethod
    def write(self, tx: Any, rows: Sequence[Row], checkpoint: Checkpoint | None) -> list[Position]:
        """Insert ``rows`` and move ``checkpoint`` forward inside ``tx``; the rows' positions in order.

        A version already taken raises the driver's unique violation; a checkpoint that would not
        move forward raises ``IntegrityError``. Either way the caller's transaction rolls back."""

    @abstractmethod
    def max_position(self, category: str) -> Position | None:
        """The largest position in ``category`` that a reader of ``read_all`` can see."""

    def committed(self, positions: Sequence[Position]) -> None:  # noqa: B027  an optional hook
        """The transaction that wrote ``positions`` committed."""

    @contextmanager
    def errors(self) -> Iterator[None]:
        """The driver's errors as the library's (its ``PersistenceError`` family)."""
        yield


def dialect_for(store: EventStore) -> Dialect | None:
    """The dialect of ``store``'s engine, or None when this module has none for it."""
    if isinstance(store, PostgresStore) and store.mode == "reference":
        return PostgresDialect(store)
    if isinstance(store, SQLiteStore):
        return SQLiteDialect(store)
    return None


_LOW = (1 << 63) - 1

_PG_INSERT = (
    "INSERT INTO events (stream_id, version, event_id, event_type, data)"
    " SELECT b.stream_id, b.version, b.event_id, b.event_type, b.data"
    " FROM unnest(%(streams)s::text[], %(versions)s::bigint[], %(ids)s::uuid[], %(types)s::text[], %(data)s::text[]::jsonb[])"
    " WITH ORDINALITY AS b (stream_id, version, event_id, event_type, data, n) ORDER BY b.n"
    " RETURNING transaction_id::text::bigint, global_position"
)
#: Forward only: on a conflict the row changes only when the new position is past the stored one,
#: under the row lock, so two processes racing to record the same notification cannot both commit.
_PG_TRACK = (
    "INSERT INTO subscription_checkpoints (name, transaction_id, global_position, updated_at)"
    " VALUES (%(name)s, %(txid)s::text::xid8, %(position)s, now())"
    " ON CONFLICT (name) DO UPDATE SET transaction_id = excluded.transaction_id,"
    " global_position = excluded.global_position, updated_at = now()"
    " WHERE (subscription_checkpoints.transaction_id, subscription_checkpoints.global_position)"
    " < (excluded.transaction_id, excluded.global_position)"
    " RETURNING 1"
)
#: The reference's read rule: only transactions older than the oldest one still running.
_PG_MAX = (
    "SELECT transaction_id::text::bigint, global_position FROM events"
    " WHERE category = %s AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())"
    " ORDER BY transaction_id DESC, global_position DESC LIMIT 1"
)


class PostgresDialect(Dialect):
    """The gap-safe PostgreSQL reference: ids pack (transaction_id, global_position)."""

    store: PostgresStore

    def __init__(self, store: PostgresStore) -> None:
        super().__init__(store)
        self._own_txid = 0

    def notification_id(self, position: Position) -> int:
        assert isinstance(position, tuple)
        return position[0] << 63 | position[1]

    def position(self, notification_id: int) -> Position | None:
        return None if notification_id < 0 else self._pair(notification_id)

    @staticmethod
    def _pair(notification_id: int) -> tuple[int, int]:
        return (notification_id >> 63, notification_id & _LOW)

    def write(self, tx: psycopg.Connection, rows: Sequence[Row], checkpoint: Checkpoint | None) -> list[Position]:
        if checkpoint is not None:
            name, notification_id = checkpoint
            txid, position = self._pair(max(notification_id, 0))
            if tx.execute(_PG_TRACK, {"name": name, "txid": str(txid), "position": position}).fetchone() is None:
                raise IntegrityError(f"tracking {name!r} is already at or past notification {notification_id}")
        if not rows:
            return []
        params = {
            "streams": [r[0] for r in rows],
            "versions": [r[1] for r in rows],
            "ids": [uuid.uuid4() for _ in rows],
            "types": [r[2] for r in rows],
            "data": [r[3] for r in rows],
        }
        # One statement assigns global positions in batch order: sorted, they are the batch's order.
        return sorted((t, g) for t, g in tx.execute(_PG_INSERT, params).fetchall())

    def committed(self, positions: Sequence[Position]) -> None:
        if positions:
            last = positions[-1]
            assert isinstance(last, tuple)
            txid = last[0]
            self._own_txid = max(self._own_txid, txid)
            self.store.note_commit(txid)

    def max_position(self, category: str) -> Position | None:
        with self.store.transaction() as tx:
            self._wait_for_own_writes(tx)
            row = tx.execute(_PG_MAX, (category,)).fetchone()
        return None if row is None else (row[0], row[1])

    def _wait_for_own_writes(self, tx: psycopg.Connection, timeout: float = 5.0) -> None:
        """Read-your-writes, as the store's own ``read_all`` does: wait (bounded) until every
        transaction older than this dialect's last write has ended."""
        deadline = time.monotonic() + timeout
        while self._own_txid:
            row = tx.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").fetchone()
            if row is None or row[0] > self._own_txid or time.monotonic() > deadline:
                return
            time.sleep(0.0005)

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        except psycopg.DataError as exc:
            raise DataError(str(exc)) from exc
        except psycopg.OperationalError as exc:
            raise OperationalError(str(exc)) from exc
        except psycopg.Error as exc:  # any other driver error: still one of the library's family
            raise DatabaseError(str(exc)) from exc


_SQLITE_ROWS = 500  # eight parameters a row; SQLite binds at most 32,766 per statement
_SQLITE_TRACK = (
    "INSERT INTO subscription_checkpoints (name, position, updated_at) VALUES (?, ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at"
    " WHERE subscription_checkpoints.position < excluded.position RETURNING 1"
)


class SQLiteDialect(Dialect):
    """SQLite: one writer at a time, so positions are committed in order and ids are positions."""

    def notification_id(self, position: Position) -> int:
        assert isinstance(position, int)
        return position

    def position(self, notification_id: int) -> Position | None:
        return notification_id if notification_id > 0 else None

    def write(self, tx: sqlite3.Connection, rows: Sequence[Row], checkpoint: Checkpoint | None) -> list[Position]:
        now = datetime.now(UTC).isoformat()
        if checkpoint is not None:
            name, notification_id = checkpoint
            if tx.execute(_SQLITE_TRACK, (name, notification_id, now)).fetchone() is None:
                raise IntegrityError(f"tracking {name!r} is already at or past notification {notification_id}")
        positions: list[Position] = []
        for start in range(0, len(rows), _SQLITE_ROWS):
            chunk = rows[start:start + _SQLITE_ROWS]
            values = ", ".join(["(?, ?, ?, ?, ?, ?, '{}', ?)"] * len(chunk))
            params: list[Any] = []
            for stream_id, version, event_type, data in chunk:
                params += (stream_id, version, str(uuid.uuid4()), event_type, category_of(stream_id), data, now)
            query = (
                "INSERT INTO events (stream_id, version, event_id, event_type, category, data, metadata, recorded_at)"
                f" VALUES {values} RETURNING position"
            )
            # Positions are assigned in VALUES order: sorted, they are the batch's order.
            positions += sorted(p for (p,) in tx.execute(query, params).fetchall())
        return positions

    def max_position(self, category: str) -> Position | None:
        with self.store.transaction() as tx:
            row = tx.execute("SELECT max(position) FROM events WHERE category = ?", (category,)).fetchone()
        return None if row is None else row[0]

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        except sqlite3.OperationalError as exc:
            raise OperationalError(str(exc)) from exc
        except sqlite3.Error as exc:  # any other driver error: still one of the library's family
            raise DatabaseError(str(exc)) from exc
