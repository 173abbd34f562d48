"""Snapshot replay savings: aggregate load time against stream length, with and without snapshots.

For each stream length L the stream is written once. A load without snapshots replays all L
events. A load with "snapshot every N" reads the newest snapshot and replays the tail after it;
under snapshot-every-N that tail is anywhere from 0 to N-1 events, so the snapshot is placed to
leave the average tail, (N-1)//2 events (no snapshot exists yet while L < N, so those points are
not measured). Snapshots are saved directly with the state the events fold to, and every load is
checked to return that state.

Cold load: the first load on a newly opened connection. Warm: repeated loads on a connection that
has already loaded the aggregate. The server's and the OS's caches are not dropped for cold loads.

The write cost of snapshotting is measured directly: the time and bytes of a snapshot write,
divided by N, is the extra cost per append, next to the time of a plain append.

``budget_s`` bounds the time one engine may spend: a length whose cost, extrapolated from the two
longest lengths measured, does not fit in what is left is recorded as ``skipped`` with the reason,
so slow engines finish and say so. ``compare_at``, the length the comparison matrix reads, is
never skipped on such a prediction (a pessimistic one on a busy machine would leave the matrix
without its point): it is measured while budget is left, and a stream the budget cuts short while
it is written says so.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.harness import stats
from bench.harness.metrics import EVERY_ENGINE, Dimension, Metric
from bench.harness.model import Register, factory
from bench.harness.params import ParameterError, Params, param
from bench.harness.workload import Measurement, Workload, latency_measurements, now_us
from eventstore import EventStore, NewEvent, Repository, Snapshot, StreamState


@dataclass(frozen=True)
class SnapshotParams(Params):
    budget_s: float | None = param(40.0, "seconds one engine may spend; longer streams that would not fit are recorded as skipped")
    lengths: tuple[int, ...] = param((10, 100, 1000, 10000, 100000), "stream lengths (events) to load")
    compare_at: int = param(10000, "the length the comparison matrix reads: never skipped on a prediction, only once the budget is spent")
    intervals: tuple[int, ...] = param((10, 100, 1000), "snapshot intervals N")
    warm_loads: int = param(2, "warm loads per point and repetition (plus one cold load)")
    state_bytes: int = param(256, "padding in the aggregate's snapshot state, to give snapshots a realistic size")
    write_samples: int = param(50, "appends and snapshot writes timed per repetition for the write cost")
    fill_batch: int = param(500, "events per append when writing the test streams (capped by the engine's batch limit)")

    def check(self) -> None:
        super().check()
        if not self.lengths or min(self.lengths) < 1 or not self.intervals or min(self.intervals) < 1:
            raise ParameterError("lengths and intervals must be non-empty lists of ints >= 1")
        if self.warm_loads < 1 or self.write_samples < 1 or self.fill_batch < 1 or self.state_bytes < 0:
            raise ParameterError("warm_loads, write_samples and fill_batch must be >= 1; state_bytes >= 0")


class Snapshots(Workload[SnapshotParams]):
    name = "snapshots"
    title = "Snapshot replay savings"
    rank = 20
    params_type = SnapshotParams
    dimensions = (
        Dimension("length", "events in the aggregate's stream", "events"),
        Dimension("snapshot_every", "snapshot interval N (0: no snapshots)", "events"),
        Dimension("cache", "cold (a fresh store) or warm (the same store again)"),
        Dimension("state_bytes", "size of the snapshotted state", "bytes"),
    )
    metrics = (
        Metric("append_time", "us", "time of a plain append of one event", "lower", family=True),
        Metric("snapshot_write_time", "us", "time of one snapshot write", "lower", family=True),
        Metric("snapshot_bytes", "bytes", "size of one snapshot's state"),
        Metric("event_bytes", "bytes", "size of one appended event's data"),
        Metric("extra_time_per_append", "us", "snapshot write time spread over the N appends it covers", "lower"),
        Metric("extra_bytes_per_append", "bytes", "snapshot size spread over the N appends it covers", "lower"),
        Metric("extra_time_share", "fraction of an append", "extra time per append over a plain append's time", "lower"),
        Metric("load_time", "us", "time to load the aggregate", "lower", family=True),
        Metric("events_replayed", "events", "events a load replayed after its snapshot"),
        Metric("wrong_state", "loads", "loads that returned a wrong state", "lower", rule=EVERY_ENGINE),
    )

    def cases(self) -> list[dict[str, Any]]:
        p = self.params
        write_cost = [{"phase": "write_cost", "repetition": r} for r in range(p.repetitions)]
        loads = [{"phase": "load", "length": n, "repetition": r} for n in sorted(set(p.lengths)) for r in range(p.repetitions)]
        return write_cost + loads

    def open(self, stores: Any) -> None:
        super().open(stores)
        self._url = stores.new_url("snapshots")
        self._store: EventStore = stores.connect(self._url)
        self._streams: dict[int, str] = {}
        self._filled: dict[int, int] = {}
        #: The highest cost per event seen writing a stream: a floor for the budget's predictions.
        self._fill_s_per_event = 0.0
        self._spent: dict[int, float] = {}

    def close(self) -> None:
        self._store.close()

    def run_case(self, case: dict[str, Any]) -> Iterator[Measurement]:
        if case["phase"] == "write_cost":
            yield from self._write_cost(case["repetition"])
            return
        length, rep = case["length"], case["repetition"]
        reason = self._over_budget(length)
        if reason:
            yield Measurement("skipped", 1.0, {"length": length}, rep, note=reason)
            return
        began = time.monotonic()
        try:
            yield from self._loads(length, rep)
        finally:
            self._spent[length] = self._spent.get(length, 0.0) + time.monotonic() - began

    # -- write cost ------------------------------------------------------------------------------

    def _write_cost(self, rep: int) -> Iterator[Measurement]:
        p = self.params
        make = factory(p.state_bytes)
        repo = Repository(self._store, make, snapshot_every=0)
        register = make(str(uuid.uuid4()))
        appends, snapshots = stats.new_histogram(), stats.new_histogram()
        event_bytes = len(json.dumps({"value": 1}))
        for _ in range(p.write_samples):
            began = now_us()
            repo.save(register, [NewEvent("Incremented", {"value": register.value + 1})])
            stats.record_us(appends, now_us() - began)
        state = register.snapshot_state()
        snapshot_bytes = len(json.dumps(state))
        for _ in range(p.write_samples):
            began = now_us()
            self._store.save_snapshot(Snapshot(register.stream_id, register.version, state, register.schema_version))
            stats.record_us(snapshots, now_us() - began)
        yield from latency_measurements("append_time", appends, {}, rep)
        yield from latency_measurements("snapshot_write_time", snapshots, {"state_bytes": p.state_bytes}, rep)
        yield Measurement("snapshot_bytes", float(snapshot_bytes), {"state_bytes": p.state_bytes}, rep)
        yield Measurement("event_bytes", float(event_bytes), {}, rep)
        mean_snapshot = snapshots.get_mean_value()
        for n in p.intervals:
            point = {"snapshot_every": n, "state_bytes": p.state_bytes}
            yield Measurement("extra_time_per_append", mean_snapshot / n, point, rep)
            yield Measurement("extra_bytes_per_append", snapshot_bytes / n, point, rep)
            yield Measurement("extra_time_share", mean_snapshot / n / appends.get_mean_value(), point, rep)

    # -- loads -----------------------------------------------------------------------------------

    def _over_budget(self, length: int) -> str | None:
        """Why ``length`` should be skipped, or None. Predicts from the largest lengths measured so far,
        conservatively: the cost per event is never taken below the largest length's own average."""
        p = self.params
        left = self.time_left()
        if p.budget_s is None or left == float("inf"):
            return None
        if left <= 0:
            return f"skipped: this engine's {p.budget_s:.0f} s budget is used up"
        measured = sorted(n for n in self._spent if n < length)
        if not measured or length in self._spent or length == p.compare_at:
            return None
        l2, t2 = measured[-1], self._spent[measured[-1]]
        # The marginal cost per event: the slope of the two largest lengths, but never below what
        # writing one event cost when the streams were filled (a cost every longer stream pays);
        # with neither known, the largest length's average, fixed costs included.
        slope = (t2 - self._spent[measured[-2]]) / (l2 - measured[-2]) if len(measured) >= 2 else 0.0
        per_event = max(slope, self._fill_s_per_event) or t2 / l2
        predicted = t2 + per_event * (length - l2)
        if predicted > left:
            return (f"skipped: length {length} would take about {predicted:.0f} s (extrapolated from length {l2} at "
                    f"{per_event * 1e6:.0f} µs per event), more than the {left:.0f} s left of this engine's {p.budget_s:.0f} s budget")
        return None

    def _stream(self, length: int) -> str | None:
        """The id of a stream of ``length`` events, written on first use in batches; None when the
        budget ran out while writing it (``self._filled`` says how far it got)."""
        if length not in self._streams:
            p = self.params
            id = str(uuid.uuid4())
            stream_id = Register(id).stream_id
            batch = min(p.fill_batch, self._store.capabilities.max_batch_events or p.fill_batch)
            expected: Any = StreamState.NO_STREAM
            began = time.monotonic()
            for start in range(0, length, batch):
                if self.time_left() <= 0:
                    self._filled[length] = start
                    return None
                events = [NewEvent("Incremented", {"value": v + 1}) for v in range(start, min(length, start + batch))]
                expected = self._store.append(stream_id, events, expected_version=expected).next_expected_version
            self._fill_s_per_event = max(self._fill_s_per_event, (time.monotonic() - began) / length)
            self._streams[length] = id
        return self._streams[length]

    def _loads(self, length: int, rep: int) -> Iterator[Measurement]:
        p = self.params
        id = self._stream(length)
        if id is None:
            yield Measurement("skipped", 1.0, {"length": length}, rep, note=(
                f"skipped: the budget ran out while writing the stream, after {self._filled[length]:,} of {length:,} events"))
            return
        make = factory(p.state_bytes)
        stream_id = make(id).stream_id
        variants = [0] + [n for n in p.intervals if n <= length]
        for every in variants:
            self._store.delete_snapshots(stream_id)
            if every:
                version = length - 1 - (every - 1) // 2
                folded = make(id)
                folded.value = folded.applied = version + 1
                self._store.save_snapshot(Snapshot(stream_id, version, folded.snapshot_state(), folded.schema_version))
            base = {"length": length, "snapshot_every": every, "state_bytes": p.state_bytes}
            cold_store = self.stores.connect(self._url)
            try:
                cold, wrong_cold, replayed = self._time_loads(cold_store, make, id, every, length, 1)
            finally:
                cold_store.close()
            warm, wrong_warm, _ = self._time_loads(self._store, make, id, every, length, p.warm_loads)
            for cache, histogram in (("cold", cold), ("warm", warm)):
                yield from latency_measurements("load_time", histogram, {**base, "cache": cache}, rep)
            yield Measurement("events_replayed", float(replayed), base, rep)
            yield Measurement("wrong_state", float(wrong_cold + wrong_warm), base, rep)
        self._store.delete_snapshots(stream_id)

    @staticmethod
    def _time_loads(store: EventStore, make: Any, id: str, every: int, length: int, times: int) -> tuple[Any, int, int]:
        """Load ``times`` times; returns (histogram, loads with a wrong state, events replayed)."""
        repo = Repository(store, make, snapshot_every=every)
        histogram = stats.new_histogram()
        wrong = replayed = 0
        for _ in range(times):
            began = now_us()
            register = repo.load(id)
            stats.record_us(histogram, now_us() - began)
            wrong += register.value != length
            replayed = repo.last_load.events_replayed if repo.last_load else -1
        return histogram, wrong, replayed
