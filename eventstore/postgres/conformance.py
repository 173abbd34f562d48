"""PostgreSQL's hooks for the conformance suite: what only the engine can show about its promises."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from ..store import EventStore
from ..testing.conformance import EventStoreConformance
from .notifier import LINGER
from .store import PostgresStore


class PostgresConformance(EventStoreConformance):
    property_examples = 25
    #: Past the listener's lingering poll: only a NOTIFY can wake it then.
    push_idle_seconds = LINGER + 0.3

    def category_read_work(self, store: EventStore, read: Callable[[], object]) -> int:
        """Rows the executor examined for the queries ``read()`` ran (captured from the store's
        ``_select``), per ``EXPLAIN ANALYZE``: rows each scan node returned plus rows it read and
        filtered out."""
        assert isinstance(store, PostgresStore)
        queries: list[tuple[sql.SQL | sql.Composed, list[Any], int | None]] = []
        select = store._select

        def capture(query: sql.SQL | sql.Composed, params: list[Any], limit: int | None) -> Any:
            queries.append((query, params, limit))
            return select(query, params, limit)

        store._select = capture  # type: ignore[method-assign]  # deliberate: records the queries read() runs
        try:
            read()
        finally:
            del store._select
        return sum(self._rows_examined(store, *q) for q in queries)

    @staticmethod
    def _rows_examined(store: PostgresStore, query: sql.Composable, params: list[Any], limit: int | None) -> int:
        if limit is not None:
            query += sql.SQL(" LIMIT %s")
            params = [*params, limit]
        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(store.schema)))
            # The planner prefers a sequential scan of a tiny table even where an index serves the
            # query; disabled, an indexable query walks its index, and an unindexable one still scans.
            conn.execute("SET enable_seqscan = off")
            row = conn.execute(sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + query, params).fetchone()
        assert row is not None
        return _scanned(row[0][0]["Plan"])

    def transactional_setup(self, store: EventStore) -> None:
        assert isinstance(store, PostgresStore)
        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE TABLE {}.projection (seq serial PRIMARY KEY, value int NOT NULL)").format(sql.Identifier(store.schema))
            )

    def transactional_write(self, tx: Any, value: int) -> None:
        tx.execute("INSERT INTO projection (value) VALUES (%s)", (value,))  # tx's search_path is the store's schema

    def transactional_values(self, store: EventStore) -> list[int]:
        assert isinstance(store, PostgresStore)
        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            query = sql.SQL("SELECT value FROM {}.projection ORDER BY seq").format(sql.Identifier(store.schema))
            return [v for (v,) in conn.execute(query)]


def _scanned(node: dict[str, Any]) -> int:
    """Rows read by the scan nodes of a plan tree, whether returned or filtered out."""
    rows = 0
    if "Scan" in node["Node Type"]:
        rows = node["Actual Loops"] * (
            node["Actual Rows"] + node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
        )
    return rows + sum(_scanned(child) for child in node.get("Plans", []))
