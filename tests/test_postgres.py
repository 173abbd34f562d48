"""The PostgreSQL reference: the conformance suite in both modes, plus what only PostgreSQL can show:
out-of-order commits, a writer race against a live subscriber, a killed connection mid-append,
and immutability enforced by the database itself."""
from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from eventstore import ConcurrencyError, DuplicateEventError, InvalidInput, NewEvent, StoreUnavailable, StreamState, open_store
from eventstore.postgres import NaivePostgresStore, PostgresStore, migrate, migration_files, new_schema_name
from eventstore.postgres.notifier import LINGER
from eventstore.postgres.statements import SAVE_CHECKPOINT, append_statement
from eventstore.postgres.store import JsonbLoader


def store_url(dsn: str, mode: str = "reference", schema: str | None = None) -> str:
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}schema={schema or new_schema_name('t')}&mode={mode}&pool_size=12"


@pytest.fixture
def store(pg_dsn):
    s = open_store(store_url(pg_dsn))
    yield s
    s.drop()
    s.close()


@pytest.fixture
def naive(pg_dsn, store):
    """A naive-mode store over the same schema as ``store``."""
    s = open_store(store_url(pg_dsn, "naive", store.schema))
    yield s
    s.close()


# -- gap safety ----------------------------------------------------------------------------------


def raw_append(conn: psycopg.Connection, schema: str, stream_id: str) -> uuid.UUID:
    """Run the store's own append statement inside the caller's open transaction."""
    event_id = uuid.uuid4()
    conn.execute(f'SET search_path TO "{schema}"')
    params = dict(stream_id=stream_id, expected="any", i0=event_id, t0="T", d0='{"late": true}', m0="{}")
    assert conn.execute(append_statement(1, after_current=True), params).fetchall()
    return event_id


def test_out_of_order_commit_reference_waits_naive_skips(pg_dsn, store, naive):
    """Two transactions; the one holding the lower position commits last."""
    store.append("Order-0", [NewEvent("Before", {})])
    with psycopg.connect(pg_dsn) as first, psycopg.connect(pg_dsn) as second:
        early = raw_append(first, store.schema, "Order-1")  # lower position, still open
        late = raw_append(second, store.schema, "Order-2")  # higher position
        second.commit()

        ref_seen, naive_seen = [], []
        ref_sub = store.subscribe("ref", ref_seen.append)
        naive_sub = naive.subscribe("naive", naive_seen.append)
        ref_sub.catch_up()
        naive_sub.catch_up()
        assert [e.type for e in ref_seen] == ["Before"]  # waits for the open transaction
        assert [e.event_id for e in naive_seen][-1] == late  # naive has checkpointed past `early`

        first.commit()
    ref_sub.catch_up()
    naive_sub.catch_up()
    assert [e.event_id for e in ref_seen[1:]] == [early, late]
    positions = [e.position for e in ref_seen]
    assert positions == sorted(positions)
    assert early not in {e.event_id for e in naive_seen}, "the naive mode should have lost the late commit"
    # Both commits are stored; only the naive subscriber never sees one of them.
    assert {e.event_id for e in store.read_all()} >= {early, late}
    assert store.subscribe("ref-fresh", lambda e: None).catch_up() == 3


def test_race_many_writers_live_subscriber_exactly_once(store):
    writers, per_writer = 8, 60
    delivered: list = []
    sub = store.subscribe("race", delivered.append, batch_size=50, poll_interval=0.05).start()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            for i in range(per_writer):
                stream_id = f"Race-{w}-{i % 5}"
                size = 1 + (i % 3)
                store.append(stream_id, [NewEvent("T", {"w": w, "i": i, "k": k}) for k in range(size)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = len(store.read_all())
    deadline = time.monotonic() + 20
    while len(delivered) < total and time.monotonic() < deadline:
        time.sleep(0.05)
    sub.stop()
    assert sub.error is None
    ids = [e.event_id for e in delivered]
    assert len(ids) == len(set(ids)) == total, "every event exactly once"
    assert [e.position for e in delivered] == [e.position for e in store.read_all()], "one consistent order"
    for stream_id in {e.stream_id for e in delivered}:
        versions = [e.version for e in delivered if e.stream_id == stream_id]
        assert versions == sorted(versions)


def test_listeners_are_woken_by_notify_and_keep_up_with_a_burst(store):
    """Push, not the fallback poll: the listener polls every 5 s, each wait here gives up after 2 s.
    A lone append after a quiet spell wakes the listener with a NOTIFY; a burst sends none after its
    first append and is followed by the listener's lingering (see eventstore/postgres/notifier.py)."""
    delivered: list = []
    caught_up = threading.Condition()

    def handle(event) -> None:
        with caught_up:
            delivered.append(event)
            caught_up.notify_all()

    def wait_for(count: int, within: float = 2.0) -> None:
        with caught_up:
            assert caught_up.wait_for(lambda: len(delivered) >= count, within), f"{len(delivered)} of {count} delivered"

    sub = store.subscribe("push", handle, poll_interval=5).start()
    try:
        time.sleep(LINGER + 0.3)  # the listener has stopped lingering: only LISTEN wakes it now
        store.append("Push-1", [NewEvent("T", {"n": 0})])
        wait_for(1)
        for n in range(1, 200):
            store.append("Push-1", [NewEvent("T", {"n": n})])
        wait_for(200)
        time.sleep(LINGER + 0.3)
        store.append("Push-1", [NewEvent("T", {"n": 200})])
        wait_for(201)
    finally:
        sub.stop()
    assert sub.error is None
    assert [e.data["n"] for e in delivered] == list(range(201))


def test_killed_connection_mid_append_leaves_no_partial_batch(pg_dsn, store):
    batch = [NewEvent("Bulk", {"i": i, "pad": "x" * 200}) for i in range(20000)]
    outcome: list = []

    def append() -> None:
        try:
            store.append("Bulk-1", batch)
            outcome.append("committed")
        except StoreUnavailable as exc:
            outcome.append(exc)

    writer = threading.Thread(target=append)
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        writer.start()
        killed = False
        deadline = time.monotonic() + 10
        while not killed and time.monotonic() < deadline:
            row = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'INSERT INTO events%%' AND pid <> pg_backend_pid()"
            ).fetchone()
            if row:
                killed = admin.execute("SELECT pg_terminate_backend(%s)", (row[0],)).fetchone()[0]
        writer.join()
    assert killed, "the append finished before it could be killed; enlarge the batch"
    assert isinstance(outcome[0], StoreUnavailable)
    assert store.read_stream("Bulk-1") == []
    # The store replaced the dead connection, and the exact retry now succeeds in full.
    assert store.append("Bulk-1", batch).last_version == len(batch) - 1


@pytest.mark.parametrize("statement", ["UPDATE events SET data = '{}'", "DELETE FROM events", "TRUNCATE events"])
def test_events_are_immutable_in_sql(pg_dsn, store, statement):
    store.append("Order-1", [NewEvent("T", {"x": 1})])
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{store.schema}"')
        with pytest.raises(psycopg.errors.RestrictViolation, match="immutable"):
            conn.execute(statement)
    assert store.read_all()[0].data == {"x": 1}


def test_migrations_are_safe_to_apply_twice(pg_dsn, store):
    store.append("Order-1", [NewEvent("T", {})])
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{store.schema}"')
        assert migrate(conn) == []  # recorded as applied
        conn.execute("DELETE FROM schema_migrations")
        assert len(migrate(conn)) == len(migration_files())  # every file again: no error
    assert len(store.read_all()) == 1


def test_the_url_mode_chooses_the_store_class(pg_dsn, store, naive):
    sep = "&" if "?" in pg_dsn else "?"
    default = open_store(f"{pg_dsn}{sep}schema={store.schema}")
    try:
        assert (type(default), default.engine.mode) == (PostgresStore, "reference")
    finally:
        default.close()
    assert (type(store), type(naive), naive.engine.mode) == (PostgresStore, NaivePostgresStore, "naive")


def test_bad_urls_and_positions(pg_dsn, store):
    with pytest.raises(InvalidInput, match=r"mode must be one of \['naive', 'reference'\], not 'fast'"):
        open_store(store_url(pg_dsn, "fast"))
    with pytest.raises(InvalidInput, match="pool_size must be an integer"):
        open_store(f"{store_url(pg_dsn)}&pool_size=many")
    with pytest.raises(InvalidInput, match="pair"):
        store.read_all(after=5)
    with pytest.raises(StoreUnavailable):
        open_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_concurrent_no_stream_appends_one_wins(store):
    results: list = []
    barrier = threading.Barrier(6)

    def attempt() -> None:
        barrier.wait()
        try:
            results.append(store.append("Order-race", [NewEvent("Created", {})], StreamState.NO_STREAM))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1
    assert all(type(r).__name__ == "ConcurrencyError" and r.actual == 0 for r in results if isinstance(r, Exception))
    assert len(store.read_stream("Order-race")) == 1


def test_read_all_waits_for_older_transactions_then_reads_its_own_writes(pg_dsn, store):
    """An older open transaction (any transaction with an id) delays read_all; it never hides events."""
    with psycopg.connect(pg_dsn) as other:
        other.execute("SELECT pg_current_xact_id()")  # holds a transaction id, writes no event
        store.append("Order-1", [NewEvent("T", {})])
        result: list = []
        reader = threading.Thread(target=lambda: result.append(store.read_all()))
        reader.start()
        reader.join(0.3)
        assert reader.is_alive(), "read_all should wait for the older open transaction"
        other.commit()
    reader.join(5)
    assert [e.stream_id for e in result[0]] == ["Order-1"]


# -- large batches (binary array parameters) and the read path ------------------------------------

#: Past the VALUES-list size: these batches go as binary arrays (see _UNNEST in statements.py).
BIG = 100

#: JSON that tests every escape the text and binary forms could get wrong.
TRICKY = {
    "quote": 'say "hi"', "backslash": "C:\\temp\\new", "tab": "a\tb", "newline": "a\nb", "unicode": "zażółć ☃ 𝄞",
    "control": "\x01\x1f", "nested": {"list": [1, 2.5, None, True, False, [], {}], "empty": ""}, "big": 2**62, "neg": -1.5e-7,
    "sep": "\u2028\u2029", "nul_escape": "\\u0000 as text",
}


def big_batch(n: int = BIG) -> list[NewEvent]:
    return [NewEvent("Big", {"i": i, **TRICKY}, {"trace": f"t{i}"}) for i in range(n)]


@pytest.mark.parametrize("expected", [StreamState.NO_STREAM, StreamState.ANY])
def test_large_batch_round_trips_and_an_exact_retry_returns_the_original_result(store, expected):
    stream_id = f"Order-{uuid.uuid4()}"
    batch = big_batch()
    first = store.append(stream_id, batch, expected)
    assert (first.first_version, first.last_version) == (0, BIG - 1)
    assert store.append(stream_id, batch, expected) == first  # idempotent retry: nothing written
    assert store.append(stream_id, batch) == first
    stored = store.read_stream(stream_id)
    assert [(e.event_id, e.version, e.type, e.data, e.metadata) for e in stored] == [
        (n.id, v, "Big", n.data, n.metadata) for v, n in enumerate(batch)
    ]
    assert stored[-1].position == first.last_position
    positions = [e.position for e in stored]
    assert positions == sorted(positions) and len(set(positions)) == BIG


def test_large_batch_at_a_taken_or_missing_version_conflicts_and_writes_nothing(store):
    stream_id = f"Order-{uuid.uuid4()}"
    store.append(stream_id, big_batch(3))
    before = store.read_all()
    for expected in (StreamState.NO_STREAM, 0, 1, 5):  # taken versions, and a stream behind 5
        with pytest.raises(ConcurrencyError) as info:
            store.append(stream_id, big_batch(), expected)
        assert info.value.actual == 2
    assert store.read_all() == before
    assert store.append(stream_id, big_batch(), 2).last_version == 2 + BIG


def test_large_batch_partly_stored_is_a_duplicate_and_writes_nothing(store):
    stream_id = f"Order-{uuid.uuid4()}"
    batch = big_batch()
    store.append(stream_id, batch[:10])
    before = store.read_all()
    for expected in (StreamState.ANY, 9, StreamState.EXISTS):
        with pytest.raises(DuplicateEventError) as info:
            store.append(stream_id, batch, expected)
        assert info.value.event_ids == [str(e.id) for e in batch[:10]]
    with pytest.raises(DuplicateEventError):
        store.append(f"Order-{uuid.uuid4()}", [*big_batch(50), batch[0], *big_batch(49)], StreamState.NO_STREAM)
    assert store.read_all() == before


@pytest.mark.parametrize("mode", ["reference", "naive"])
def test_paged_reads_equal_one_read(pg_dsn, store, mode):
    reader = store if mode == "reference" else open_store(store_url(pg_dsn, "naive", store.schema))
    try:
        for i in range(12):
            store.append(f"{'Order' if i % 3 else 'Invoice'}-{uuid.uuid4()}", big_batch(1 + i * 7))
        everything = reader.read_all()
        assert len(everything) == sum(1 + i * 7 for i in range(12))
        for page_size in (1, 7, 100, 1000):
            paged, cursor = [], None
            while page := reader.read_all(after=cursor, limit=page_size):
                assert len(page) <= page_size
                paged += page
                cursor = page[-1].position
            assert paged == everything
        orders = reader.read_category("Order")
        paged, cursor = [], None
        while page := reader.read_category("Order", after=cursor, limit=13):
            paged += page
            cursor = page[-1].position
        assert paged == orders == [e for e in everything if e.category == "Order"]
        assert reader.read_all(types=["Big"], categories=["Order", "Invoice"]) == everything
        assert all(e.data == {"i": e.data["i"], **TRICKY} and e.metadata == {"trace": f"t{e.data['i']}"} for e in everything)
    finally:
        if reader is not store:
            reader.close()


def test_binary_jsonb_loader_reads_what_psycopg_reads(store):
    """The store's jsonb loader against psycopg's own, on the rows the store wrote."""
    store.append(f"Order-{uuid.uuid4()}", [NewEvent("T", TRICKY), NewEvent("T", {}), NewEvent("T", {"a": []}, {"m": {"x": [None]}})])
    with psycopg.connect(store.conninfo, autocommit=True, options=f"-c search_path={store.schema}") as conn:
        expected = conn.execute("SELECT data, metadata FROM events ORDER BY global_position").fetchall()
    assert [(e.data, e.metadata) for e in store.read_all()] == expected
    assert JsonbLoader(0).load(b'\x01{"a": [1, "\\u00e9"]}  ') == {"a": [1, "é"]}
    with pytest.raises(psycopg.DataError):
        JsonbLoader(0).load(b'\x02{}')


def test_libpq_options_in_the_url_reach_the_server(pg_dsn):
    """A URL's own ``options`` (how a run sets ``synchronous_commit=off``) are kept beside the schema's."""
    sep = "&" if "?" in pg_dsn else "?"
    store = open_store(f"{pg_dsn}{sep}schema={new_schema_name('t')}&options=-c synchronous_commit%3Doff")
    try:
        assert store.settings_summary()["synchronous_commit"] == "off"
        store.append("Order-1", [NewEvent("T", {})])
        assert [e.stream_id for e in store.read_all()] == ["Order-1"]  # the schema's search_path holds too
    finally:
        store.drop()


def test_checkpoints_skip_the_flush_wait_but_nothing_else_does(pg_dsn, store):
    """save_checkpoint without tx commits without waiting for the WAL flush (queries/save_checkpoint.sql);
    the setting ends with its statement, so appends on the same pooled connections stay durable."""
    store.append("Order-1", [NewEvent("T", {})])
    position = store.read_all()[0].position
    for _ in range(3):
        store.save_checkpoint("c", position)
    other = open_store(store_url(pg_dsn, schema=store.schema))
    try:
        assert other.load_checkpoint("c") == position  # committed, visible at once
    finally:
        other.close()
    with psycopg.connect(pg_dsn, autocommit=True, options=f"-c search_path={store.schema}") as conn:
        conn.execute("SET synchronous_commit = on")  # the session's setting, as on a durable server
        conn.execute(SAVE_CHECKPOINT, {"name": "d", "transaction_id": str(position[0]), "global_position": position[1]})
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
    assert store.load_checkpoint("d") == position
