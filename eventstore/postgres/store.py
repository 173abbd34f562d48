"""The PostgreSQL reference store: psycopg 3 with a connection pool, one round trip per append.

Positions are ``(transaction_id, global_position)`` pairs and readers see only transactions older
than the oldest still running, so a subscriber can never skip an event that commits late (DESIGN
section 2). The statements it runs are built in ``statements.py``; ``naive.py`` keeps the textbook
sequence-position design runnable over the same schema.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from _json import make_scanner
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import psycopg
from psycopg import pq, sql
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ..capabilities import Capabilities, EngineInfo
from ..errors import ConcurrencyError, InvalidInput, StoreUnavailable
from ..events import AppendResult, ExpectedVersion, Position, RecordedEvent, Snapshot, StreamState, append_result, recorded_event
from ..store import EventStore, match_retry
from ..validation import PreparedEvent, check_identifier
from .notifier import Notifier, listen
from .schema import migrate, scalar
from .statements import SAVE_CHECKPOINT, append_params, append_statement, read_all_query, read_stream_query

LIMITATIONS = (
    "A long-running transaction that holds a transaction id (any writer, even to other tables) "
    "delays every reader of read_all and subscriptions until it ends: readers wait for it rather "
    "than skip it. Keep write transactions short. A store instance always reads its own appends.",
    "Immutability is enforced by triggers: a superuser can disable them; also revoke UPDATE, DELETE "
    "and TRUNCATE from application roles.",
    "Live delivery is pushed (LISTEN/NOTIFY) to an idle subscriber; while writes keep coming, "
    "writers send no NOTIFY and subscribers poll pg_current_snapshot() every 1 ms instead (one "
    "prepared statement, a few per cent of a core per busy subscriber), for 1 s after the last "
    "sign of activity.",
    "Checkpoints saved outside a caller's transaction commit without waiting for the WAL flush: a "
    "server crash can lose the last ~0.6 s of them, and the consumer then handles those events "
    "again (never skips one). Checkpoints saved with tx=... commit durably with the caller's writes.",
)

REFERENCE_CAPABILITIES = Capabilities(
    optimistic_concurrency=True,
    idempotent_append=True,
    atomic_batch=True,
    global_order=True,
    gap_safe_global_order=True,
    indexed_category_reads=True,
    push_notifications=True,
    transactional_checkpoints=True,
    snapshots=True,
    limitations=LIMITATIONS,
)

_ANY_RETRIES = 50
#: How many streams' highest seen version a store instance remembers (then it starts over).
_SEEN_STREAMS = 10_000

_SCAN_JSON = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed: the context is a decoder; json.loads ends in this scanner


class JsonbLoader(Loader):
    """Loads binary jsonb (a version byte, then the JSON text) with the JSON scanner that
    ``json.loads`` ends in, without the layers above it (encoding detection, whitespace regexes):
    those cost twice what scanning a small event does. The same values as psycopg's own loader.
    ``_select`` reads every page through it; the benchmark's raw SELECT uses it too."""

    format = pq.Format.BINARY

    def load(self, data: Buffer) -> Any:
        if data == b"\x01{}":  # the usual metadata
            return {}
        text = bytes(data).decode()
        try:
            if text[0] == "\x01":
                value, end = _SCAN_JSON(text, 1)
                if end == len(text):
                    return value
        except (IndexError, StopIteration):
            pass
        if text[:1] != "\x01":
            raise psycopg.DataError(f"unknown jsonb binary format: {text[:1]!r}")
        return json.loads(text[1:])  # malformed: let json name the fault


def use_fast_json(conn: psycopg.Connection[Any]) -> None:
    """Read jsonb on ``conn`` with ``JsonbLoader`` (binary results only)."""
    conn.adapters.register_loader("jsonb", JsonbLoader)


class _Connection(psycopg.Connection):
    """A connection that keeps one cursor for appends: a cursor per statement costs a measurable
    share of a one-event append (the overhead workload's append_single path)."""

    @cached_property
    def append_cursor(self) -> psycopg.Cursor:
        return self.cursor()


class PostgresStore(EventStore):
    """Event store over a PostgreSQL schema; the schema is created and migrated on open."""

    mode = "reference"
    capabilities = REFERENCE_CAPABILITIES

    def __init__(self, conninfo: str, *, schema: str = "public", pool_size: int = 40) -> None:
        self.schema = check_identifier(schema, "schema", 63)
        self.conninfo = conninfo
        self.channel = f"{schema}.events"
        self._notifier = Notifier(conninfo, self.channel)
        #: Newest transaction this instance appended in, and the oldest transaction seen running
        #: after it: read_all waits until its own writes are past the visibility horizon.
        self._own_txid = 0
        self._horizon = 0
        #: Highest version this instance has seen stored, per stream: an exact append right after
        #: it needs no existence check (see queries/append_at.sql).
        self._seen: dict[str, int] = {}
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
                migrate(conn)
                version = scalar(conn.execute("SHOW server_version"))
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot reach PostgreSQL: {exc}") from exc
        self.engine = EngineInfo("postgres", "PostgreSQL", version.split()[0], mode=self.mode)
        # The URL's own libpq options (``options=-c synchronous_commit=off``, say) stay, with the schema added.
        options = " ".join(filter(None, [str(conninfo_to_dict(conninfo).get("options") or ""), f"-c search_path={schema}"]))
        self._connect_kwargs: dict[str, Any] = {"autocommit": True, "options": options}
        #: Appends from one thread at a time run on a connection of their own: checking one out of
        #: the pool costs a measurable share of a one-event append. Other threads' appends, while
        #: it is busy, go through the pool.
        self._append_lock = threading.Lock()
        self._append_conn: _Connection | None = None
        self.pool = ConnectionPool(
            conninfo,
            connection_class=_Connection,
            min_size=1,
            max_size=pool_size,
            kwargs=self._connect_kwargs,
            configure=use_fast_json,
            open=True,
            name=f"eventstore-{schema}",
        )

    def settings_summary(self) -> dict[str, str]:
        """Server settings that change what a benchmark means (durability above all)."""
        names = ("fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers", "max_connections")
        with self._conn() as conn:
            return {n: scalar(conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(n)))) for n in names}

    @contextmanager
    def _conn(self) -> Iterator[_Connection]:
        """A pooled autocommit connection. Not ``pool.connection()``: its exit checks for a
        transaction to commit, a measurable share of a one-event append; ``putconn`` rolls back
        whatever a caller left open and discards a broken connection."""
        try:
            conn = self.pool.getconn()
            try:
                yield conn
            finally:
                self.pool.putconn(conn)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL connection failed: {exc}") from exc

    # -- append --------------------------------------------------------------------------------

    def _append(self, stream_id: str, batch: list[PreparedEvent], expected: ExpectedVersion) -> AppendResult:
        params = append_params(stream_id, batch)
        if isinstance(expected, StreamState) and expected is not StreamState.NO_STREAM:
            params["expected"] = expected.value
            return self._append_after_current(stream_id, batch, expected, append_statement(len(batch), after_current=True), params)
        if expected is StreamState.NO_STREAM:
            params["first"], check_previous = 0, False
        else:
            params["first"] = expected + 1
            check_previous = self._seen.get(stream_id, -1) < expected
        try:
            rows = self._insert(append_statement(len(batch), check_previous=check_previous), params)
        except psycopg.errors.UniqueViolation:
            rows = []  # versions or ids taken: a conflict, or a retry of this very batch
        return self._written(stream_id, rows) if rows else self._stored_batch(stream_id, batch, expected)

    def _append_after_current(
        self, stream_id: str, batch: list[PreparedEvent], expected: StreamState, query: str, params: dict[str, Any]
    ) -> AppendResult:
        """ANY and EXISTS: the versions follow whatever the stream holds when the insert runs."""
        for _ in range(_ANY_RETRIES):
            try:
                rows = self._insert(query, params)
            except psycopg.errors.UniqueViolation as exc:
                if exc.diag.constraint_name == "events_event_id":
                    return self._stored_batch(stream_id, batch, expected)
                continue  # a concurrent writer took these versions: take the next ones
            return self._written(stream_id, rows) if rows else self._stored_batch(stream_id, batch, expected)
        raise ConcurrencyError(stream_id, expected, self.stream_version(stream_id))

    def _insert(self, query: str, params: dict[str, Any]) -> list[tuple[int, int, int]]:
        """The append's one round trip, on the append connection unless another thread has it."""
        if not self._append_lock.acquire(blocking=False):
            with self._conn() as pooled:
                return pooled.append_cursor.execute(query, params).fetchall()
        try:
            conn = self._append_conn
            if conn is None or conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                if conn is not None:  # broken, or left mid-command by an interrupt
                    conn.close()
                conn = self._append_conn = _Connection.connect(self.conninfo, **self._connect_kwargs)
            return conn.append_cursor.execute(query, params).fetchall()
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL connection failed: {exc}") from exc
        finally:
            self._append_lock.release()

    def _written(self, stream_id: str, rows: list[tuple[int, int, int]]) -> AppendResult:
        if len(rows) > 1:
            rows.sort()
        self._saw(stream_id, rows[-1][0])
        self._own_txid = max(self._own_txid, rows[-1][1])
        self._notifier.poke()
        return append_result(stream_id, rows[0][0], rows[-1][0], self._position(rows[-1][1], rows[-1][2]))

    def note_commit(self, transaction_id: int) -> None:
        """A caller committed events to this store's tables inside ``transaction()`` (the
        eventsourcing persistence module does): read_all waits for them as for this instance's own
        appends, and live subscribers are woken."""
        self._own_txid = max(self._own_txid, transaction_id)
        self._notifier.poke()

    def _saw(self, stream_id: str, version: int) -> None:
        if len(self._seen) >= _SEEN_STREAMS:
            self._seen.clear()
        if self._seen.get(stream_id, -1) < version:
            self._seen[stream_id] = version

    def _stored_batch(self, stream_id: str, batch: list[PreparedEvent], expected: ExpectedVersion) -> AppendResult:
        """The append wrote nothing: an exact retry gets the original result, anything else an error."""
        with self._conn() as conn:
            stored = conn.execute(
                "SELECT event_id, stream_id, version, transaction_id::text::bigint, global_position"
                " FROM events WHERE event_id = ANY(%s)",
                ([e.id for e in batch],),
            ).fetchall()
        result = match_retry(stream_id, batch, expected, [(i, s, v, self._position(t, g)) for i, s, v, t, g in stored])
        if result is None:
            raise ConcurrencyError(stream_id, expected, self.stream_version(stream_id))
        return result

    def _position(self, transaction_id: int, global_position: int) -> Position:
        return (transaction_id, global_position)

    # -- reads ---------------------------------------------------------------------------------

    def _read_stream(self, stream_id: str, from_version: int, limit: int | None, backwards: bool) -> list[RecordedEvent]:
        events = self._select(*read_stream_query(stream_id, from_version, backwards), limit)
        if events:
            self._saw(stream_id, max(events[0].version, events[-1].version))
        return events

    def _read_all(self, after: Position | None, limit: int | None, types: list[str] | None, categories: list[str] | None) -> list[RecordedEvent]:
        where, params, order = self._after(after)
        if types is not None:
            where.append("event_type = ANY(%s)")
            params.append(types)
        if categories is not None:
            if len(categories) == 1:  # lets the planner walk events_category_order in order
                where.append("category = %s")
                params.append(categories[0])
            else:
                where.append("category = ANY(%s)")
                params.append(categories)
        return self._select(read_all_query(tuple(where), order), params, limit)

    def _after(self, after: Position | None) -> tuple[list[str], list[Any], str]:
        """The cursor's WHERE conditions, their parameters and the ORDER BY of ``read_all``."""
        self._wait_for_own_writes()
        where: list[str] = []
        params: list[Any] = []
        if after is not None:
            where.append("(transaction_id, global_position) > (%s::text::xid8, %s)")
            assert isinstance(after, tuple)  # _check_position admits (transaction_id, global_position) pairs only
            params += [after[0], after[1]]
        # Only transactions that can no longer commit behind us: everything older than the oldest
        # transaction still in progress.
        where.append("transaction_id < pg_snapshot_xmin(pg_current_snapshot())")
        # Qualified: the select list casts transaction_id, and an unqualified name would sort by that
        # output column instead of walking events_transaction_order.
        return where, params, " ORDER BY events.transaction_id, events.global_position"

    def _wait_for_own_writes(self, timeout: float = 5.0) -> None:
        """Read-your-writes for read_all: wait until every transaction older than this instance's
        last append has ended (any transaction holding an id counts: autovacuum, a NOTIFY, another
        writer). Usually already true, and then it costs nothing; bounded by ``timeout``, after
        which the read returns what is visible (the events are delayed, never skipped)."""
        deadline = time.monotonic() + timeout
        while self._horizon <= self._own_txid:
            with self._conn() as conn:
                self._horizon = scalar(conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
            if self._horizon > self._own_txid or time.monotonic() > deadline:
                return
            time.sleep(0.0005)

    def _select(self, query: sql.SQL | sql.Composed, params: list[Any], limit: int | None) -> list[RecordedEvent]:
        if limit is not None:
            query += sql.SQL(" LIMIT %s")
            params = [*params, limit]
        with self._conn() as conn:
            # Binary results: uuid, bigint and timestamptz values arrive as bytes to copy rather than
            # text to parse, which makes a page of 1,000 events about a third cheaper to decode.
            rows = conn.execute(query, params, binary=True).fetchall()
        if type(self)._position is PostgresStore._position:  # (transaction_id, global_position), without a call per row
            return [recorded_event(s, v, (t, g), i, ty, d, m, r) for s, v, t, g, i, ty, d, m, r in rows]
        position = self._position
        return [recorded_event(s, v, position(t, g), i, ty, d, m, r) for s, v, t, g, i, ty, d, m, r in rows]

    def _check_position(self, after: object) -> Position | None:
        if after is None:
            return None
        if (
            isinstance(after, (tuple, list))
            and len(after) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in after)
        ):
            return (after[0], after[1])
        raise InvalidInput(f"a reference-mode position is a (transaction_id, global_position) pair, not {after!r}")

    # -- checkpoints ---------------------------------------------------------------------------

    def _load_checkpoint(self, name: str) -> Position | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT transaction_id::text::bigint, global_position FROM subscription_checkpoints WHERE name = %s", (name,)
            ).fetchone()
        return None if row is None else self._checkpoint_position(name, row[0], row[1])

    def _checkpoint_position(self, name: str, transaction_id: int | None, global_position: int) -> Position:
        if transaction_id is None:
            raise InvalidInput(f"checkpoint {name!r} was written by a naive-mode consumer; it has no transaction id")
        return (transaction_id, global_position)

    def _save_checkpoint(self, name: str, position: Position, tx: Any) -> None:
        txid, pos = self._checkpoint_columns(position)
        params = {"name": name, "transaction_id": None if txid is None else str(txid), "global_position": pos}
        if tx is not None:
            tx.execute(
                "INSERT INTO subscription_checkpoints (name, transaction_id, global_position, updated_at)"
                " VALUES (%(name)s, %(transaction_id)s::text::xid8, %(global_position)s, now()) ON CONFLICT (name) DO UPDATE SET"
                " transaction_id = excluded.transaction_id, global_position = excluded.global_position, updated_at = now()",
                params,
            )
            return
        with self._conn() as conn:
            conn.execute(SAVE_CHECKPOINT, params)  # no wait for the WAL flush: see the statement

    def _checkpoint_columns(self, position: Position) -> tuple[int | None, int]:
        """The (transaction_id, global_position) columns a checkpoint at ``position`` is stored as."""
        assert isinstance(position, tuple)  # _check_position admits (transaction_id, global_position) pairs only
        return position[0], position[1]

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A pooled connection inside a transaction: handler writes and the checkpoint commit together."""
        with self._conn() as conn, conn.transaction():
            yield conn

    # -- snapshots -----------------------------------------------------------------------------

    def _save_snapshot(self, snapshot: Snapshot) -> None:
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO snapshots (stream_id, schema_version, version, state) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (stream_id, schema_version, version) DO UPDATE SET state = excluded.state, recorded_at = now()",
                (snapshot.stream_id, snapshot.schema_version, snapshot.version, Jsonb(snapshot.state)),
            )

    def _load_snapshot(self, stream_id: str, schema_version: int | None) -> Snapshot | None:
        query = "SELECT stream_id, version, state, schema_version, recorded_at FROM snapshots WHERE stream_id = %s"
        params: list[Any] = [stream_id]
        if schema_version is not None:
            query += " AND schema_version = %s"
            params.append(schema_version)
        with self._conn() as conn:
            row = conn.execute(query + " ORDER BY version DESC LIMIT 1", params).fetchone()
        return Snapshot(*row) if row else None

    def _delete_snapshots(self, stream_id: str | None) -> None:
        with self._conn() as conn:
            if stream_id is None:
                conn.execute("DELETE FROM snapshots")
            else:
                conn.execute("DELETE FROM snapshots WHERE stream_id = %s", (stream_id,))

    # -- live ----------------------------------------------------------------------------------

    @contextmanager
    def notifications(self) -> Iterator[Callable[[float], bool]]:
        """LISTEN on this schema's channel on a dedicated connection (see ``notifier`` for both ends)."""
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL connection failed: {exc}") from exc
        try:
            with listen(conn, self.channel) as wait:
                yield wait
        finally:
            conn.close()

    def close(self) -> None:
        self._notifier.close()
        with self._append_lock:
            if self._append_conn is not None:
                self._append_conn.close()
        self.pool.close()

    def drop(self) -> None:
        """Drop this store's schema and everything in it, then close the store."""
        with self._conn() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))
        self._seen.clear()
        self.close()


def new_schema_name(prefix: str = "es") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
