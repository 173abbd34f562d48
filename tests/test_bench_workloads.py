"""Each workload on an embedded engine with tiny parameters, checking its correctness metrics; and
proof that those checks fail when the store is broken."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from helpers import OneStore, run_cases, values

from bench.workloads.calls.workload import Calls
from bench.workloads.contention.workload import Contention
from bench.workloads.resume.workload import ConsumerLog, Resume
from bench.workloads.snapshots.workload import Snapshots
from eventstore import StreamState
from eventstore.memory import MemoryStore

TINY_CONTENTION = {
    "writers": [1, 4], "skews": [0.0, 3.0], "streams": 4, "duration_s": 0.15, "warmup_s": 0.05, "max_duration_s": 0.5, "repetitions": 2,
}


class SlowReads(MemoryStore):
    """A correct store whose reads take long enough for writers to interleave between load and append."""

    def _read_stream(self, *args):
        time.sleep(0.0005)
        return super()._read_stream(*args)


class StaleStore(SlowReads):
    """A store without optimistic concurrency: every append is accepted, the textbook lost-update bug."""

    def _append(self, stream_id, batch, expected):
        return super()._append(stream_id, batch, StreamState.ANY)





def test_contention_loses_no_update_on_a_correct_store():
    rows = run_cases(Contention(TINY_CONTENTION), OneStore(SlowReads()))
    assert len(values(rows, "throughput")) == 8
    assert all(v > 0 for v in values(rows, "throughput"))
    assert all(v >= 0.15 for v in values(rows, "window_s"))  # never a window shorter than duration_s
    assert all(m.params["client"] == "threads" for m in rows if m.metric == "throughput")  # an in-process store
    assert len(values(rows, "ceiling_throughput")) == 4  # once per point, in the first repetition
    assert sum(values(rows, "successful_commands")) > 0
    for metric in ("lost_updates", "duplicate_events", "missing_events", "errors"):
        assert values(rows, metric) and all(v == 0 for v in values(rows, metric)), metric
    assert max(values(rows, "conflict_rate", writers=4, skew=3.0)) > 0  # contention really happened
    assert all(v == 1 for v in values(rows, "fairness_jain", writers=1))
    histograms = [m for m in rows if m.metric == "command_latency_histogram"]
    assert histograms and all(m.hdr for m in histograms)


def test_contention_detects_lost_updates_on_a_store_without_concurrency_control():
    params = {**TINY_CONTENTION, "writers": [4], "skews": [0.0], "streams": 1, "repetitions": 1}
    rows = run_cases(Contention(params), OneStore(StaleStore()))
    assert sum(values(rows, "lost_updates")) > 0


def test_snapshot_loads_replay_the_expected_tail_and_return_the_right_state(memory):
    params = {"lengths": [10, 100, 250], "intervals": [10, 100], "min_loads": 4, "max_loads": 4, "write_samples": 5, "repetitions": 2}
    rows = run_cases(Snapshots(params), memory)
    assert all(v == 0 for v in values(rows, "wrong_state")) and values(rows, "wrong_state")
    assert values(rows, "events_replayed", length=250, snapshot_every=0) == [250, 250]
    assert values(rows, "events_replayed", length=250, snapshot_every=10) == [4, 4]
    assert values(rows, "events_replayed", length=250, snapshot_every=100) == [49, 49]
    assert not values(rows, "events_replayed", length=10, snapshot_every=100)  # no snapshot exists before N events
    assert len(values(rows, "load_time_histogram", cache="cold")) == 2 * (2 + 3 + 3)  # per repetition: lengths x (none + each N <= length)
    # every pair is one load without and one with the snapshot: 4 pairs per point, and the none side holds each N's pairs
    assert values(rows, "load_pairs", length=250, snapshot_every=10, cache="warm") == [4, 4]
    assert values(rows, "load_time_histogram", length=250, snapshot_every=10, cache="warm") == [4, 4]
    assert values(rows, "load_time_histogram", length=250, snapshot_every=0, cache="warm") == [8, 8]
    low, high, speedup = (values(rows, m, length=250, snapshot_every=10, cache="warm")[0] for m in ("load_speedup_ci_low", "load_speedup_ci_high", "load_speedup"))
    assert low <= speedup <= high and speedup > 1  # 250 events replayed against 4: faster with the snapshot
    assert values(rows, "extra_bytes_per_append", snapshot_every=10)[0] == pytest.approx(values(rows, "snapshot_bytes")[0] / 10)


class TimedReads(MemoryStore):
    """Reads that take a set time on a clock of their own (``now_us``, which the test gives the
    workload): a full replay 5 ms; a snapshot's tail 1 ms, or, when ``noisy``, 1 ms and 9 ms in turn
    (a ratio whose CI never closes)."""

    def __init__(self, noisy: bool) -> None:
        super().__init__()
        self.noisy, self.tails, self.clock = noisy, 0, 0.0

    def now_us(self) -> float:
        return self.clock

    def _read_stream(self, stream_id, from_version, *args):
        if from_version == 0:
            self.clock += 5000
        else:
            self.tails += 1
            self.clock += 9000 if self.noisy and self.tails % 2 else 1000
        return super()._read_stream(stream_id, from_version, *args)


def test_a_snapshot_point_loads_until_its_speedup_is_known_or_its_bound(monkeypatch):
    import bench.workloads.snapshots.workload as module

    params = {"lengths": [100], "intervals": [10], "min_loads": 5, "max_loads": 16, "load_s": 60.0, "write_samples": 2, "repetitions": 1}
    store = TimedReads(noisy=False)
    monkeypatch.setattr(module, "now_us", store.now_us)
    steady = run_cases(Snapshots(params), OneStore(store))
    assert values(steady, "load_pairs", cache="warm") == [5]  # known after min_loads
    assert values(steady, "load_speedup", cache="warm") == [5.0]
    store = TimedReads(noisy=True)
    monkeypatch.setattr(module, "now_us", store.now_us)
    noisy = run_cases(Snapshots(params), OneStore(store))
    assert values(noisy, "load_pairs", cache="warm") == [16]  # never known: loads to max_loads, and says so
    [note] = [m.note for m in noisy if m.metric == "load_speedup" and m.params["cache"] == "warm"]
    assert "max_loads" in note


def test_the_matrix_snapshot_point_loads_longer_than_the_sweep(monkeypatch):
    import bench.workloads.snapshots.workload as module

    params = {"lengths": [100], "intervals": [10], "compare_at": 100, "compare_every": 10, "min_loads": 2, "max_loads": 10**6,
              "load_s": 0.01, "compare_load_s": 0.5, "write_samples": 2, "repetitions": 1}
    store = TimedReads(noisy=True)
    monkeypatch.setattr(module, "now_us", store.now_us)
    monkeypatch.setattr(module.gc, "collect", lambda: 0)  # a big test process's collections would eat the 0.5 s
    rows = run_cases(Snapshots(params), OneStore(store))
    notes = {m.params["cache"]: m.note for m in rows if m.metric == "load_speedup"}
    assert "(compare_load_s)" in notes["warm"] and "(load_s)" in notes["cold"]
    assert values(rows, "load_pairs", cache="warm")[0] > values(rows, "load_pairs", cache="cold")[0]


def test_snapshot_loads_run_with_the_harness_heap_frozen_and_leave_nothing_frozen(monkeypatch):
    """The collection before each timed load scans only what the loads made (the harness's heap is
    frozen meanwhile), and the heap is unfrozen after the case, also when a load fails."""
    import gc

    import bench.workloads.snapshots.workload as module

    frozen, timed_load = [], module._timed_load

    def watched(repo, id):
        frozen.append(gc.get_freeze_count())
        return timed_load(repo, id)

    monkeypatch.setattr(module, "_timed_load", watched)
    params = {"lengths": [100], "intervals": [10], "min_loads": 2, "max_loads": 2, "write_samples": 2, "repetitions": 1}
    run_cases(Snapshots(params), OneStore(MemoryStore()))
    assert frozen and min(frozen) > 1000 and gc.get_freeze_count() == 0

    class Broken(Exception):
        pass

    def failing(repo, id):
        raise Broken

    monkeypatch.setattr(module, "_timed_load", failing)
    workload = Snapshots(params)
    with pytest.raises(Broken):
        run_cases(workload, OneStore(MemoryStore()))
    assert gc.get_freeze_count() == 0


def test_snapshot_budget_skips_long_streams_with_a_reason(memory):
    workload = Snapshots({"lengths": [100, 2000, 10**8], "intervals": [10], "write_samples": 2, "repetitions": 1, "budget_s": 30.0})
    rows = run_cases(workload, memory)
    skipped = [m for m in rows if m.metric == "skipped"]
    assert [m.params["length"] for m in skipped] == [10**8]
    assert "budget" in skipped[0].note


def test_snapshot_budget_prediction_is_never_a_free_ride(memory):
    """A longer length that happened to take less time must not make the next one look free."""
    workload = Snapshots({"lengths": [100, 2000, 10**8], "intervals": [10], "repetitions": 1, "budget_s": 60.0})
    workload.deadline = time.monotonic() + 50.0
    workload._spent, workload._fill_s_per_event = {100: 1.0, 2000: 0.5}, 0.0
    reason = workload._over_budget(10**8)
    assert reason is not None and "would take" in reason
    assert workload._over_budget(2500) is None  # a little longer still fits
    workload._spent, workload._fill_s_per_event = {10: 1.0, 100: 1.0}, 20e-6  # fixed costs dominate short streams
    assert workload._over_budget(10_000) is None  # the fill's cost per event, not 0.1 s per event, predicts the next
    assert workload._over_budget(10**8) is not None


def test_the_matrix_length_is_never_skipped_on_a_prediction(memory):
    """A pessimistic prediction (a busy machine) must not leave the matrix without its point."""
    workload = Snapshots({"lengths": [100, 2000, 10_000], "intervals": [10], "repetitions": 1, "budget_s": 60.0, "compare_at": 10_000})
    workload.deadline = time.monotonic() + 5.0
    workload._spent, workload._fill_s_per_event = {100: 1.0, 2000: 4.0}, 0.0  # 10,000 would "take" 20 s of the 5 left
    assert workload._over_budget(10_000) is None
    other = Snapshots({"lengths": [100, 2000, 10_000], "intervals": [10], "repetitions": 1, "budget_s": 60.0, "compare_at": 2000})
    other.deadline, other._spent, other._fill_s_per_event = workload.deadline, workload._spent, 0.0
    assert "would take" in (other._over_budget(10_000) or "")  # any other length still is
    workload.deadline = time.monotonic() - 1.0
    assert "used up" in (workload._over_budget(10_000) or "")  # and a spent budget stops it too


def test_the_matrix_length_is_measured_before_the_sweep():
    cases = Snapshots({"lengths": [10, 100, 10_000, 100_000], "compare_at": 10_000, "repetitions": 1}).cases()
    assert [c.get("length") for c in cases] == [None, 10_000, 10, 100, 100_000]


def test_snapshot_fill_stops_at_the_deadline_and_says_how_far_it_got(memory):
    workload = Snapshots({"lengths": [10**7], "intervals": [10], "repetitions": 1, "budget_s": 60.0})
    workload.open(memory)
    try:
        workload.deadline = time.monotonic() + 0.3
        began = time.monotonic()
        rows = list(workload.run_case({"phase": "load", "length": 10**7, "repetition": 0}))
    finally:
        workload.close()
    assert time.monotonic() - began < 30  # stopped at the deadline instead of writing ten million events
    assert [m.metric for m in rows] == ["skipped"]
    assert "budget ran out while writing the stream" in rows[0].note and "of 10,000,000 events" in rows[0].note


def test_resume_misses_nothing_and_bounds_repeats_on_sqlite(sqlite):
    params = {"kills": 2, "kill_after_s": [0.1, 0.3], "writers": 3, "checkpoint_every": 5, "repetitions": 1}
    rows = run_cases(Resume(params), sqlite)
    assert values(rows, "events_in_store")[0] > 0
    assert values(rows, "missed_events") == [0]
    assert values(rows, "acknowledged_not_stored") == [0]
    assert values(rows, "handled_not_in_store") == [0]
    assert values(rows, "events_written") == values(rows, "events_in_store")
    assert values(rows, "consumer_runs") == [3]
    assert values(rows, "restarts_over_bound") == [0]


def test_resume_is_not_measured_where_a_second_process_cannot_reach_the_store(tmp_path):
    from bench.workloads import run_workload

    summary = run_workload("resume", {"repetitions": 1}, engines="memory", results_dir=tmp_path, progress=False)
    assert summary.outcomes[0].status == "not_measured"
    assert "another process" in summary.outcomes[0].reason


def test_resume_accounting_counts_misses_and_repeats_exactly(tmp_path):
    log = tmp_path / "consumer.log"
    log.write_text(
        "S 1.0\nE 1 e1\nE 2 e2\nE 3 e3\n"  # run 0, killed after e3 (checkpoint at 2)
        "S 2.0\nE 3 e3\nC 2.5 2\nE 4 e4\nE 6 e6\n"  # run 1 repeats e3, reads past e5 (committed late)
        "S 3.0\nC 3.1 0\nE 7 e"  # final run; the last line is still being written
    )
    parsed = ConsumerLog.read(log)
    assert len(parsed.segments) == 3 and parsed.caught_up == {1: 2.5, 2: 3.1}
    stored = [(n, f"e{n}") for n in range(1, 7)]
    writers = SimpleNamespace(acknowledged=[f"e{n}" for n in range(1, 7)], error=None)
    workload = Resume({"checkpoint_every": 1})
    rows = list(workload._measurements(parsed, stored, writers, {}, 0, None))
    assert values(rows, "missed_events") == [1]
    assert values(rows, "repeated_events") == [1]
    assert values(rows, "missed_per_run", consumer_run=1) == [1]
    assert values(rows, "repeats_per_run", consumer_run=1) == [1]
    assert values(rows, "restarts_over_bound") == [0]
    assert values(rows, "catch_up_time", consumer_run=1) == [pytest.approx(0.5e6)]


def test_resume_counts_restarts_that_repeat_more_than_the_checkpoint_interval(tmp_path):
    log = tmp_path / "consumer.log"
    log.write_text("S 1.0\nE 1 e1\nE 2 e2\nS 2.0\nE 1 e1\nE 2 e2\nE 3 e3\nS 3.0\nE 3 e3\nC 3.1 0\n")
    stored = [(n, f"e{n}") for n in range(1, 4)]
    writers = SimpleNamespace(acknowledged=[f"e{n}" for n in range(1, 4)], error=None)
    rows = list(Resume({"checkpoint_every": 1})._measurements(ConsumerLog.read(log), stored, writers, {}, 0, None))
    assert values(rows, "max_repeats_per_restart") == [2]
    assert values(rows, "restarts_over_bound") == [1]  # the first restart repeated 2 > 1; the final one 1


def test_calls_measure_every_operation_open_and_closed(memory):
    params = {"duration_s": 0.1, "warmup_s": 0.02, "max_duration_s": 0.3, "prefill_events": 200, "repetitions": 1, "drain_timeout_s": 2.0, "loops": ["closed", "open"]}
    rows = run_cases(Calls(params), memory)
    for operation in ("append_single", "append_batch", "read_stream", "read_all", "live_delivery"):
        closed = values(rows, "throughput", operation=operation, loop="closed")
        opened = [m for m in rows if m.metric == "throughput" and m.params.get("operation") == operation and m.params.get("loop") == "open"]
        assert closed and closed[0] > 0, operation
        assert opened and opened[0].params["target_rate"] == pytest.approx(closed[0] * 0.5), operation
    assert values(rows, "undelivered") == [0, 0]
    assert values(rows, "event_throughput", operation="append_batch", loop="closed")[0] == pytest.approx(20 * values(rows, "throughput", operation="append_batch", loop="closed")[0])
