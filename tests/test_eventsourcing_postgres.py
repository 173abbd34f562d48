"""The eventsourcing-postgres peer engine beyond the conformance suite: it shares the reference's
server, and what it declares lacking is real (appends queue behind the library's table lock; a
retried append is stored twice)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from eventstore import NewEvent
from eventstore.eventsourcing_postgres.store import TABLE, EventsourcingPostgresStore
from eventstore.plugins import Deployment, engines


@pytest.fixture
def store(deployment) -> Iterator[EventsourcingPostgresStore]:
    d: Deployment = deployment("eventsourcing-postgres")
    url = d.new_url("peer")
    s = d.connect(url)
    assert isinstance(s, EventsourcingPostgresStore)
    yield s
    s.drop()
    d.release(url)


def test_it_runs_on_the_reference_server(deployment) -> None:
    peer, reference = deployment("eventsourcing-postgres"), deployment("postgres")
    assert peer.server is not None and peer.server is reference.server  # one PostgreSQL for both
    assert engines()["eventsourcing-postgres"].open_store(peer.new_url("x")).engine.mode == "library"


def test_an_append_to_another_stream_waits_for_the_table_lock(store: EventsourcingPostgresStore) -> None:
    """The declared limitation, shown: a transaction holding the lock the library's insert takes
    holds up every append, whatever its stream."""
    store.append("Order-1", [NewEvent("Placed", {})])
    done = threading.Event()
    with psycopg.connect(store.conninfo) as blocker:
        blocker.execute(f'LOCK TABLE "{store.schema}"."{TABLE}" IN EXCLUSIVE MODE')
        writer = threading.Thread(target=lambda: (store.append("Order-2", [NewEvent("Placed", {})]), done.set()))
        writer.start()
        assert not done.wait(0.5), "the append should queue behind the table lock"
        blocker.rollback()
    writer.join(10)
    assert done.is_set()
    assert [e.stream_id for e in store.read_all()] == ["Order-1", "Order-2"]


def test_a_retried_append_is_stored_twice(store: EventsourcingPostgresStore) -> None:
    """Declared as lacking (idempotent_append=False): no event ids in the library's table."""
    assert not store.capabilities.idempotent_append
    batch = [NewEvent("Placed", {"n": 1})]
    store.append("Order-3", batch)
    store.append("Order-3", batch)  # the retry after an ambiguous outcome
    assert [e.event_id for e in store.read_stream("Order-3")] == [batch[0].id, batch[0].id]


def test_events_round_trip_through_the_library_state(store: EventsourcingPostgresStore) -> None:
    event = NewEvent("Placed", {"total": 12.5, "items": ["a", "\u00e9"]}, {"by": "u1"})
    result = store.append("Order-4", [event])
    (read,) = store.read_stream("Order-4")
    assert (read.event_id, read.type, read.data, read.metadata, read.position) == (event.id, "Placed", event.data, {"by": "u1"}, result.last_position)
    assert time.time() - read.recorded_at.timestamp() < 60
