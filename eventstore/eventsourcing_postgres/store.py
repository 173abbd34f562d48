"""``eventsourcing+postgresql://user@host:port/db?schema=NAME``: our API driving the eventsourcing
library's own ``PostgresApplicationRecorder`` (its table lock included), for comparison with the
reference on the same server.

Streams are the library's originator ids (text), versions its originator versions (from 0, as
ours), event types its topics; the rest of an event (id, data, metadata, time) travels in the
state bytes as JSON. Positions are the library's notification ids.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from eventsourcing.persistence import IntegrityError, Notification, OperationalError, PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from ..capabilities import EngineInfo
from ..errors import ConcurrencyError, InvalidInput, StoreUnavailable
from ..events import AppendResult, ExpectedVersion, Position, RecordedEvent, Snapshot, StreamState, append_result, category_of, recorded_event
from ..store import EventStore, check_expected
from ..validation import PreparedEvent, check_identifier
from .capabilities import CAPABILITIES

SCHEME = "eventsourcing+postgresql"
TABLE = "stored_events"
#: ANY and EXISTS take the versions after the stream's last one: a concurrent writer may take them
#: first, and then the append tries again at the next ones, this many times.
_ANY_RETRIES = 50
_PAGE = 500

_ADAPTER_TABLES = (
    "CREATE TABLE IF NOT EXISTS es_checkpoints (name text PRIMARY KEY, position bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS es_snapshots (stream_id text NOT NULL, schema_version integer NOT NULL, version bigint NOT NULL,"
    " state jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (stream_id, schema_version, version))",
)


def _encode(event: PreparedEvent, now: str) -> bytes:
    return f'{{"id":"{event.id}","at":"{now}","data":{event.data_json},"metadata":{event.metadata_json}}}'.encode()


@contextmanager
def _unavailable() -> Iterator[None]:
    """The library's connection errors (raised after its own retries) as ours."""
    try:
        yield
    except (OperationalError, psycopg.OperationalError) as exc:
        raise StoreUnavailable(f"PostgreSQL (eventsourcing recorder) failed: {exc}") from exc


class EventsourcingPostgresStore(EventStore):
    capabilities = CAPABILITIES

    def __init__(self, conninfo: str, *, schema: str, pool_size: int = 40) -> None:
        self.schema = check_identifier(schema, "schema", 63)
        self.conninfo = conninfo
        params = conninfo_to_dict(conninfo)
        self.datastore = PostgresDatastore(
            dbname=str(params.get("dbname") or params.get("user") or "postgres"),
            host=str(params.get("host") or "localhost"),
            port=str(params.get("port") or 5432),
            user=str(params.get("user") or ""),
            password=str(params.get("password") or ""),
            schema=schema,
            pool_size=2,
            max_overflow=pool_size - 2,
            originator_id_type="text",
        )
        self.recorder = PostgresApplicationRecorder(self.datastore, events_table_name=TABLE)
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                # Writer processes open the store at once: the library's CREATE TYPE and CREATE OR
                # REPLACE FUNCTION fail when run concurrently ("tuple concurrently updated"), so one
                # process at a time creates the schema (the lock ends with this connection).
                conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"eventsourcing-postgres:{schema}",))
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
                for statement in _ADAPTER_TABLES:
                    conn.execute(statement)
                row = conn.execute("SHOW server_version").fetchone()
                with _unavailable():
                    self.recorder.create_table()
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot reach PostgreSQL: {exc}") from exc
        assert row is not None
        self.engine = EngineInfo("eventsourcing-postgres", "PostgreSQL (eventsourcing library recorder)", str(row[0]).split()[0], mode="library")

    @staticmethod
    def from_url(url: str) -> EventsourcingPostgresStore:
        """``eventsourcing+postgresql://...?schema=NAME&pool_size=N``; other parameters go to libpq."""
        parts = urlsplit(url)
        ours = {"schema": "public", "pool_size": "40"}
        libpq = []
        for key, value in parse_qsl(parts.query):
            (ours.__setitem__(key, value) if key in ours else libpq.append((key, value)))
        try:
            pool_size = max(int(ours["pool_size"]), 2)
        except ValueError:
            raise InvalidInput(f"pool_size must be an integer, not {ours['pool_size']!r}") from None
        conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(libpq, quote_via=quote), ""))
        return EventsourcingPostgresStore(conninfo, schema=ours["schema"], pool_size=pool_size)

    # -- append --------------------------------------------------------------------------------

    def _last_version(self, stream_id: str) -> int | None:
        last = self.recorder.select_events(stream_id, desc=True, limit=1)
        return last[0].originator_version if last else None

    def _append(self, stream_id: str, batch: list[PreparedEvent], expected: ExpectedVersion) -> AppendResult:
        """Check the expected version against the stream's last version, then insert at the versions
        after it; the library's primary key refuses versions another writer took meanwhile."""
        now = datetime.now(UTC).isoformat()
        states = [_encode(e, now) for e in batch]
        with _unavailable():
            for _ in range(_ANY_RETRIES):
                current = self._last_version(stream_id)
                check_expected(stream_id, expected, current)
                first = 0 if current is None else current + 1
                stored = [StoredEvent(stream_id, first + n, e.type, s) for n, (e, s) in enumerate(zip(batch, states, strict=True))]
                try:
                    ids = self.recorder.insert_events(stored)
                except IntegrityError:
                    if isinstance(expected, StreamState) and expected is not StreamState.NO_STREAM:
                        continue  # ANY or EXISTS: a concurrent writer took these versions; take the next ones
                    raise ConcurrencyError(stream_id, expected, self._last_version(stream_id)) from None
                assert ids, "the library's application recorder returns notification ids"
                return append_result(stream_id, first, first + len(batch) - 1, ids[-1])
            raise ConcurrencyError(stream_id, expected, self._last_version(stream_id))

    # -- reads ---------------------------------------------------------------------------------

    @staticmethod
    def _event(stream_id: str, version: int, position: int, topic: str, state: bytes) -> RecordedEvent:
        body = json.loads(state)
        return recorded_event(stream_id, version, position, uuid.UUID(body["id"]), topic, body["data"], body["metadata"], datetime.fromisoformat(body["at"]))

    def _read_stream(self, stream_id: str, from_version: int, limit: int | None, backwards: bool) -> list[RecordedEvent]:
        """The library's ``select_events`` query with the notification id it leaves out (our events
        carry their position): one round trip, as the recorder's own read."""
        query = "SELECT originator_version, notification_id, topic, state FROM {}.{} WHERE originator_id = %s"
        params: list[Any] = [stream_id]
        if backwards and from_version:
            query += " AND originator_version <= %s"
            params.append(from_version)
        elif not backwards:
            query += " AND originator_version >= %s"
            params.append(from_version)
        query += " ORDER BY originator_version DESC" if backwards else " ORDER BY originator_version"
        if limit is not None:
            query += " LIMIT %s"
            params.append(limit)
        with _unavailable(), self.datastore.get_connection() as conn:
            rows = conn.execute(sql.SQL(query).format(sql.Identifier(self.schema), sql.Identifier(TABLE)), params, prepare=True).fetchall()
        return [self._event(stream_id, r["originator_version"], r["notification_id"], r["topic"], bytes(r["state"])) for r in rows]

    def _read_all(self, after: Position | None, limit: int | None, types: list[str] | None, categories: list[str] | None) -> list[RecordedEvent]:
        """Pages of the library's notification log; categories are filtered here (no column for them)."""
        assert after is None or isinstance(after, int)
        if types == [] or categories == []:  # filters that match nothing (the library reads no topics as all)
            return []
        wanted = None if categories is None else set(categories)
        out: list[RecordedEvent] = []
        cursor = after
        while limit is None or len(out) < limit:
            page_size = _PAGE if wanted is not None or limit is None else min(_PAGE, limit - len(out))
            with _unavailable():
                page: list[Notification] = list(self.recorder.select_notifications(cursor, page_size, topics=types or (), inclusive_of_start=False))
            for n in page:
                stream_id = str(n.originator_id)
                if wanted is None or category_of(stream_id) in wanted:
                    out.append(self._event(stream_id, n.originator_version, n.id, n.topic, n.state))
            if len(page) < page_size:
                break
            cursor = page[-1].id
        return out if limit is None else out[:limit]

    # -- checkpoints and snapshots: the adapter's own tables -----------------------------------

    def _execute(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with _unavailable(), self.datastore.get_connection() as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def _load_checkpoint(self, name: str) -> Position | None:
        rows = self._execute("SELECT position FROM es_checkpoints WHERE name = %s", (name,))
        return rows[0]["position"] if rows else None

    def _save_checkpoint(self, name: str, position: Position, tx: Any) -> None:
        self._execute(
            "INSERT INTO es_checkpoints (name, position) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()",
            (name, position),
        )

    def _save_snapshot(self, snapshot: Snapshot) -> None:
        self._execute(
            "INSERT INTO es_snapshots (stream_id, schema_version, version, state) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (stream_id, schema_version, version) DO UPDATE SET state = excluded.state, recorded_at = now()",
            (snapshot.stream_id, snapshot.schema_version, snapshot.version, Jsonb(snapshot.state)),
        )

    def _load_snapshot(self, stream_id: str, schema_version: int | None) -> Snapshot | None:
        query = "SELECT stream_id, version, state, schema_version, recorded_at FROM es_snapshots WHERE stream_id = %s"
        params: tuple[Any, ...] = (stream_id,)
        if schema_version is not None:
            query += " AND schema_version = %s"
            params += (schema_version,)
        rows = self._execute(query + " ORDER BY version DESC LIMIT 1", params)
        return Snapshot(**rows[0]) if rows else None

    def _delete_snapshots(self, stream_id: str | None) -> None:
        if stream_id is None:
            self._execute("DELETE FROM es_snapshots", ())
        else:
            self._execute("DELETE FROM es_snapshots WHERE stream_id = %s", (stream_id,))

    # -- live ----------------------------------------------------------------------------------

    @contextmanager
    def notifications(self) -> Iterator[Callable[[float], bool]]:
        """LISTEN on the channel the library's insert sends a NOTIFY to, inside its transaction."""
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL connection failed: {exc}") from exc
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.recorder.channel_name)))

            def wait(timeout: float) -> bool:
                return any(True for _ in conn.notifies(timeout=timeout, stop_after=1))

            yield wait
        finally:
            conn.close()

    def close(self) -> None:
        self.datastore.close()

    def drop(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))
        except (psycopg.OperationalError, PersistenceError) as exc:
            raise StoreUnavailable(f"cannot drop schema {self.schema}: {exc}") from exc
        finally:
            self.close()
