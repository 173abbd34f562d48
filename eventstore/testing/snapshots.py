"""The snapshot promises, and the repository and ``execute`` helpers built on them: snapshots every N
events, only the tail replayed, stale schemas ignored, and a snapshot only ever a cache."""
from __future__ import annotations

from typing import Any

import pytest

from ..aggregates import Repository, execute
from ..errors import InvalidInput
from ..events import NewEvent, Snapshot
from ..store import EventStore
from .base import ConformanceBase, Counter, stream


class SnapshotConformance(ConformanceBase):
    """What ``save_snapshot``/``load_snapshot`` keep, and what ``Repository`` and ``execute`` do with them."""

    # -- snapshots and aggregates --------------------------------------------------------------

    def test_snapshot_round_trip_and_schema_filter(self, store: EventStore) -> None:
        self.require(store, "snapshots")
        s = stream()
        assert store.load_snapshot(s) is None
        store.save_snapshot(Snapshot(s, 9, {"total": 1}, schema_version=1))
        store.save_snapshot(Snapshot(s, 19, {"total": 2}, schema_version=1))
        store.save_snapshot(Snapshot(s, 29, {"total": 3, "v2": True}, schema_version=2))
        newest = store.load_snapshot(s)
        assert newest is not None
        assert (newest.version, newest.state, newest.schema_version) == (29, {"total": 3, "v2": True}, 2)
        v1 = store.load_snapshot(s, schema_version=1)
        assert v1 is not None
        assert (v1.version, v1.state) == (19, {"total": 2})
        assert store.load_snapshot(s, schema_version=3) is None
        store.delete_snapshots(s)
        assert store.load_snapshot(s) is None

    def test_repository_snapshots_every_n_and_replays_only_the_tail(self, store: EventStore) -> None:
        self.require(store, "snapshots")
        repo = Repository(store, Counter, snapshot_every=10)
        for _ in range(25):
            execute(repo, "c1", lambda c: [NewEvent("Added", {"by": 2})])
        counter = repo.load("c1")
        assert (counter.total, counter.version) == (50, 24)
        assert repo.last_load is not None
        assert repo.last_load.snapshot_version == 19
        assert repo.last_load.events_replayed == 5
        store.delete_snapshots()  # a snapshot is a cache: dropping all changes no result
        again = repo.load("c1")
        assert repo.last_load is not None
        assert (again.total, again.version, repo.last_load.events_replayed) == (50, 24, 25)

    def test_batch_crossing_a_snapshot_boundary(self, store: EventStore) -> None:
        self.require(store, "snapshots")
        repo = Repository(store, Counter, snapshot_every=10)
        execute(repo, "c2", lambda c: [NewEvent("Added", {"by": 1}) for _ in range(8)])
        execute(repo, "c2", lambda c: [NewEvent("Added", {"by": 1}) for _ in range(5)])
        snapshot = store.load_snapshot("Counter-c2")
        assert snapshot is not None
        assert snapshot.version == 12
        assert repo.load("c2").total == 13

    def test_stale_schema_snapshots_are_ignored(self, store: EventStore) -> None:
        self.require(store, "snapshots")
        repo = Repository(store, Counter, snapshot_every=5)
        for _ in range(7):
            execute(repo, "c3", lambda c: [NewEvent("Added", {"by": 1})])
        store.save_snapshot(Snapshot("Counter-c3", 6, {"total": 999}, schema_version=0))

        class CounterV2(Counter):
            schema_version = 2

        v2 = Repository(store, CounterV2, snapshot_every=5)
        assert v2.load("c3").total == 7
        assert v2.last_load is not None
        assert v2.last_load.snapshot_version is None
        assert repo.load("c3").total == 7  # schema 1 still uses its own snapshot at version 4
        assert repo.last_load is not None
        assert repo.last_load.snapshot_version == 4

    def test_execute_retries_on_conflict(self, store: EventStore) -> None:
        self.require(store, "optimistic_concurrency")
        repo = Repository(store, Counter, snapshot_every=0)
        execute(repo, "c4", lambda c: [NewEvent("Added", {"by": 1})])
        interfered: list[bool] = []

        def decide(c: Counter) -> list[NewEvent]:
            if not interfered:  # another writer sneaks in between load and append
                interfered.append(True)
                store.append(c.stream_id, [NewEvent("Added", {"by": 10})])
            return [NewEvent("Added", {"by": 1})]

        outcome = execute(repo, "c4", decide)
        assert outcome.attempts == 2
        assert repo.load("c4").total == 12

    # -- bad input -----------------------------------------------------------------------------

    BAD_SNAPSHOTS: list[tuple[str, Any, Any]] = [
        ("lone surrogate in stream id", "Counter-\ud800", {"total": 1}),
        ("lone surrogate in state", None, {"total": 1, "name": "\ud800"}),
        ("int key in state", None, {1: "a"}),
        ("nested non-string key in state", None, {"items": [{"ok": 1}, {"id": {False: "x"}}]}),
        ("NaN in state", None, {"total": float("nan")}),
    ]

    @pytest.mark.parametrize("case", BAD_SNAPSHOTS, ids=[c[0] for c in BAD_SNAPSHOTS])
    def test_bad_snapshots_are_refused(self, store: EventStore, case: tuple) -> None:
        self.require(store, "snapshots")
        _, stream_id, state = case
        s = stream_id or stream("Counter")
        with pytest.raises(InvalidInput):
            store.save_snapshot(Snapshot(s, 0, state))
        if stream_id is None:
            assert store.load_snapshot(s) is None

