"""Throughput and latency of each call: append (one event, a batch), read_stream, read_all, and
live delivery from commit to a subscriber's handler.

Closed loop: one client issues calls back to back; latency is each call's own duration.
Open loop: calls are scheduled at a target rate and latency is measured from the *intended* start
time, so a slow call also charges the calls queued behind it (no coordinated omission). The
target rate is ``open_loop_rate`` if given, else ``open_loop_fraction`` of the closed-loop
throughput just measured for the same call, so every engine is compared at the same relative load.

Live delivery: a subscription runs in a thread with its own connection; the latency is from the
moment ``append`` returned (the commit was acknowledged) to the handler seeing the event. A push
engine can deliver before ``append`` has returned to the writer: those deliveries count in
``delivered_before_ack`` and as the histogram's lowest value.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from eventstore import EventStore, NewEvent

from .. import stats
from .base import Measurement, Params, Workload, latency_measurements, now_us, read_everything

OPERATIONS = ("append_single", "append_batch", "read_stream", "read_all", "live_delivery")


@dataclass(frozen=True)
class CallsParams(Params):
    operations: tuple[str, ...] = OPERATIONS
    loops: tuple[str, ...] = ("closed", "open")
    duration_s: float = 0.3
    warmup_s: float = 0.1
    batch_size: int = 20
    read_stream_length: int = 100
    read_all_page: int = 100
    prefill_events: int = 1000
    open_loop_fraction: float = 0.5
    open_loop_rate: float | None = None
    live_poll_interval_s: float = 0.05
    drain_timeout_s: float = 5.0
    budget_s: float | None = 20.0

    def check(self) -> None:
        super().check()
        unknown = set(self.operations) - set(OPERATIONS)
        if unknown or not self.operations:
            raise ValueError(f"operations must be among {OPERATIONS}, not {sorted(unknown)}")
        if not self.loops or set(self.loops) - {"closed", "open"}:
            raise ValueError("loops must be among ('closed', 'open')")
        if "open" in self.loops and "closed" not in self.loops and not self.open_loop_rate:
            raise ValueError("open loop without closed loop needs an explicit open_loop_rate")
        if self.duration_s <= 0 or self.batch_size < 1 or self.read_stream_length < 1 or self.read_all_page < 1:
            raise ValueError("duration_s > 0, batch_size, read_stream_length and read_all_page >= 1")
        if not 0 < self.open_loop_fraction <= 1:
            raise ValueError("open_loop_fraction must be in (0, 1]")


class Calls(Workload):
    name = "calls"
    title = "Throughput and latency per call"
    params_type = CallsParams

    def cases(self) -> list[dict[str, Any]]:
        p: CallsParams = self.params  # type: ignore[assignment]
        loops = [m for m in ("closed", "open") if m in p.loops]  # closed first: it sets the open-loop rate
        return [{"operation": op, "loop": loop, "repetition": r} for r in range(p.repetitions) for op in p.operations for loop in loops]

    def open(self, stores: Any) -> None:
        super().open(stores)
        p: CallsParams = self.params  # type: ignore[assignment]
        self._url = stores.new_url("calls")
        self._store: EventStore = stores.connect(self._url)
        self._closed_rate: dict[tuple[str, int], float] = {}
        self._batch = min(p.batch_size, self._store.capabilities.max_batch_events or p.batch_size)
        self._read_stream_id = f"Calls-{uuid.uuid4()}"
        # the prefill may take at most a quarter of the budget: a slow engine reads from fewer events
        stop_at = time.monotonic() + self.time_left() / 4
        self._fill(self._read_stream_id, p.read_stream_length, stop_at)
        others = max(0, p.prefill_events - p.read_stream_length)
        for n in range(10):
            self._fill(f"Calls-{uuid.uuid4()}", others // 10 + (n < others % 10), stop_at)
        self._positions = [e.position for e in read_everything(self._store)]
        self._stream_length = len(self._store.read_stream(self._read_stream_id))
        self._live_url: str | None = None
        self._live_writer: EventStore | None = None

    def close(self) -> None:
        self._store.close()
        if self._live_writer is not None:
            self._live_writer.close()

    def _fill(self, stream_id: str, count: int, stop_at: float) -> None:
        for start in range(0, count, self._batch):
            if time.monotonic() > stop_at:
                return
            self._store.append(stream_id, [NewEvent("Filled", {"n": n}) for n in range(start, min(count, start + self._batch))])

    def run_case(self, case: dict[str, Any]) -> Iterator[Measurement]:
        p: CallsParams = self.params  # type: ignore[assignment]
        op, loop, rep = case["operation"], case["loop"], case["repetition"]
        rate = None
        if loop == "open":
            rate = p.open_loop_rate or p.open_loop_fraction * self._closed_rate.get((op, rep), 0.0)
            if not rate:
                yield Measurement("skipped", 1.0, "flag", {"operation": op, "loop": loop}, rep, note="no closed-loop throughput to derive the open-loop rate from")
                return
        point: dict[str, Any] = {"operation": op, "loop": loop, "target_rate": rate}
        if op == "read_stream":
            point["stream_length"] = self._stream_length
        if op == "read_all":
            point["events_in_store"] = len(self._positions)
        rng = random.Random(f"{p.seed}/{rep}/{op}/{loop}")
        if op == "live_delivery":
            yield from self._live(point, rate, rep)
            return
        call = self._call(op, rng)
        self._loop(call, None, p.warmup_s)  # warmup, not recorded
        histogram, calls, events, elapsed = self._loop(call, rate, p.duration_s)
        if loop == "closed":
            self._closed_rate[(op, rep)] = calls / elapsed
        yield Measurement("throughput", calls / elapsed, "calls/s", point, rep)
        yield Measurement("event_throughput", events / elapsed, "events/s", point, rep)
        yield from latency_measurements("latency", histogram, point, rep)

    def _call(self, op: str, rng: random.Random) -> Callable[[], int]:
        """One call of ``op``; returns the number of events it wrote or read."""
        store, batch, page = self._store, self._batch, self.params.read_all_page  # type: ignore[attr-defined]
        stream = f"Calls-{uuid.uuid4()}"

        def append_single() -> int:
            store.append(stream, [NewEvent("Appended", {"n": 1})])
            return 1

        def append_batch() -> int:
            store.append(stream, [NewEvent("Appended", {"n": n}) for n in range(batch)])
            return batch

        def read_stream() -> int:
            return len(store.read_stream(self._read_stream_id))

        def read_all() -> int:
            return len(store.read_all(rng.choice(self._positions), page))

        calls = {"append_single": append_single, "append_batch": append_batch, "read_stream": read_stream, "read_all": read_all}
        if op in calls:
            return calls[op]
        raise ValueError(op)

    @staticmethod
    def _loop(call: Callable[[], int], rate: float | None, duration_s: float) -> tuple[Any, int, int, float]:
        """Run ``call`` for ``duration_s``; open loop when ``rate`` is set. Returns (histogram, calls, events, seconds)."""
        histogram = stats.new_histogram()
        calls = events = 0
        start = now_us()
        end = start + duration_s * 1e6
        interval = 1e6 / rate if rate else 0.0
        while True:
            intended = start + calls * interval if rate else now_us()
            if intended >= end:
                break
            wait = intended - now_us()
            if wait > 0:
                time.sleep(wait / 1e6)
            began = now_us()
            events += call()
            stats.record_us(histogram, now_us() - (intended if rate else began))
            calls += 1
        return histogram, calls, events, max(now_us() - start, 1.0) / 1e6

    # -- live delivery ---------------------------------------------------------------------------

    def _live(self, point: dict[str, Any], rate: float | None, rep: int) -> Iterator[Measurement]:
        p: CallsParams = self.params  # type: ignore[assignment]
        histogram = stats.new_histogram()
        lock = threading.Lock()
        acked: dict[str, float] = {}
        early: dict[str, float] = {}
        delivered: set[str] = set()
        before_ack = [0]
        measuring = threading.Event()

        def handler(event: Any) -> None:
            if event.type != "Live":
                return
            seen = now_us()
            key = str(event.event_id)
            with lock:
                delivered.add(key)
                if key in acked:
                    if measuring.is_set():
                        stats.record_us(histogram, seen - acked[key])
                else:
                    early[key] = seen

        if self._live_url is None:  # a store of its own: the consumer never wades through other calls' events
            self._live_url = self.stores.new_url("live")
            self._live_writer = self.stores.connect(self._live_url)
        writer = self._live_writer
        reader = self.stores.connect(self._live_url)
        # one consumer name for every case: each resumes where the previous one stopped
        subscription = reader.subscribe("live-delivery", handler, checkpoint_every=1000, poll_interval=p.live_poll_interval_s)
        subscription.catch_up()
        subscription.start()
        stream = f"Live-{uuid.uuid4()}"
        sent: list[str] = []

        def append_one() -> int:
            event = NewEvent("Live", {"n": len(sent)})
            writer.append(stream, [event])
            ack = now_us()
            key = str(event.id)
            with lock:
                acked[key] = ack
                if key in early:
                    before_ack[0] += measuring.is_set()
                    if measuring.is_set():
                        stats.record_us(histogram, 0)
            if measuring.is_set():
                sent.append(key)
            return 1

        try:
            self._loop(append_one, None, p.warmup_s)
            measuring.set()
            _, calls, _, elapsed = self._loop(append_one, rate, p.duration_s)
            if rate is None:
                self._closed_rate[("live_delivery", rep)] = calls / elapsed
            deadline = time.monotonic() + p.drain_timeout_s
            while time.monotonic() < deadline and not delivered.issuperset(sent) and subscription.error is None:
                time.sleep(0.01)
        finally:
            subscription.stop()
            reader.close()
        note = f"subscription failed: {subscription.error}" if subscription.error else None
        yield Measurement("throughput", calls / elapsed, "calls/s", point, rep)
        yield Measurement("undelivered", float(len(set(sent) - delivered)), "events", point, rep, note=note)
        yield Measurement("delivered_before_ack", float(before_ack[0]), "events", point, rep)
        yield from latency_measurements("latency", histogram, point, rep)

