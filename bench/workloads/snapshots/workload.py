"""Snapshot replay savings: aggregate load time against stream length, with and without snapshots.

For each stream length L the stream is written once. A load without snapshots replays all L
events. A load with "snapshot every N" reads the newest snapshot and replays the tail after it;
under snapshot-every-N that tail is anywhere from 0 to N-1 events, so the snapshot is placed to
leave the average tail, (N-1)//2 events (no snapshot exists yet while L < N, so those points are
not measured). Snapshots are saved directly with the state the events fold to, and every load is
checked to return that state.

Loads come in pairs, without the snapshot and with it, alternating which goes first, so slow drift
of a shared machine hits both alike; the speed-up is the ratio of the two sides' medians, with a
bootstrap 95 % CI that resamples the pairs (``load_speedup``, ``load_speedup_ci_low``/``_high``). A point
loads until ``min_loads`` pairs are done and that CI is within ±5 %, or ``max_loads`` pairs, or
``load_s`` seconds (``compare_load_s`` for the matrix's point, warm at ``compare_at`` and
``compare_every``; its note says which stopped it), so a load-time median never comes from a
handful of loads. Every timed load starts with the garbage of the ones before it collected (outside
its timing; the harness's own heap is frozen out of the collector meanwhile), and the matrix's length (``compare_at``) is measured first, before the sweep behind the
figure. Cold: each load on a newly opened connection. Warm: repeated loads on a connection
that has already loaded the aggregate. The server's and the OS's caches are not dropped for cold
loads.

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

import gc
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.harness import stats
from bench.harness.metrics import EVERY_ENGINE, Dimension, Metric
from bench.harness.model import Register, factory
from bench.harness.params import ParameterError, Params, param
from bench.harness.workload import Measurement, Workload, latency_measurements, now_us
from eventstore import EventStore, NewEvent, Repository, Snapshot, StreamState

#: A cold load opens a new connection first; a warm one reuses a connection that has loaded the aggregate.
CACHES = ("cold", "warm")


@dataclass
class Pairs:
    """One point's paired loads: the histograms without (``full``) and with the snapshot, each pair's
    two times (µs, in order), wrong states seen, the events the last snapshot load replayed, and why it
    stopped early."""

    full: Any
    snapshot: Any
    full_times: list[float] = field(default_factory=list)
    snapshot_times: list[float] = field(default_factory=list)
    wrong: int = 0
    wrong_full: int = 0
    replayed: int = 0
    note: str | None = None


@dataclass(frozen=True)
class SnapshotParams(Params):
    repetitions: int = param(1, "repetitions of every point; within one, loads repeat until the point is known (min_loads)")
    budget_s: float | None = param(60.0, "seconds one engine may spend; longer streams that would not fit are recorded as skipped")
    lengths: tuple[int, ...] = param((10, 100, 1000, 10000, 100000), "stream lengths (events) to load")
    compare_at: int = param(10000, "the length the comparison matrix reads: never skipped on a prediction, only once the budget is spent")
    intervals: tuple[int, ...] = param((10, 100, 1000), "snapshot intervals N")
    min_loads: int = param(20, "loads per point and repetition at least, each a pair (without and with the snapshot), until the speed-up's 95 % CI is within ±5 %")
    max_loads: int = param(1000, "... at most this many pairs ...")
    load_s: float = param(6.0, "... or, once min_loads pairs are done, until loading one point took this many seconds (cold and warm each)")
    compare_every: int = param(100, "the snapshot interval N of the matrix's point (warm loads at compare_at events)")
    compare_load_s: float = param(30.0, "... and that point, which decides, loads for up to this many seconds instead of load_s")
    state_bytes: int = param(256, "padding in the aggregate's snapshot state, to give snapshots a realistic size")
    write_samples: int = param(50, "appends and snapshot writes timed per repetition for the write cost")
    fill_batch: int = param(500, "events per append when writing the test streams (capped by the engine's batch limit)")

    def check(self) -> None:
        super().check()
        if not self.lengths or min(self.lengths) < 1 or not self.intervals or min(self.intervals) < 1:
            raise ParameterError("lengths and intervals must be non-empty lists of ints >= 1")
        if self.min_loads < 1 or self.max_loads < self.min_loads or self.load_s <= 0 or self.compare_load_s <= 0:
            raise ParameterError("min_loads >= 1, max_loads >= min_loads, load_s > 0 and compare_load_s > 0")
        if self.write_samples < 1 or self.fill_batch < 1 or self.state_bytes < 0:
            raise ParameterError("write_samples and fill_batch must be >= 1; state_bytes >= 0")


class Snapshots(Workload[SnapshotParams]):
    name = "snapshots"
    title = "Snapshot replay savings"
    rank = 20
    params_type = SnapshotParams
    dimensions = (
        Dimension("phase", "write_cost or load: what a skipped or failed case was doing"),
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
        Metric("load_speedup", "x", "load time without a snapshot over with one: the ratio of the medians of paired loads", "higher"),
        Metric("load_speedup_ci_low", "x", "the 95 % CI of load_speedup (bootstrap over the pairs), lower end"),
        Metric("load_speedup_ci_high", "x", "the 95 % CI of load_speedup (bootstrap over the pairs), upper end"),
        Metric("load_pairs", "pairs", "pairs of loads (without, with the snapshot) behind load_speedup"),
        Metric("events_replayed", "events", "events a load replayed after its snapshot"),
        Metric("wrong_state", "loads", "loads that returned a wrong state", "lower", rule=EVERY_ENGINE),
    )

    def cases(self) -> list[dict[str, Any]]:
        p = self.params
        write_cost = [{"phase": "write_cost", "repetition": r} for r in range(p.repetitions)]
        # The matrix's length first, so the budget goes to what decides before the figure's sweep.
        lengths = sorted(set(p.lengths), key=lambda n: (n != p.compare_at, n))
        loads = [{"phase": "load", "length": n, "repetition": r} for n in lengths for r in range(p.repetitions)]
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
            with _harness_heap_frozen():
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
        full: dict[str, Any] = {cache: stats.new_histogram() for cache in CACHES}
        wrong_full = 0
        intervals = [n for n in p.intervals if n <= length]
        if not intervals:  # no snapshot exists yet at this length: the loads without one, alone
            for cache in CACHES:
                wrong_full += self._loads_without(make, id, length, cache == "cold", full[cache])
        for every in intervals:
            self._store.delete_snapshots(stream_id)
            version = length - 1 - (every - 1) // 2
            folded = make(id)
            folded.value = folded.applied = version + 1
            self._store.save_snapshot(Snapshot(stream_id, version, folded.snapshot_state(), folded.schema_version))
            point = {"length": length, "snapshot_every": every, "state_bytes": p.state_bytes}
            wrong = replayed = 0
            for cache in CACHES:
                pairs = self._paired_loads(make, id, every, length, cache == "cold")
                full[cache].add(pairs.full)
                wrong_full += pairs.wrong_full
                wrong, replayed = wrong + pairs.wrong, pairs.replayed
                at = {**point, "cache": cache}
                yield from latency_measurements("load_time", pairs.snapshot, at, rep)
                summary = stats.paired_ratio(pairs.full_times, pairs.snapshot_times)
                yield Measurement("load_speedup", summary.median, at, rep, note=pairs.note)
                yield Measurement("load_speedup_ci_low", summary.ci_low, at, rep)
                yield Measurement("load_speedup_ci_high", summary.ci_high, at, rep)
                yield Measurement("load_pairs", float(len(pairs.full_times)), at, rep)
            yield Measurement("events_replayed", float(replayed), point, rep)
            yield Measurement("wrong_state", float(wrong), point, rep)
        point = {"length": length, "snapshot_every": 0, "state_bytes": p.state_bytes}
        for cache in CACHES:
            if full[cache].get_total_count():
                yield from latency_measurements("load_time", full[cache], {**point, "cache": cache}, rep)
        yield Measurement("events_replayed", float(length), point, rep)
        yield Measurement("wrong_state", float(wrong_full), point, rep)
        self._store.delete_snapshots(stream_id)

    def _loads_without(self, make: Any, id: str, length: int, cold: bool, histogram: Any) -> int:
        """``min_loads`` loads without a snapshot (or fewer, within ``load_s``), into ``histogram``; the wrong states seen."""
        wrong, began = 0, time.monotonic()
        for done in range(self.params.min_loads):
            if done and time.monotonic() - began >= self.params.load_s:
                break
            store = self.stores.connect(self._url) if cold else self._store
            try:
                register, took = _timed_load(Repository(store, make, snapshot_every=0), id)
                stats.record_us(histogram, took)
            finally:
                if cold:
                    store.close()
            wrong += register.value != length
        return wrong

    def _paired_loads(self, make: Any, id: str, every: int, length: int, cold: bool) -> Pairs:
        """Loads without and with the snapshot, alternating (ABBA, so drift hits both alike), each on a
        new connection when ``cold``, until ``min_loads`` pairs are done and the ratio of their medians
        has its 95 % CI within ±``stats.CI_TARGET``, or ``max_loads`` pairs, or ``load_s`` seconds
        (``compare_load_s`` for the matrix's point)."""
        p = self.params
        pairs = Pairs(stats.new_histogram(), stats.new_histogram())
        repos = {0: Repository(self._store, make, snapshot_every=0), every: Repository(self._store, make, snapshot_every=every)}
        began, check_at = time.monotonic(), p.min_loads
        decides = (length, every, cold) == (p.compare_at, p.compare_every, False)
        limit, limit_name = (p.compare_load_s, "compare_load_s") if decides else (p.load_s, "load_s")
        while True:
            times = {}
            for n in ((0, every) if len(pairs.full_times) % 2 == 0 else (every, 0)):
                store = self.stores.connect(self._url) if cold else self._store
                try:
                    repo = Repository(store, make, snapshot_every=n) if cold else repos[n]
                    register, times[n] = _timed_load(repo, id)
                finally:
                    if cold:
                        store.close()
                stats.record_us(pairs.full if n == 0 else pairs.snapshot, times[n])
                if register.value != length:
                    setattr(pairs, "wrong_full" if n == 0 else "wrong", getattr(pairs, "wrong_full" if n == 0 else "wrong") + 1)
                if n:
                    pairs.replayed = repo.last_load.events_replayed if repo.last_load else -1
            pairs.full_times.append(times[0])
            pairs.snapshot_times.append(times[every])
            done, spent = len(pairs.full_times), time.monotonic() - began
            if done >= p.max_loads:
                pairs.note = f"stopped at max_loads ({done} pairs)"
                return pairs
            if done >= check_at:  # judged after every fifth more pairs, not after each: a bootstrap costs time too
                if not stats.paired_ratio(pairs.full_times, pairs.snapshot_times).unstable:
                    return pairs
                check_at = done + max(1, done // 5)
            if done >= p.min_loads and spent >= limit:
                pairs.note = f"stopped after {spent:.1f} s ({limit_name}) at {done} pairs, its CI not yet within ±{stats.CI_TARGET:.0%}"
                return pairs
            if self.time_left() <= 0:
                pairs.note = f"stopped by this engine's budget at {done} pairs (min_loads {p.min_loads})"
                return pairs


@contextmanager
def _harness_heap_frozen() -> Iterator[None]:
    """The harness's own heap (the kernel's modules, frames, records) frozen out of the collector
    (``gc.freeze``) while a length loads, so the collection before each timed load scans only what
    the loads made, not a notebook kernel's whole heap, and neither does one a replay triggers. In
    two decision runs on 2 cores, PostgreSQL's matrix point fitted 79 pairs in 20 s without the freeze
    and 329 with it, and its speed-up read 41.6x and 55.8x: the kernel's heap had been in the replays."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _timed_load(repo: Repository, id: str) -> tuple[Any, float]:
    """One load and its time (µs, at least 1). The garbage of earlier loads is collected first, outside
    the timing: otherwise a full collection, whose cost is the harness process's heap rather than the
    store's work, lands in whichever replay crosses the threshold (on 2 cores, 10,000-event replays
    then took a median of 190 ms on PostgreSQL instead of 80 ms, and a p95 of 2.8 times the median)."""
    gc.collect()
    start = now_us()
    register = repo.load(id)
    return register, max(now_us() - start, 1.0)
