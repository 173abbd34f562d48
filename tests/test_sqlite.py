"""What only SQLite shows; the conformance suite runs on it from tests/test_conformance.py."""
import sqlite3

import pytest

from eventstore import NewEvent, open_store


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
