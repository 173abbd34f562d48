import sqlite3

import pytest

from eventstore import EventStore, NewEvent, open_store
from eventstore.testing import EventStoreConformance


class TestSQLiteStore(EventStoreConformance):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path):
        self.tmp_path = tmp_path

    def make_store(self) -> EventStore:
        return open_store(f"sqlite:///{self.tmp_path}/events.db")


def test_in_memory_url_is_private():
    a, b = open_store("sqlite://"), open_store("sqlite://")
    a.append("Order-1", [NewEvent("T", {})])
    assert b.read_all() == []
    assert len(a.read_all()) == 1


def test_events_are_immutable_in_the_database_itself(tmp_path):
    path = tmp_path / "e.db"
    store = open_store(f"sqlite:///{path}")
    store.append("Order-1", [NewEvent("T", {"x": 1})])
    raw = sqlite3.connect(path)
    for sql in ("UPDATE events SET data = '{}'", "DELETE FROM events"):
        with pytest.raises(sqlite3.DatabaseError, match="immutable"):
            raw.execute(sql)
    raw.close()
    assert store.read_all()[0].data == {"x": 1}


def test_schema_applies_twice_and_data_survives_reopen(tmp_path):
    url = f"sqlite:///{tmp_path}/e.db"
    store = open_store(url)
    store.append("Order-1", [NewEvent("T", {})])
    store.close()
    again = open_store(url)
    assert [e.stream_id for e in again.read_all()] == ["Order-1"]


def test_transactional_checkpoint_rolls_back_with_the_handler(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/e.db")
    store.append("Order-1", [NewEvent("T", {"n": i}) for i in range(3)])
    store._conn().execute("CREATE TABLE projection (n INTEGER)")

    def handler(event, tx):
        tx.execute("INSERT INTO projection VALUES (?)", (event.data["n"],))
        if event.data["n"] == 2:
            raise RuntimeError("boom")

    with pytest.raises(Exception):
        store.subscribe("p", handler, transactional=True).catch_up()
    assert store._conn().execute("SELECT count(*) FROM projection").fetchone()[0] == 0
    assert store.load_checkpoint("p") is None
    store.subscribe("p", lambda e, tx: tx.execute("INSERT INTO projection VALUES (?)", (e.data["n"],)), transactional=True).catch_up()
    assert store._conn().execute("SELECT count(*) FROM projection").fetchone()[0] == 3
    assert store.load_checkpoint("p") == store.read_all()[-1].position
