"""What only SQLite shows; the conformance suite runs on it from tests/test_conformance.py."""
import json
import sqlite3
import uuid

import pytest

from eventstore import ConcurrencyError, DuplicateEventError, NewEvent, StreamState, open_store
from eventstore.plugins import engines, row_setting
from eventstore.sqlite import _json, _uuid


def test_in_memory_url_is_private():
    a, b = open_store("sqlite://"), open_store("sqlite://")
    a.append("Order-1", [NewEvent("T", {})])
    assert b.read_all() == []
    assert len(a.read_all()) == 1


def test_the_default_fsyncs_every_commit_and_the_url_chooses_less(tmp_path):
    """The store's default, and the engine's first declared setting (its row's configuration), is
    synchronous=FULL in WAL mode: every commit fsynced. The URL chooses NORMAL or OFF, and each
    connection applies what the store reports."""
    for query, level, name in (("", 2, "FULL"), ("?synchronous=normal", 1, "NORMAL"), ("?synchronous=OFF", 0, "OFF")):
        store = open_store(f"sqlite:///{tmp_path / name}.db{query}")
        assert store.settings_summary() == {"journal_mode": "wal", "synchronous": name}
        assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == level
        store.close()
    sqlite = engines()["sqlite"]
    assert (row_setting(sqlite).name, row_setting(sqlite).durable) == ("synchronous-full", True)
    assert [s.durable for s in sqlite.durability_settings[1:]] == [False, False]


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


# -- the one-statement append and the read path -----------------------------------------------------

TRICKY = {
    "quote": 'say "hi"', "backslash": "C:\\temp\\new", "unicode": "zażółć ☃ 𝄞", "control": "\x01\x1f",
    "nested": {"list": [1, 2.5, None, True, False, [], {}], "empty": ""}, "big": 2**62, "sep": "\u2028",
}


def batch(n: int) -> list[NewEvent]:
    return [NewEvent("Big", {"i": i, **TRICKY}, {"trace": f"t{i}"}) for i in range(n)]


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path}/e.db")
    yield s
    s.drop()


@pytest.mark.parametrize("expected", [StreamState.NO_STREAM, StreamState.ANY])
@pytest.mark.parametrize("size", [1, 100, 1500])  # 1500: past one statement's parameters, the step-by-step path
def test_batches_round_trip_and_an_exact_retry_returns_the_original_result(store, expected, size):
    stream_id = f"Order-{uuid.uuid4()}"
    events = batch(size)
    first = store.append(stream_id, events, expected)
    assert (first.first_version, first.last_version) == (0, size - 1)
    assert store.append(stream_id, events, expected) == first
    assert store.append(stream_id, events) == first
    stored = store.read_stream(stream_id)
    assert [(e.event_id, e.version, e.data, e.metadata) for e in stored] == [(n.id, v, n.data, n.metadata) for v, n in enumerate(events)]
    assert stored[-1].position == first.last_position
    assert [e.position for e in stored] == sorted(e.position for e in stored)


def test_batch_at_a_taken_or_missing_version_conflicts_and_writes_nothing(store):
    stream_id = f"Order-{uuid.uuid4()}"
    store.append(stream_id, batch(3))
    before = store.read_all()
    for expected in (StreamState.NO_STREAM, 0, 1, 5):  # taken versions, and a stream behind 5
        with pytest.raises(ConcurrencyError) as info:
            store.append(stream_id, batch(100), expected)
        assert info.value.actual == 2
    with pytest.raises(ConcurrencyError):
        store.append(f"Order-{uuid.uuid4()}", batch(100), StreamState.EXISTS)
    assert store.read_all() == before
    assert store.append(stream_id, batch(100), 2).last_version == 102


def test_batch_partly_stored_is_a_duplicate_and_writes_nothing(store):
    stream_id = f"Order-{uuid.uuid4()}"
    events = batch(100)
    store.append(stream_id, events[:10])
    before = store.read_all()
    for expected in (StreamState.ANY, 9, StreamState.EXISTS):
        with pytest.raises(DuplicateEventError) as info:
            store.append(stream_id, events, expected)
        assert info.value.event_ids == [str(e.id) for e in events[:10]]
    with pytest.raises(DuplicateEventError):
        store.append(f"Order-{uuid.uuid4()}", [*batch(50), events[0], *batch(49)], StreamState.NO_STREAM)
    assert store.read_all() == before


def test_another_instance_writing_the_same_stream_is_seen(tmp_path):
    """An instance skips the "is the stream at least at this version" check for versions it has
    seen; a version another instance took meanwhile is still refused by the unique constraint."""
    url = f"sqlite:///{tmp_path}/e.db"
    a, b = open_store(url), open_store(url)
    stream_id = f"Order-{uuid.uuid4()}"
    assert a.append(stream_id, batch(2), StreamState.NO_STREAM).last_version == 1
    assert b.append(stream_id, batch(1), 1).last_version == 2
    with pytest.raises(ConcurrencyError) as info:
        a.append(stream_id, batch(1), 1)
    assert info.value.actual == 2
    assert a.append(stream_id, batch(1), 2).last_version == 3
    assert [e.version for e in b.read_stream(stream_id)] == [0, 1, 2, 3]
    a.close()
    b.close()


def test_paged_reads_equal_one_read(store):
    for i in range(12):
        store.append(f"{'Order' if i % 3 else 'Invoice'}-{uuid.uuid4()}", batch(1 + i * 7))
    everything = store.read_all()
    assert len(everything) == sum(1 + i * 7 for i in range(12))
    for page_size in (1, 7, 100, 1000):
        paged, cursor = [], None
        while page := store.read_all(after=cursor, limit=page_size):
            paged += page
            cursor = page[-1].position
        assert paged == everything
    orders = store.read_category("Order")
    assert orders == [e for e in everything if e.category == "Order"]
    assert all(isinstance(e.event_id, uuid.UUID) and e.data == {"i": e.data["i"], **TRICKY} for e in everything)


def test_decoding_matches_the_standard_library():
    event_id = uuid.uuid4()
    assert _uuid(str(event_id)) == event_id and hash(_uuid(str(event_id))) == hash(event_id)
    assert str(_uuid(str(event_id))) == str(event_id) and _uuid(str(event_id)).version == 4
    for text in ('{"a": [1, 2.5, null, "\\u00e9"]}', "{}", '{"a":1} ', '{"x": "\\"\\\\"}'):
        assert _json(text) == json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        _json('{"a": 1')
