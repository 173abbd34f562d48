"""PostgreSQL's raw path: plain psycopg on the store's schema, for the overhead workload.

What an application writing the table itself would do, with psycopg's defaults (text results,
``json.loads``): a single-row INSERT committed on its own, a COPY of a batch's rows in one
transaction, and a keyset SELECT on ``global_position``. The same server, schema, table and libpq
options (``synchronous_commit`` included) as the store; no version check, no idempotency lookup,
no gap-safe filter. Live: the INSERT sends a NOTIFY with the event id in its own transaction, and
a LISTEN on another connection receives it (the overhead workload's ``live_delivery`` path).
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, cast

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from ..events import NewEvent
from ..plugins import RawListener, RawPath, RawRow
from .config import PostgresConfig
from .store import PostgresStore

INSERT = "INSERT INTO events (stream_id, version, event_id, event_type, data, metadata) VALUES (%s, %s, %s, %s, %s, %s)"
COPY = "COPY events (stream_id, version, event_id, event_type, data, metadata) FROM STDIN"
#: One statement, so one transaction: the row and the NOTIFY of its id commit together.
INSERT_NOTIFY = f"WITH written AS ({INSERT} RETURNING event_id) SELECT pg_notify(%s, event_id::text) FROM written"
SELECT = ("SELECT global_position, stream_id, version, event_type, data, event_id, metadata, recorded_at FROM events"
          " WHERE global_position > %s ORDER BY global_position LIMIT %s")


def connect(conninfo: str, schema: str) -> psycopg.Connection[Any]:
    """An autocommit connection to ``conninfo`` on ``schema``, keeping the conninfo's own libpq options."""
    options = " ".join(filter(None, [str(conninfo_to_dict(conninfo).get("options") or ""), f"-c search_path={schema}"]))
    return psycopg.connect(conninfo, autocommit=True, options=options)


class PostgresRawPath(RawPath):
    describe = "plain psycopg with its defaults on the same table: single-row INSERT, COPY in one transaction, keyset SELECT (jsonb as text, json.loads)"

    def __init__(self, url: str) -> None:
        config = PostgresConfig.from_url(url)
        PostgresStore(config.conninfo, schema=config.schema, pool_size=1).close()  # the schema exists and is migrated
        self._config = config
        self._channel = channel(config.schema)
        self._conn = connect(config.conninfo, config.schema)
        self._cursor = self._conn.cursor()
        self._versions: dict[str, int] = {}

    def append_one(self, stream_id: str, event: NewEvent) -> None:
        version = self._versions.get(stream_id, -1) + 1
        self._cursor.execute(INSERT, (stream_id, version, event.id, event.type, json.dumps(event.data), json.dumps(event.metadata or {})))
        self._versions[stream_id] = version

    def append_live(self, stream_id: str, event: NewEvent) -> None:
        version = self._versions.get(stream_id, -1) + 1
        self._cursor.execute(INSERT_NOTIFY, (stream_id, version, event.id, event.type, json.dumps(event.data), json.dumps(event.metadata or {}), self._channel))
        self._versions[stream_id] = version

    def append_batch(self, stream_id: str, events: Sequence[NewEvent]) -> None:
        with self._conn.transaction(), self._cursor.copy(COPY) as rows:
            for n, e in enumerate(events):
                rows.write_row((stream_id, n, e.id, e.type, json.dumps(e.data), json.dumps(e.metadata or {})))

    def read_page(self, after: Any, limit: int) -> list[RawRow]:
        # psycopg's default loaders: jsonb with json.loads, uuid and timestamptz to their Python types
        return cast(list[RawRow], self._cursor.execute(SELECT, (after or 0, limit)).fetchall())

    def listen(self, poll_interval: float) -> RawListener:
        return PostgresListener(connect(self._config.conninfo, self._config.schema), self._channel)

    def close(self) -> None:
        self._conn.close()


def channel(schema: str) -> str:
    """The raw path's NOTIFY channel in ``schema``: not the store's (``<schema>.events``), whose listeners it would wake."""
    return f"{schema}.raw"


class PostgresListener(RawListener):
    describe = "LISTEN on a connection of its own; the INSERT sends a NOTIFY with the event id in its transaction"

    def __init__(self, conn: psycopg.Connection[Any], name: str) -> None:
        self._conn = conn
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(name)))

    def poll(self, timeout: float) -> list[uuid.UUID]:
        found = [uuid.UUID(n.payload) for n in self._conn.notifies(timeout=timeout, stop_after=1)]
        if found:  # then whatever else has arrived, without waiting
            found += [uuid.UUID(n.payload) for n in self._conn.notifies(timeout=0)]
        return found

    def close(self) -> None:
        self._conn.close()


__all__ = ["COPY", "INSERT", "INSERT_NOTIFY", "SELECT", "PostgresListener", "PostgresRawPath", "channel", "connect"]
