"""The EventStoreDB adapter against the server's failures, injected by the protocol double as the server
sends them (``esdb_double/faults.py``): not ready, not the leader, a deadline exceeded, an append whose
answer is lost after it was written, a subscription dropped mid-stream, a server still starting.

Each fault outlasts the client's own retries (esdbclient tries a call at most four times), so what is
tested is the adapter's handling: retried appends keep idempotency (one copy, the original result), an
ambiguous append resolves to what the server stored, the live subscription resumes without a gap, the
engine's probe waits for a starting server. Each test checks that its fault was delivered.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc
import pytest

pytest.importorskip("esdbclient", reason="the eventstoredb engine needs esdbclient (pip install 'eventstore-workbench[eventstoredb]')")

from esdb_double import ESDBDouble, Log  # noqa: E402
from esdb_double.faults import APPENDS, NOT_READY  # noqa: E402

from eventstore import AppendResult, NewEvent, StreamState, Subscription  # noqa: E402
from eventstore.errors import StoreUnavailable  # noqa: E402
from eventstore.eventstoredb import ESDBConfig, EventStoreDBStore  # noqa: E402
from eventstore.eventstoredb.capabilities import DOUBLE_MARK  # noqa: E402
from eventstore.eventstoredb.engine import reachable  # noqa: E402
from eventstore.plugins import ServiceUnavailable  # noqa: E402
from eventstore.testing.base import events  # noqa: E402

UNAVAILABLE, DEADLINE, NOT_FOUND = grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.NOT_FOUND
#: More failures in a row than the client retries by itself (at most four tries of one call).
BEYOND_THE_CLIENT = 6


@pytest.fixture
def double() -> Iterator[ESDBDouble]:
    with ESDBDouble() as server:
        yield server


@pytest.fixture
def store(double: ESDBDouble) -> Iterator[EventStoreDBStore]:
    s = EventStoreDBStore.from_url(f"{double.uri}&prefix=faults")
    yield s
    s.close()


def until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- appends: retried, one copy, the original result --------------------------------------------------


@pytest.mark.parametrize("count", [1, 3], ids=["Append", "BatchAppend"])
@pytest.mark.parametrize("expected", [StreamState.NO_STREAM, 1, StreamState.ANY, StreamState.EXISTS], ids=str)
@pytest.mark.parametrize("lost", [(UNAVAILABLE, "Socket closed"), (DEADLINE, "Deadline Exceeded")], ids=["connection lost", "deadline"])
def test_an_append_whose_answer_was_lost_resolves_to_the_original_result(
    double: ESDBDouble, store: EventStoreDBStore, count: int, expected: StreamState | int, lost: tuple[grpc.StatusCode, str]
) -> None:
    """The server wrote the events and its answers were lost, again and again: the adapter's retry, the same
    request, meets the server's idempotency check and returns what the first try wrote."""
    s = "Order-1"
    if expected != StreamState.NO_STREAM:
        store.append(s, events(2), StreamState.NO_STREAM)
    first = 0 if expected == StreamState.NO_STREAM else 2
    double.faults.fail_next(APPENDS, *lost, times=BEYOND_THE_CLIENT, after_write=True)
    batch = events(count)
    result = store.append(s, batch, expected)
    stored = store.read_stream(s)
    assert [e.event_id for e in stored[first:]] == [e.id for e in batch], "exactly one copy of the batch"
    assert result == AppendResult(s, first, first + count - 1, stored[-1].position)
    assert [f for f in double.faults.fired if f[2]] == [(f"{'Batch' * (count > 1)}Append", lost[0], True)] * BEYOND_THE_CLIENT


@pytest.mark.parametrize("code", [UNAVAILABLE, DEADLINE], ids=["unavailable", "deadline"])
def test_an_append_refused_before_the_write_is_tried_again(double: ESDBDouble, store: EventStoreDBStore, code: grpc.StatusCode) -> None:
    double.faults.fail_next(APPENDS, code, NOT_READY if code == UNAVAILABLE else "Deadline Exceeded", times=BEYOND_THE_CLIENT)
    result = store.append("Order-1", events(1), StreamState.NO_STREAM)
    assert (result.first_version, result.last_version) == (0, 0) and len(store.read_stream("Order-1")) == 1
    assert len(double.faults.fired) == BEYOND_THE_CLIENT


def test_a_batch_append_answered_not_ready_in_its_response_is_tried_again(double: ESDBDouble, store: EventStoreDBStore) -> None:
    """BatchAppend says "Server Is Not Ready" inside its response, a status esdbclient cannot read: it
    raises its bare root error, without retrying. The outcome is unknown to the client; the retry settles it."""
    double.faults.fail_next("BatchAppend", UNAVAILABLE, NOT_READY, times=3)
    result = store.append("Order-1", events(3), StreamState.ANY)
    assert (result.first_version, result.last_version) == (0, 2) and len(store.read_stream("Order-1")) == 3
    assert double.faults.fired == [("BatchAppend", UNAVAILABLE, False)] * 3


def test_a_server_that_stays_away_is_store_unavailable_and_an_append_retried_later_is_still_one(double: ESDBDouble, store: EventStoreDBStore) -> None:
    """Beyond the retry window the adapter gives up, the outcome unknown; the caller's own retry with the
    same events then resolves it."""
    impatient = EventStoreDBStore(ESDBConfig.from_url(f"{double.uri}&prefix=faults"), retry_s=0.5)
    batch = events(2)
    double.faults.fail_next(APPENDS, UNAVAILABLE, "Socket closed", times=10**6, after_write=True)
    with pytest.raises(StoreUnavailable):
        impatient.append("Order-1", batch, StreamState.NO_STREAM)
    impatient.close()
    double.faults.clear()
    assert store.append("Order-1", batch, StreamState.NO_STREAM) == AppendResult("Order-1", 0, 1, store.read_stream("Order-1")[-1].position)
    assert len(store.read_stream("Order-1")) == 2


# -- reads and the leader --------------------------------------------------------------------------------


def test_reads_wait_out_a_server_that_is_not_ready(double: ESDBDouble, store: EventStoreDBStore) -> None:
    store.append("Order-1", events(2))
    double.faults.not_ready(1.0)
    started = time.monotonic()
    assert len(store.read_all()) == 2 and len(store.read_stream("Order-1")) == 2
    assert time.monotonic() - started >= 1.0 and double.faults.fired


def test_a_node_that_is_not_the_leader_sends_the_store_to_the_leader() -> None:
    """A follower answers every call "not leader", naming the leader: the adapter reconnects there and
    repeats the call (the client does that by itself only for cluster URIs)."""
    log = Log()
    with ESDBDouble(log=log) as leader, ESDBDouble(log=log) as follower:
        follower.faults.not_leader("127.0.0.1", leader.port, times=10**6)
        s = EventStoreDBStore.from_url(f"{follower.uri}&prefix=leader")
        try:
            batch = events(2)
            assert s.append("Order-1", batch, StreamState.NO_STREAM).last_version == 1
            assert [e.event_id for e in s.read_stream("Order-1")] == [e.id for e in batch]
            s.save_checkpoint("c", s.read_all()[-1].position)
            assert s.load_checkpoint("c") == s.read_all()[-1].position
        finally:
            s.close()
        assert follower.faults.fired and all(code == NOT_FOUND for _, code, _ in follower.faults.fired)
        assert leader.faults.fired == []


# -- the live subscription ---------------------------------------------------------------------------


def test_a_subscription_dropped_mid_stream_resumes_and_misses_nothing(double: ESDBDouble, store: EventStoreDBStore) -> None:
    """The server ends the live subscription after one event. A consumer that polls only every 30 s still
    gets every later event at once, each once, in order: the adapter resumes the subscription from the
    last event it delivered, and the consumer reads from its checkpoint."""
    handled: list[int] = []
    consumer = Subscription(store, "projector", lambda e: handled.append(e.data["n"]), poll_interval=30.0)
    store.append("Order-0", [NewEvent("N", {"n": 0})])
    consumer.start()
    try:
        assert until(lambda: handled == [0], 10)
        double.faults.drop_subscription(after_events=1)
        for n in range(1, 6):
            store.append(f"Order-{n}", [NewEvent("N", {"n": n})])
            time.sleep(0.3)
        assert until(lambda: len(handled) >= 6, 10), f"handled {handled}: live delivery stopped after the drop"
    finally:
        consumer.stop()
    assert handled == list(range(6)) and consumer.error is None
    assert ("Read", UNAVAILABLE, False) in double.faults.fired


def test_a_consumer_reading_through_failures_delivers_every_event_once(double: ESDBDouble, store: EventStoreDBStore) -> None:
    for n in range(5):
        store.append(f"Order-{n}", [NewEvent("N", {"n": n})])
    handled: list[int] = []
    double.faults.fail_next("Read", UNAVAILABLE, NOT_READY, times=4)
    Subscription(store, "projector", lambda e: handled.append(e.data["n"]), batch_size=2).catch_up()
    assert handled == list(range(5)) and len(double.faults.fired) == 4
    again = Subscription(store, "projector", lambda e: handled.append(e.data["n"]))
    assert again.catch_up() == 0, "resumed from its checkpoint"


# -- the engine's probe ------------------------------------------------------------------------------


def test_the_probe_waits_for_a_server_that_is_starting(double: ESDBDouble) -> None:
    config = ESDBConfig.from_url(double.uri)
    double.faults.not_ready(1.5)
    started = time.monotonic()
    version = reachable(config, ready_timeout_s=30)
    assert time.monotonic() - started >= 1.5 and DOUBLE_MARK in version
    double.faults.not_ready(60)
    with pytest.raises(ServiceUnavailable, match="not ready within"):
        reachable(config, ready_timeout_s=1)
