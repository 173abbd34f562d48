"""The load generator (``bench.harness.loadgen``): writers, clients and subscribers are processes that leave
nothing behind; every point records the harness's own ceiling; a zero says why."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from helpers import OneStore, run_cases, values

from bench.harness import results
from bench.harness.loadgen import WindowRule, WorkerError, Workers
from bench.workloads import run_workload
from bench.workloads.calls import tables as calls_tables
from bench.workloads.calls.workload import Calls
from bench.workloads.contention import tables as contention_tables
from bench.workloads.contention.workload import Contention
from bench.workloads.contention.writer import Writer
from eventstore import ConcurrencyError, open_store
from eventstore.memory import MemoryStore

FAST_WINDOW = {"duration_s": 0.1, "warmup_s": 0.02, "max_duration_s": 0.3, "repetitions": 1}


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (workers are the fork server's children, not ours)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def test_no_writer_process_is_left_after_close_or_after_a_failed_case(sqlite):
    workload = Contention({**FAST_WINDOW, "writers": [2], "skews": [0.0], "streams": 2})
    workload.open(sqlite)
    try:
        first = workload._writers.pids()
        assert len(first) == 2 and all(alive(p) for p in first)
        os.kill(first[0], signal.SIGKILL)  # a writer dies: the case fails ...
        with pytest.raises(WorkerError, match="writer 0"):
            list(workload.run_case({"writers": 2, "skew": 0.0, "repetition": 0}))
        # ... the next one starts fresh writers, for any repetition index
        rows = list(workload.run_case({"writers": 2, "skew": 0.0, "repetition": 7}))
        second = workload._writers.pids()
        assert set(second).isdisjoint(first)
        assert values(rows, "throughput")[0] > 0 and values(rows, "lost_updates") == [0]
        assert all(m.repetition == 7 and m.params["client"] == "processes" for m in rows)
        assert not values(rows, "ceiling_throughput")  # only the first ceiling_repetitions measure it
    finally:
        workload.close()
    assert wait_gone(first + second) == []


def test_workers_stop_cleanly_on_ctrl_c_in_the_parent(ctrl_c_raises):
    workers = Workers(Writer, [("memory://x", open_store, True)] * 2, processes=True, name="writer").start()
    pids = workers.pids()
    from bench.workloads.contention.writer import Commands

    request = Commands("engine", ("a", "b"), (1.0, 2.0), "s", 5, 0.1)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            workers.measure({0: request, 1: request}, 0.0, WindowRule(30.0, 0, 30.0), 10.0)
    finally:
        timer.cancel()
        started = time.monotonic()
        workers.close()
    assert time.monotonic() - started < 4  # they ended their window and quit, no terminate needed
    assert workers.exitcodes == [0, 0]
    assert wait_gone(pids) == []


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (ValueError, OSError):
            continue
    return found


def test_workers_die_with_the_harness_even_in_the_middle_of_a_window():
    script = textwrap.dedent("""
        from bench.harness.loadgen import WindowRule, Workers
        from bench.workloads.contention.writer import Commands, Writer
        from eventstore import open_store
        workers = Workers(Writer, [("memory://x", open_store, True)] * 2, processes=True).start()
        print(*workers.pids(), flush=True)
        request = Commands("engine", ("a", "b"), (1.0, 2.0), "s", 5, 0.1)
        workers.measure({0: request, 1: request}, 0.0, WindowRule(60.0, 0, 60.0), 10.0)
    """)
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert harness.stdout is not None
        pids = [int(p) for p in harness.stdout.readline().split()]
        time.sleep(0.5)  # the writers are writing
        helpers = children(harness.pid)  # the fork server (the workers' parent) and the resource tracker
        assert len(pids) == 2 and all(alive(p) for p in pids) and helpers
        harness.kill()  # SIGKILL: no cleanup code runs in the harness
        harness.wait()
        assert wait_gone(pids + helpers) == []
    finally:
        if harness.poll() is None:
            harness.kill()


def test_ceiling_and_client_bound_are_recorded_next_to_the_throughput(tmp_path):
    params = {**FAST_WINDOW, "writers": [1, 2], "skews": [0.0], "streams": 2}
    run_workload("contention", params, engines="memory", results_dir=tmp_path, progress=False)
    calls = {**FAST_WINDOW, "operations": ["append_single", "read_stream"], "loops": ["closed", "open"], "prefill_events": 50}
    run_workload("calls", calls, engines="memory", results_dir=tmp_path, progress=False)
    res = results.load(tmp_path)
    ceilings = res.measurements[res.measurements["metric"] == "ceiling_throughput"]
    assert set(ceilings["unit"]) == {"commands/s", "calls/s"}
    points = contention_tables.contention_points(res)
    assert len(points) == 2 and (points["ceiling_throughput"] > 0).all() and (points["min_window_s"] >= 0.1).all()
    assert points["client_bound"].notna().all()
    assert list(points["client_bound"]) == list(points["throughput"] >= 0.8 * points["ceiling_throughput"])
    assert set(points["client"]) == {"threads"}
    table = calls_tables.calls_table(res)
    assert len(table) == 4 and (table["ceiling_throughput"] > 0).all() and table["client_bound"].notna().all()
    by_loop = table.set_index(["operation", "loop"])["ceiling_throughput"]
    assert by_loop[("append_single", "open")] == by_loop[("append_single", "closed")]  # the open loop carries the closed loop's ceiling


class SlowAppends(MemoryStore):
    """Every append takes longer than the whole window."""

    def _append(self, *args):
        time.sleep(0.4)
        return super()._append(*args)


class Refusing(MemoryStore):
    """Every append meets a concurrent writer."""

    def _append(self, stream_id, batch, expected):
        raise ConcurrencyError(stream_id, expected, 99)


def test_a_zero_throughput_point_says_why():
    tiny = {**FAST_WINDOW, "writers": [1], "skews": [0.0], "streams": 1, "warmup_s": 0.0, "max_duration_s": 0.1}
    slow = run_cases(Contention(tiny), OneStore(SlowAppends()))
    [zero] = [m for m in slow if m.metric == "throughput"]
    assert zero.value == 0 and "shorter than one command" in zero.note and "0.4" in zero.note
    assert values(slow, "command_latency_histogram") == [1]  # started in the window, completed after it

    refused = run_cases(Contention({**tiny, "max_attempts": 2}), OneStore(Refusing()))
    [zero] = [m for m in refused if m.metric == "throughput"]
    assert zero.value == 0 and "exhausted after 2 attempts" in zero.note
    assert all("no successful command started inside the window" in m.note for m in refused if m.metric.startswith("command_latency"))

    calls = run_cases(Calls({**FAST_WINDOW, "operations": ["append_single"], "loops": ["closed", "open"], "max_duration_s": 0.1, "prefill_events": 1}), OneStore(SlowAppends()))
    [zero] = [m for m in calls if m.metric == "throughput"]
    assert zero.value == 0 and "shorter than one call" in zero.note
    [skipped] = [m for m in calls if m.metric == "skipped"]  # the open loop has no rate to run at
    assert "closed-loop throughput" in skipped.note


def test_calls_run_their_client_and_subscriber_in_processes(sqlite):
    params = {**FAST_WINDOW, "operations": ["append_single", "live_delivery"], "loops": ["closed", "open"], "prefill_events": 20, "drain_timeout_s": 3.0}
    workload = Calls(params)
    workload.open(sqlite)
    try:
        pids = workload._client.pids() + workload._subscriber.pids()
        rows = [m for case in workload.cases() for m in workload.run_case(case)]
        extra = list(workload.run_case({"operation": "live_delivery", "loop": "open", "repetition": 4}))
    finally:
        workload.close()
    assert len(pids) == 2 and wait_gone(pids) == []
    assert {m.params["client"] for m in rows + extra if m.metric == "throughput"} == {"processes"}
    assert values(rows, "undelivered") == [0, 0] and values(extra, "undelivered") == [0]
    assert all(v > 0 for v in values(rows, "latency_histogram", operation="live_delivery"))
    closed = values(rows, "throughput", operation="live_delivery", loop="closed")[0]
    assert [m.params["target_rate"] for m in extra if m.metric == "throughput"] == [pytest.approx(closed / 2)]
    assert len(values(rows, "ceiling_throughput")) == 4 and not values(extra, "ceiling_throughput")
