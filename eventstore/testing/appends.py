"""The append promises: expected versions (optimistic concurrency), idempotent retries, atomic
batches, declared limits, and bad input refused without a trace."""
from __future__ import annotations

import collections
import threading
import uuid
from typing import Any

import pytest

from ..aggregates import Repository, execute
from ..errors import ConcurrencyError, DuplicateEventError, InvalidInput, LimitExceeded
from ..events import NewEvent, StreamState
from ..store import EventStore
from .base import ConformanceBase, Counter, events, sized_event, stream


class AppendConformance(ConformanceBase):
    """What ``append`` guarantees: versions, conflicts, retries, whole batches, limits, refusals."""

    # -- expected version ----------------------------------------------------------------------

    def test_new_stream_starts_at_version_zero(self, store: EventStore) -> None:
        s = stream()
        result = store.append(s, events(3), StreamState.NO_STREAM)
        assert (result.first_version, result.last_version) == (0, 2)
        assert [e.version for e in store.read_stream(s)] == [0, 1, 2]
        assert store.stream_version(s) == 2
        assert store.stream_version(stream()) is None

    def test_no_stream_on_existing_stream_conflicts(self, store: EventStore) -> None:
        self.require(store, "optimistic_concurrency")
        s = stream()
        store.append(s, events(2))
        with pytest.raises(ConcurrencyError) as info:
            store.append(s, events(1), StreamState.NO_STREAM)
        assert info.value.expected is StreamState.NO_STREAM
        assert info.value.actual == 1
        assert info.value.stream_id == s
        assert len(store.read_stream(s)) == 2

    def test_exists_on_missing_stream_conflicts(self, store: EventStore) -> None:
        self.require(store, "optimistic_concurrency")
        s = stream()
        with pytest.raises(ConcurrencyError) as info:
            store.append(s, events(1), StreamState.EXISTS)
        assert info.value.actual is None
        assert store.read_stream(s) == []
        store.append(s, events(1))
        assert store.append(s, events(1), StreamState.EXISTS).last_version == 1

    def test_exact_version(self, store: EventStore) -> None:
        self.require(store, "optimistic_concurrency")
        s = stream()
        store.append(s, events(2), StreamState.NO_STREAM)
        assert store.append(s, events(1), 1).last_version == 2
        for wrong in (0, 1, 3, 100):
            with pytest.raises(ConcurrencyError) as info:
                store.append(s, events(2), wrong)
            assert (info.value.expected, info.value.actual) == (wrong, 2)
        with pytest.raises(ConcurrencyError) as info:
            store.append(stream(), events(1), 0)
        assert info.value.actual is None
        assert [e.version for e in store.read_stream(s)] == [0, 1, 2]

    def test_any_appends_whatever_the_version(self, store: EventStore) -> None:
        s = stream()
        store.append(s, events(1), StreamState.ANY)
        store.append(s, events(2))
        assert [e.version for e in store.read_stream(s)] == [0, 1, 2]

    def test_concurrent_writers_lose_no_update(self, store: EventStore) -> None:
        self.require(store, "optimistic_concurrency")
        repo = Repository(store, Counter, snapshot_every=0)
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                for _ in range(10):
                    execute(repo, "hot", lambda c: [NewEvent("Added", {"by": 1})], max_attempts=200)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert repo.load("hot").total == 40
        assert [e.version for e in store.read_stream("Counter-hot")] == list(range(40))

    # -- idempotency ---------------------------------------------------------------------------

    def test_exact_retry_returns_original_result(self, store: EventStore) -> None:
        self.require(store, "idempotent_append")
        s = stream()
        batch = events(3)
        first = store.append(s, batch, StreamState.NO_STREAM)
        again = store.append(s, batch, StreamState.NO_STREAM)
        assert again == first
        assert store.append(s, batch) == first
        assert len(store.read_stream(s)) == 3
        later = store.append(s, events(1), 2)
        assert store.append(s, batch, StreamState.NO_STREAM) == first
        assert store.stream_version(s) == later.last_version == 3

    def test_retry_of_a_later_batch_with_its_expected_version(self, store: EventStore) -> None:
        self.require(store, "idempotent_append")
        s = stream()
        store.append(s, events(2))
        batch = events(2)
        first = store.append(s, batch, 1)
        store.append(s, events(1))
        assert store.append(s, batch, 1) == first
        with pytest.raises(DuplicateEventError):
            store.append(s, batch, 4)  # same ids, but asked to go elsewhere
        assert len(store.read_stream(s)) == 5

    def test_partial_overlap_is_an_error_and_writes_nothing(self, store: EventStore) -> None:
        self.require(store, "idempotent_append")
        s = stream()
        batch = events(2)
        store.append(s, batch)
        overlapping = [batch[1], NewEvent("New", {"x": 1})]
        with pytest.raises(DuplicateEventError) as info:
            store.append(s, overlapping)
        assert info.value.event_ids == [str(batch[1].id)]
        assert len(store.read_stream(s)) == 2

    def test_event_id_reused_in_another_stream_is_an_error(self, store: EventStore) -> None:
        self.require(store, "idempotent_append")
        batch = events(1)
        store.append(stream(), batch)
        other = stream()
        with pytest.raises(DuplicateEventError):
            store.append(other, batch)
        assert store.read_stream(other) == []

    # -- atomic batches ------------------------------------------------------------------------

    def test_a_batch_the_engine_refuses_part_way_writes_nothing(self, store: EventStore) -> None:
        """The third of four events reuses an id stored in another stream: validation cannot know,
        only the id check inside the backend's atomic step refuses it (in PostgreSQL, the unique
        index after two rows went in). Refusing it with ``DuplicateEventError`` is
        idempotent_append's promise; writing none of it is atomic_batch's."""
        self.require(store, "atomic_batch", "idempotent_append")
        taken = events(1)
        store.append(stream(), taken)
        before = store.read_all()
        s = stream()
        batch = [*events(2), NewEvent("Happened", {"n": 2}, id=taken[0].id), *events(1)]
        with pytest.raises(DuplicateEventError) as info:
            store.append(s, batch)
        assert info.value.event_ids == [str(taken[0].id)]
        assert store.read_stream(s) == []
        assert store.read_all() == before
        assert store.append(s, events(4)).last_version == 3  # nothing of the batch holds its versions

    def test_readers_never_see_part_of_a_batch(self, store: EventStore) -> None:
        """A reader polling read_all while batches are appended sees each batch whole or not at all."""
        self.require(store, "atomic_batch", "global_order")
        batches, size = 20, 5
        done = threading.Event()
        read_since_append = threading.Event()
        partial: list[dict[int, int]] = []
        reads: list[int] = []
        errors: list[BaseException] = []

        def read() -> None:
            try:
                while True:
                    finished = done.is_set()  # read once more after the writer stops
                    counts = collections.Counter(e.data["batch"] for e in store.read_all(types=["Part"]))
                    reads.append(sum(counts.values()))
                    if any(n != size for n in counts.values()):
                        partial.append(dict(counts))
                    read_since_append.set()
                    if finished:
                        return
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            for k in range(batches):
                if not read_since_append.wait(self.live_timeout):  # the reader runs between appends too
                    break  # it died: its error is asserted below
                read_since_append.clear()
                store.append(stream("Atomic"), [NewEvent("Part", {"batch": k, "n": i}) for i in range(size)])
        finally:
            done.set()
            reader.join(60)
        assert errors == []
        assert partial == [], f"the reader saw part of a batch: {partial[0]} ({size} events per batch)"
        assert reads[-1] == batches * size
        assert len(set(reads)) > 2, "the reader never ran while batches were appended; nothing was checked"

    # -- bad input -----------------------------------------------------------------------------

    BAD_APPENDS: list[tuple[str, Any, Any, Any]] = [
        ("empty stream id", "", lambda: events(1), StreamState.ANY),
        ("oversized stream id", "Order-" + "x" * 300, lambda: events(1), StreamState.ANY),
        ("NUL in stream id", "Order-\x00", lambda: events(1), StreamState.ANY),
        ("non-string stream id", 42, lambda: events(1), StreamState.ANY),
        ("empty batch", None, lambda: [], StreamState.ANY),
        ("a single event, not a list", None, lambda: NewEvent("T", {}), StreamState.ANY),
        ("not an event", None, lambda: [{"type": "T"}], StreamState.ANY),
        ("non-JSON data", None, lambda: [NewEvent("T", {"when": object()})], StreamState.ANY),
        ("NaN in data", None, lambda: [NewEvent("T", {"x": float("nan")})], StreamState.ANY),
        ("data not a dict", None, lambda: [NewEvent("T", [1, 2])], StreamState.ANY),  # type: ignore[arg-type]  # deliberately invalid
        ("NUL in data", None, lambda: [NewEvent("T", {"x": "a\x00b"})], StreamState.ANY),
        ("NUL in type", None, lambda: [NewEvent("T\x00", {})], StreamState.ANY),
        ("empty type", None, lambda: [NewEvent("", {})], StreamState.ANY),
        ("non-JSON metadata", None, lambda: [NewEvent("T", {}, {"x": {1, 2}})], StreamState.ANY),
        ("lone surrogate in stream id", "Order-\ud800", lambda: events(1), StreamState.ANY),
        ("lone surrogate in type", None, lambda: [NewEvent("T\udfff", {})], StreamState.ANY),
        ("lone surrogate in data", None, lambda: [NewEvent("T", {"x": ["ok", "a\ud800"]})], StreamState.ANY),
        ("lone surrogate in a data key", None, lambda: [NewEvent("T", {"\udc00": 1})], StreamState.ANY),
        ("lone surrogate in metadata", None, lambda: [NewEvent("T", {}, {"trace": "\ud800"})], StreamState.ANY),
        ("int key in data", None, lambda: [NewEvent("T", {1: "a"})], StreamState.ANY),  # type: ignore[dict-item]  # deliberately invalid
        ("nested non-string key in data", None, lambda: [NewEvent("T", {"x": [{"y": {None: 1}}]})], StreamState.ANY),
        ("non-string key in metadata", None, lambda: [NewEvent("T", {}, {2.5: "a"})], StreamState.ANY),  # type: ignore[dict-item]  # deliberately invalid
        ("duplicate ids in one batch", None, lambda: (lambda i: [NewEvent("T", {}, id=i), NewEvent("T", {}, id=i)])(uuid.uuid4()), StreamState.ANY),
        ("negative expected version", None, lambda: events(1), -1),
        ("bool expected version", None, lambda: events(1), True),
        ("string expected version", None, lambda: events(1), "0"),
        ("float expected version", None, lambda: events(1), 1.5),
    ]

    @pytest.mark.parametrize("case", BAD_APPENDS, ids=[c[0] for c in BAD_APPENDS])
    def test_bad_input_is_refused_and_changes_nothing(self, store: EventStore, case: tuple) -> None:
        _, stream_id, make_events, expected = case
        existing = stream()
        store.append(existing, events(2))
        before = store.read_all()
        with pytest.raises(InvalidInput):
            store.append(existing if stream_id is None else stream_id, make_events(), expected)
        assert store.read_all() == before

    def test_event_id_must_be_a_uuid(self) -> None:
        with pytest.raises(InvalidInput):
            NewEvent("T", {}, id="not-a-uuid")  # type: ignore[arg-type]  # deliberately invalid
        assert isinstance(NewEvent("T", {}, id=str(uuid.uuid4())).id, uuid.UUID)  # type: ignore[arg-type]  # a str id is accepted and converted

    def test_injection_strings_are_stored_verbatim(self, store: EventStore) -> None:
        hostile = "Order-x'); DROP TABLE events; --"
        typ = "T'; DELETE FROM events WHERE '1'='1"
        store.append(stream(), events(1))
        store.append(hostile, [NewEvent(typ, {"q": "' OR 1=1 --"})], StreamState.NO_STREAM)
        got = store.read_stream(hostile)
        assert [(e.stream_id, e.type, e.data) for e in got] == [(hostile, typ, {"q": "' OR 1=1 --"})]
        assert len(store.read_all()) == 2
        assert [e.type for e in store.read_all(types=[typ])] == [typ]

    def test_unicode_round_trips(self, store: EventStore) -> None:
        s = "Bestellung-ü-" + str(uuid.uuid4())
        data = {"name": "Zoë 🚀", "nested": {"list": [1, 2.5, None, True, "x"]}}
        store.append(s, [NewEvent("Créé", data, {"trace": "ß"})])
        (e,) = store.read_stream(s)
        assert (e.type, e.data, e.metadata, e.category) == ("Créé", data, {"trace": "ß"}, "Bestellung")

    # -- declared limits -----------------------------------------------------------------------

    def test_declared_batch_limit(self, store: EventStore) -> None:
        limit = self.require_limit(store, "max_batch_events")
        s = stream()
        with pytest.raises(LimitExceeded) as info:
            store.append(s, events(limit + 1))
        assert (info.value.limit, info.value.actual) == (limit, limit + 1)
        assert store.read_stream(s) == []
        assert store.append(s, events(limit)).last_version == limit - 1

    def test_declared_event_size_limit(self, store: EventStore) -> None:
        limit = self.require_limit(store, "max_event_bytes")
        s = stream()
        with pytest.raises(LimitExceeded) as info:
            store.append(s, [NewEvent("Big", {"blob": "x" * (limit + 1)})])
        assert info.value.limit == limit and info.value.actual > limit
        assert store.read_stream(s) == []

    def test_declared_batch_byte_limit(self, store: EventStore) -> None:
        """Events each within max_event_bytes and few enough for max_batch_events, but too many
        bytes together: refused whole. As many events of exactly the limit in total are stored."""
        limit = self.require_limit(store, "max_batch_bytes")
        each = min(store.capabilities.max_event_bytes or limit, limit // 2 + 1)
        count = limit // each + 1  # count * each > limit
        most = store.capabilities.max_batch_events
        if most is not None and count > most:
            pytest.fail(f"max_batch_bytes={limit} cannot be reached within max_batch_events={most}: the declared byte limit is meaningless")
        s = stream()
        with pytest.raises(LimitExceeded) as info:
            store.append(s, [sized_event(each) for _ in range(count)])
        assert (info.value.limit, info.value.actual) == (limit, count * each)
        assert store.read_stream(s) == []
        fitting = [sized_event(limit // count + (i < limit % count)) for i in range(count)]  # exactly the limit
        assert store.append(s, fitting).last_version == count - 1
        assert [len(e.data["pad"]) for e in store.read_stream(s)] == [len(e.data["pad"]) for e in fitting]

