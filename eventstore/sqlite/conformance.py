"""SQLite's hooks for the conformance suite: what only the engine can show about its promises."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..store import EventStore
from ..testing.conformance import EventStoreConformance
from . import SQLiteStore


class SQLiteConformance(EventStoreConformance):
    def category_read_work(self, store: EventStore, read: Callable[[], object]) -> int:
        """SQLite virtual-machine instructions run by ``read()``: a scan of the events table costs
        instructions per row, an index walk only per row found."""
        assert isinstance(store, SQLiteStore)
        conn = store._conn()  # the connection read() uses: one per thread
        steps = 0

        def step() -> int:
            nonlocal steps
            steps += 1
            return 0  # carry on

        conn.set_progress_handler(step, 1)
        try:
            read()
        finally:
            conn.set_progress_handler(None, 1)
        return steps

    def transactional_setup(self, store: EventStore) -> None:
        assert isinstance(store, SQLiteStore)
        store._conn().execute("CREATE TABLE projection (value INTEGER NOT NULL)")

    def transactional_write(self, tx: Any, value: int) -> None:
        tx.execute("INSERT INTO projection (value) VALUES (?)", (value,))

    def transactional_values(self, store: EventStore) -> list[int]:
        assert isinstance(store, SQLiteStore)
        return [v for (v,) in store._conn().execute("SELECT value FROM projection ORDER BY rowid")]
