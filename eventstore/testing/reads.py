"""The read promises: ``read_stream`` windows, ``read_all``'s global order, cursor and filters, a
reader racing writers (gap safety), and category reads, indexed where declared."""
from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from ..errors import InvalidInput
from ..events import NewEvent, RecordedEvent
from ..store import EventStore
from .base import ConformanceBase, events, stream


class ReadConformance(ConformanceBase):
    """What ``read_stream``, ``read_all`` and ``read_category`` return, and what they refuse."""

    # -- hook: how a backend lets the suite see the work a category read does ------------------

    def category_read_work(self, store: EventStore, read: Callable[[], object]) -> int:
        """Work the engine does while ``read()`` runs, as the engine counts it (rows or items
        examined, VM steps): the test of ``indexed_category_reads`` checks it does not grow with
        other categories' events. Backends declaring that capability override this."""
        pytest.fail(
            f"{store.engine.backend} declares indexed_category_reads, but its conformance class does not "
            f"override category_read_work(), so the suite has no way to check it"
        )

    # -- reading -------------------------------------------------------------------------------

    def test_recorded_event_fields(self, store: EventStore) -> None:
        s = stream()
        new = NewEvent("Placed", {"total": 12.5}, {"user": "u1"})
        store.append(s, [new])
        (e,) = store.read_stream(s)
        assert isinstance(e, RecordedEvent)
        assert (e.stream_id, e.version, e.event_id, e.type, e.data, e.metadata) == (s, 0, new.id, "Placed", {"total": 12.5}, {"user": "u1"})
        assert e.recorded_at.tzinfo is not None
        assert store.read_all() == [e]

    def test_metadata_defaults_to_empty(self, store: EventStore) -> None:
        s = stream()
        store.append(s, [NewEvent("T", {})])
        assert store.read_stream(s)[0].metadata == {}

    def test_read_stream_window_and_direction(self, store: EventStore) -> None:
        s = stream()
        store.append(s, events(10))
        store.append(stream(), events(3))
        assert [e.version for e in store.read_stream(s, from_version=4, limit=3)] == [4, 5, 6]
        assert [e.version for e in store.read_stream(s, from_version=8)] == [8, 9]
        assert store.read_stream(s, from_version=10) == []
        assert [e.version for e in store.read_stream(s, backwards=True, limit=3)] == [9, 8, 7]
        assert [e.version for e in store.read_stream(s, from_version=2, backwards=True)] == [2, 1, 0]
        assert store.read_stream(s, limit=0) == []
        assert [e.data["n"] for e in store.read_stream(s)] == list(range(10))
        assert store.read_stream(stream()) == []

    def test_read_all_order_cursor_and_limit(self, store: EventStore) -> None:
        self.require(store, "global_order")
        a, b = stream(), stream()
        store.append(a, events(2))
        store.append(b, events(2))
        store.append(a, events(1))
        everything = store.read_all()
        assert [(e.stream_id, e.version) for e in everything] == [(a, 0), (a, 1), (b, 0), (b, 1), (a, 2)]
        positions = [e.position for e in everything]
        assert positions == sorted(positions) and len(set(positions)) == 5
        assert store.read_all(after=positions[1], limit=2) == everything[2:4]
        assert store.read_all(after=positions[-1]) == []
        paged, cursor = [], None
        while page := store.read_all(after=cursor, limit=2):
            paged += page
            cursor = page[-1].position
        assert paged == everything
        assert [e.position for e in store.read_stream(a)] == [positions[0], positions[1], positions[4]]

    def test_a_reader_following_racing_writers_skips_nothing(self, store: EventStore) -> None:
        """The gap-safety claim itself: a cursor that only moves forward sees every event once."""
        self.require(store, "gap_safe_global_order")
        done = threading.Event()
        followed: list[RecordedEvent] = []
        errors: list[BaseException] = []

        def follow() -> None:
            cursor = None
            try:
                while True:
                    finished = done.is_set()  # read once more after the writers stop
                    page = store.read_all(after=cursor, limit=50)
                    followed.extend(page)
                    if page:
                        cursor = page[-1].position
                    elif finished:
                        return
            except BaseException as exc:
                errors.append(exc)

        def write(w: int) -> None:
            try:
                for i in range(15):
                    store.append(f"Race-{w}-{i % 3}", events(1 + i % 2, w=w))
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=follow)
        writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        reader.start()
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        done.set()
        reader.join(60)
        assert errors == []
        assert [e.event_id for e in followed] == [e.event_id for e in store.read_all()]
        assert len(followed) == 4 * (8 * 1 + 7 * 2)

    def test_read_all_filters(self, store: EventStore) -> None:
        o, c = stream("Order"), stream("Customer")
        store.append(o, [NewEvent("Placed", {}), NewEvent("Paid", {})])
        store.append(c, [NewEvent("Registered", {}), NewEvent("Paid", {})])
        assert [(e.stream_id, e.type) for e in store.read_all(types=["Paid"])] == [(o, "Paid"), (c, "Paid")]
        assert [e.stream_id for e in store.read_all(categories=["Customer"])] == [c, c]
        assert [e.type for e in store.read_all(types=["Paid"], categories=["Order"])] == ["Paid"]
        assert store.read_all(types=[]) == []
        first_paid = store.read_all(types=["Paid"], limit=1)
        assert [e.stream_id for e in store.read_all(after=first_paid[0].position, types=["Paid"])] == [c]

    def test_category_reads_do_not_grow_with_other_categories(self, store: EventStore) -> None:
        """The engine's own count of the work a category read does stays put when 300 events of
        other categories are added: the read uses an index, not a scan."""
        self.require(store, "indexed_category_reads")
        for _ in range(3):
            store.append(stream("Wanted"), events(1))
            store.append(stream("Other"), events(2))

        def read() -> list[RecordedEvent]:
            return store.read_category("Wanted")

        wanted = read()
        before = self.category_read_work(store, read)
        assert before > 0, "category_read_work() counted no work: it does not observe the engine"
        for i in range(15):
            store.append(stream(f"Other{i % 3}"), events(20))
        after = self.category_read_work(store, read)
        assert read() == wanted
        assert after <= 2 * before + 10, f"the category read's work grew from {before} to {after} with 300 events of other categories"

    def test_read_category(self, store: EventStore) -> None:
        orders = [stream("Order") for _ in range(3)]
        for s in orders:
            store.append(s, events(2))
            store.append(stream("Invoice"), events(1))
        store.append(stream("Orderly"), events(1))  # a prefix of another category is not that category
        got = store.read_category("Order")
        assert [e.stream_id for e in got] == [s for s in orders for _ in range(2)]
        assert store.read_category("Order", after=got[1].position, limit=2) == got[2:4]
        assert store.read_category("Nothing") == []

    # -- bad input -----------------------------------------------------------------------------

    def test_bad_read_arguments_are_refused(self, store: EventStore) -> None:
        for call in (
            lambda: store.read_stream("s", from_version=-1),
            lambda: store.read_stream("s", limit=-1),
            lambda: store.read_stream(""),
            lambda: store.read_all(after="abc"),  # type: ignore[arg-type]  # deliberately invalid
            lambda: store.read_all(types="Happened"),
            lambda: store.read_category(""),
            lambda: store.load_checkpoint(""),
            lambda: store.read_stream("Order-\ud800"),
            lambda: store.read_category("\ud800"),
            lambda: store.read_all(types=["T\ud800"]),
            lambda: store.load_checkpoint("\ud800"),
            lambda: store.subscribe("\ud800", lambda e: None),
        ):
            with pytest.raises(InvalidInput):
                call()

