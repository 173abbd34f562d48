"""The subscription promises: catch-up, resume from a checkpoint, live delivery, the engine's push
wake-up, transactional checkpoints, and at most one checkpoint interval repeated after a crash."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from ..errors import SubscriptionError
from ..events import NewEvent, RecordedEvent
from ..store import EventStore
from .base import ConformanceBase, Crash, events, stream


class SubscriptionConformance(ConformanceBase):
    """What a named consumer sees: every event once in order, resumed from its checkpoint."""

    #: Seconds a caught-up subscriber is left alone before the push test appends: long enough for
    #: it to be parked on the engine's signal rather than in any short-lived fallback polling.
    push_idle_seconds: float = 0.5

    # -- hooks: how a backend lets the suite write inside a subscription's transaction ---------

    def transactional_setup(self, store: EventStore) -> None:
        """Create where ``transactional_write`` writes (for example a projection table)."""
        pytest.fail(
            f"{store.engine.backend} declares transactional_checkpoints, but its conformance class does not "
            f"override transactional_setup(), transactional_write() and transactional_values()"
        )

    def transactional_write(self, tx: Any, value: int) -> None:
        """Write ``value`` inside ``tx``, the handle ``store.transaction()`` yields."""
        pytest.fail("the conformance class does not override transactional_write()")

    def transactional_values(self, store: EventStore) -> list[int]:
        """Every value ``transactional_write`` committed, in the order written."""
        pytest.fail("the conformance class does not override transactional_values()")

    # -- subscriptions -------------------------------------------------------------------------

    def test_subscription_catches_up_and_resumes_from_checkpoint(self, store: EventStore) -> None:
        store.append(stream(), events(5))
        seen: list[RecordedEvent] = []
        sub = store.subscribe("projector", seen.append, batch_size=2)
        assert sub.catch_up() == 5
        assert store.load_checkpoint("projector") == seen[-1].position
        store.append(stream(), events(3))
        again: list[RecordedEvent] = []
        assert store.subscribe("projector", again.append).catch_up() == 3
        assert [e.position for e in seen + again] == [e.position for e in store.read_all()]
        assert store.load_checkpoint("other") is None

    def test_subscription_filters(self, store: EventStore) -> None:
        store.append(stream("Order"), [NewEvent("Placed", {}), NewEvent("Paid", {})])
        store.append(stream("Customer"), [NewEvent("Paid", {})])
        seen: list[RecordedEvent] = []
        store.subscribe("paid-orders", seen.append, types=["Paid"], categories=["Order"]).catch_up()
        assert [(e.category, e.type) for e in seen] == [("Order", "Paid")]

    def test_live_subscription_receives_new_events(self, store: EventStore) -> None:
        store.append(stream(), events(2))
        seen: list[RecordedEvent] = []
        arrived = threading.Event()

        def handler(e: RecordedEvent) -> None:
            seen.append(e)
            if len(seen) == 5:
                arrived.set()

        sub = store.subscribe("live", handler, poll_interval=0.05).start()
        try:
            time.sleep(0.1)
            store.append(stream(), events(3))
            assert arrived.wait(self.live_timeout), f"live subscriber saw {len(seen)} of 5 events"
        finally:
            sub.stop()
        assert sub.error is None
        assert [e.position for e in seen] == [e.position for e in store.read_all()]
        assert store.load_checkpoint("live") == seen[-1].position

    def test_the_engine_wakes_an_idle_subscriber(self, store: EventStore) -> None:
        """A subscriber that would poll only every 60 s gets a new event within live_timeout: only
        the engine's signal can have woken it."""
        self.require(store, "push_notifications")
        store.append(stream(), events(1))
        seen: list[RecordedEvent] = []
        arrived = threading.Event()

        def handler(e: RecordedEvent) -> None:
            seen.append(e)
            if len(seen) == 2:
                arrived.set()

        sub = store.subscribe("pushed", handler, poll_interval=60).start()
        try:
            deadline = time.monotonic() + self.live_timeout
            while not seen and time.monotonic() < deadline:
                time.sleep(0.01)
            assert seen, "the subscriber did not catch up"
            time.sleep(self.push_idle_seconds)
            store.append(stream(), events(1))
            assert arrived.wait(self.live_timeout), f"no wake-up within {self.live_timeout} s of the append"
        finally:
            sub.stop()
        assert sub.error is None
        assert [e.position for e in seen] == [e.position for e in store.read_all()]

    def test_stop_returns_promptly_whatever_the_poll_interval(self, store: EventStore) -> None:
        sub = store.subscribe("idle", lambda e: None, poll_interval=60).start()
        time.sleep(0.5)  # caught up and waiting
        started = time.monotonic()
        sub.stop()
        assert time.monotonic() - started < 2.0
        assert sub.error is None

    def test_transactional_handler_writes_and_checkpoint_commit_together(self, store: EventStore) -> None:
        """A failing handler leaves neither its writes nor a checkpoint behind; resumed consumers
        then write each value exactly once and checkpoint the last position."""
        self.require(store, "transactional_checkpoints")
        self.transactional_setup(store)
        store.append(stream(), events(4))
        fail_at = {2, 3}  # the first run fails at n=2, the second at n=3

        def handler(e: RecordedEvent, tx: Any) -> None:
            self.transactional_write(tx, e.data["n"])
            if e.data["n"] in fail_at:
                fail_at.discard(e.data["n"])
                raise RuntimeError("boom")

        with pytest.raises(SubscriptionError) as info:
            store.subscribe("tx", handler, transactional=True).catch_up()
        assert isinstance(info.value.__cause__, RuntimeError)
        assert self.transactional_values(store) == []
        assert store.load_checkpoint("tx") is None
        everything = store.read_all()
        with pytest.raises(SubscriptionError):  # batches of 2: the first commits, the second fails
            store.subscribe("tx", handler, transactional=True, batch_size=2).catch_up()
        assert self.transactional_values(store) == [0, 1]
        assert store.load_checkpoint("tx") == everything[1].position
        assert store.subscribe("tx", handler, transactional=True, batch_size=2).catch_up() == 2
        assert self.transactional_values(store) == [0, 1, 2, 3]
        assert store.load_checkpoint("tx") == everything[-1].position

    def test_handler_error_stops_before_the_failed_event(self, store: EventStore) -> None:
        store.append(stream(), events(6))
        seen: list[int] = []

        def handler(e: RecordedEvent) -> None:
            if e.data["n"] == 3 and len(seen) == 3:
                raise RuntimeError("boom")
            seen.append(e.data["n"])

        with pytest.raises(SubscriptionError) as info:
            store.subscribe("fragile", handler, checkpoint_every=1).catch_up()
        assert isinstance(info.value.__cause__, RuntimeError)
        all_events = store.read_all()
        assert store.load_checkpoint("fragile") == all_events[2].position
        assert info.value.position == all_events[3].position
        store.subscribe("fragile", lambda e: seen.append(e.data["n"])).catch_up()
        assert seen == [0, 1, 2, 3, 4, 5]

    def test_crash_repeats_at_most_the_checkpoint_interval(self, store: EventStore) -> None:
        store.append(stream(), events(25))
        handled: list[int] = []

        def dies_at_17(e: RecordedEvent) -> None:
            if len(handled) == 17:
                raise Crash()
            handled.append(e.data["n"])

        with pytest.raises(Crash):
            store.subscribe("crashy", dies_at_17, checkpoint_every=5, batch_size=10).catch_up()
        resumed: list[int] = []
        store.subscribe("crashy", lambda e: resumed.append(e.data["n"])).catch_up()
        assert set(handled) | set(resumed) == set(range(25))  # nothing missed
        repeats = len(handled) + len(resumed) - 25
        assert 0 <= repeats < 5
        assert resumed[0] == 15

    def test_checkpoint_round_trip(self, store: EventStore) -> None:
        store.append(stream(), events(3))
        positions = [e.position for e in store.read_all()]
        store.save_checkpoint("c", positions[1])
        assert store.load_checkpoint("c") == positions[1]
        store.save_checkpoint("c", positions[2])
        assert store.load_checkpoint("c") == positions[2]
        assert store.read_all(after=store.load_checkpoint("c")) == []

