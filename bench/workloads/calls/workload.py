"""Throughput and latency of each call: append (one event, a batch), read_stream, read_all, and
live delivery from commit to a subscriber's handler.

The calls run in a client process of their own (``bench.harness.loadgen``), which opens its own store from
the URL; engines whose stores live inside one process (``memory://``) use a thread instead, and
their points say ``client: threads``. Closed loop: the client issues calls back to back; latency
is each call's own duration. Open loop: calls are scheduled at a target rate and latency is
measured from the *intended* start time, so a slow call also charges the calls queued behind it
(no coordinated omission). The target rate is ``open_loop_rate`` if not 0, else
``open_loop_fraction`` of the closed-loop throughput first measured for the same call on the
engine, so every engine is compared at the same relative load and every repetition of a point at
the same rate. Each window follows the load generator's rule (at least ``duration_s``, then on
until ``min_completions`` calls or ``max_duration_s``); ``window_s`` and ``completions`` are recorded.

Live delivery: a subscriber runs in a second process with its own connection; the client appends
one event per call and notes when ``append`` returned (the commit was acknowledged); the subscriber
notes when its handler saw the event. Both read the system-wide monotonic clock, so the latency is
the difference. A push engine can deliver before ``append`` has returned to the writer: those
deliveries count in ``delivered_before_ack`` and as the histogram's lowest value.

The harness's ceiling: in the first ``ceiling_repetitions`` repetitions each closed-loop call is
measured again, right after the engine, by the same client against a private in-memory store
filled the same way (``ceiling_throughput``). An open-loop point carries the closed-loop ceiling
of its call: a target rate near it would be client-bound.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from bench.harness import stats
from bench.harness.loadgen import Measured, WindowRule, Workers, resolution_note, window_param, window_problem
from bench.harness.metrics import Dimension, Metric
from bench.harness.params import ConvergingParams, ParameterError, param
from bench.harness.workload import Measurement, Workload, latency_measurements, read_everything
from eventstore import EventStore, open_store

from .clients import CEILING, ENGINE, CallRequest, CallTally, Client, ClientSetup, Drain, Subscriber, fill

OPERATIONS = ("append_single", "append_batch", "read_stream", "read_all", "live_delivery")

#: How long after its window a reply may take (one last slow call).
REPLY_SLACK_S = 60.0


@dataclass(frozen=True)
class CallsParams(ConvergingParams):
    budget_s: float | None = param(100.0, "seconds one engine may spend on this workload; later cases are recorded as skipped")
    max_repetitions: int = param(4, "a point whose 95 % CI is not yet within ±5 % of its median gets more repetitions, up to this many")
    operations: tuple[str, ...] = param(OPERATIONS, "calls to measure")
    loops: tuple[str, ...] = param(("closed",), "closed: back to back; open: scheduled at a target rate (add it for latency under load)")
    duration_s: float = window_param("duration_s")
    warmup_s: float = window_param("warmup_s")
    min_completions: int = window_param("min_completions")
    max_duration_s: float = window_param("max_duration_s")
    ceiling_repetitions: int = window_param("ceiling_repetitions")
    batch_size: int = param(20, "events per append_batch (capped by the engine's batch limit)")
    read_stream_length: int = param(100, "events in the stream read_stream reads")
    read_all_page: int = param(100, "events per read_all call, from a random position")
    prefill_events: int = param(1000, "events written before measuring reads (at most a quarter of the budget)")
    open_loop_fraction: float = param(0.5, "open-loop rate as a fraction of the closed-loop throughput first measured for the call")
    open_loop_rate: float = param(0.0, "open-loop rate in calls/s for every call; 0: open_loop_fraction of the closed-loop throughput")
    live_poll_interval_s: float = param(0.05, "subscriber poll interval for engines that do not push")
    drain_timeout_s: float = param(5.0, "how long to wait for the last live events before counting them undelivered")

    def check(self) -> None:
        super().check()
        unknown = set(self.operations) - set(OPERATIONS)
        if unknown or not self.operations:
            raise ParameterError(f"operations must be among {OPERATIONS}, not {sorted(unknown)}")
        if not self.loops or set(self.loops) - {"closed", "open"}:
            raise ParameterError("loops must be among ('closed', 'open')")
        if "open" in self.loops and "closed" not in self.loops and not self.open_loop_rate:
            raise ParameterError("open loop without closed loop needs an explicit open_loop_rate")
        if self.batch_size < 1 or self.read_stream_length < 1 or self.read_all_page < 1:
            raise ParameterError("batch_size, read_stream_length and read_all_page must be >= 1")
        if not 0 < self.open_loop_fraction <= 1 or self.open_loop_rate < 0:
            raise ParameterError("open_loop_fraction must be in (0, 1] and open_loop_rate >= 0")
        problem = window_problem(self)
        if problem:
            raise ParameterError(problem)


class Calls(Workload[CallsParams]):
    name = "calls"
    title = "Throughput and latency per call"
    rank = 40
    params_type = CallsParams
    converge_on = ("throughput", "latency_p50")
    dimensions = (
        Dimension("operation", "the call measured"),
        Dimension("loop", "closed (back to back) or open (at a target rate)"),
        Dimension("target_rate", "open loop's intended calls per second (0: closed loop)", "calls/s"),
        Dimension("client", "whether the client ran as a process or a thread"),
        Dimension("stream_length", "events in the stream read_stream reads", "events"),
        Dimension("events_in_store", "events in the store when the reads were measured", "events"),
    )
    metrics = (
        Metric("throughput", "calls/s", "calls completed per second", "higher"),
        Metric("event_throughput", "events/s", "events written or read per second", "higher"),
        Metric("window_s", "s", "length of the measurement window (at least duration_s)"),
        Metric("completions", "calls", "calls completed inside the window (the throughput's numerator)"),
        Metric("ceiling_throughput", "calls/s", "the same client against a private in-memory store, closed loop: what the load generator itself reaches"),
        Metric("latency", "us", "call latency (open loop: from the intended start)", "lower", family=True),
        Metric("undelivered", "events", "live events the subscriber had not handled by the end of the drain timeout", "lower"),
        Metric("delivered_before_ack", "events", "live events handled before append returned to the writer"),
    )

    def cases(self) -> list[dict[str, Any]]:
        p = self.params
        loops = [m for m in ("closed", "open") if m in p.loops]  # closed first: it sets the open-loop rate
        return [{"operation": op, "loop": loop, "repetition": r} for r in range(p.repetitions) for op in p.operations for loop in loops]

    def open(self, stores: Any) -> None:
        super().open(stores)
        self._closed_rate: dict[str, float] = {}
        self._ceiling: dict[tuple[str, int], float] = {}
        self._client: Workers | None = None
        self._subscriber: Workers | None = None
        self._url = stores.new_url("calls")
        self._store: EventStore = stores.connect(self._url)
        self._opened = [self._store]
        try:
            self._prepare(stores)
        except BaseException:
            self.close()
            raise

    def _prepare(self, stores: Any) -> None:
        """Fill the store, then start the client (and the subscriber) on it."""
        p = self.params
        self._batch = min(p.batch_size, self._store.capabilities.max_batch_events or p.batch_size)
        # the prefill may take at most a quarter of the budget: a slow engine reads from fewer events
        read_stream_id = fill(self._store, p.read_stream_length, p.prefill_events, self._batch, time.monotonic() + self.time_left() / 4)
        positions = tuple(e.position for e in read_everything(self._store))
        self._stream_length = len(self._store.read_stream(read_stream_id))
        self._events_in_store = len(positions)
        live_url = None
        if "live_delivery" in p.operations:  # a store of its own: the consumer never wades through other calls' events
            live_url = stores.new_url("live")
            self._opened.append(stores.connect(live_url))  # opened here first: it may create the schema or table
        processes = bool(stores.cross_process)
        opener = open_store if processes else stores.connect
        setup = ClientSetup(self._url, live_url, self._batch, p.read_all_page, read_stream_id, positions, self._stream_length)
        self._client = Workers(Client, [(setup, opener, processes)], processes=processes, name="client").start()
        if live_url:
            self._subscriber = Workers(Subscriber, [(live_url, opener, processes, p.live_poll_interval_s)], processes=processes, name="subscriber").start()

    def close(self) -> None:
        """Stop the client and the subscriber (see ``Workers.close``) and close this process's
        connections (the deployment closes the stores it shares itself)."""
        for group in (self._client, self._subscriber):
            if group is not None:
                group.close()
        if self.stores.cross_process:
            for store in self._opened:
                store.close()
        self._opened = []

    def run_case(self, case: dict[str, Any]) -> Iterator[Measurement]:
        p = self.params
        op, loop, rep = case["operation"], case["loop"], int(case["repetition"])
        assert self._client is not None, "open() started it"
        client = self._client.start()  # a no-op unless a failed case left the client broken
        rate = None
        if loop == "open":
            rate = p.open_loop_rate or p.open_loop_fraction * self._closed_rate.get(op, 0.0)
            if not rate:
                why = "no closed-loop throughput above 0 measured for this call yet (see the closed-loop point's note, error or skip)"
                yield Measurement("skipped", 1.0, {"operation": op, "loop": loop, "client": client.client}, rep, note=why)
                return
        point: dict[str, Any] = {"operation": op, "loop": loop, "target_rate": rate, "client": client.client}
        if op == "read_stream":
            point["stream_length"] = self._stream_length
        if op == "read_all":
            point["events_in_store"] = self._events_in_store
        seed = f"{p.seed}/{rep}/{op}/{loop}"
        delivered: tuple[dict[str, float], str | None] = ({}, None)
        if op == "live_delivery":
            measured, tally, delivered = self._live(rate, seed)
        else:
            measured = self._measure(ENGINE, op, rate, seed)
            tally = measured.replies[0]
        throughput = tally.completed / measured.window_s
        if loop == "closed" and throughput > 0:
            self._closed_rate.setdefault(op, throughput)
        cause = None if tally.completed else _cause(tally, measured.window_s)
        yield Measurement("throughput", throughput, point, rep, note=cause)
        if op != "live_delivery":
            yield Measurement("event_throughput", tally.events / measured.window_s, point, rep, note=cause)
        yield Measurement("window_s", measured.window_s, point, rep)
        yield Measurement("completions", float(tally.completed), point, rep, note=resolution_note(tally.completed, measured.window_s, p))
        if op == "live_delivery":
            yield from self._delivery(tally, *delivered, point, rep)
        else:
            histogram = stats.decode(tally.histogram)
            note = None if histogram.get_total_count() else f"no call started inside the window completed: {cause}"
            if tally.backlog:
                note = (f"{tally.backlog} calls scheduled inside the window were never started (the client fell behind the "
                        f"{rate:g} calls/s target): the latency percentiles understate")
            yield from _noted(latency_measurements("latency", histogram, point, rep), note)
        if rep < p.ceiling_repetitions:
            yield from self._ceiling_measurement(op, loop, rep, point, seed)

    def _measure(self, target: str, op: str, rate: float | None, seed: str) -> Measured:
        p = self.params
        assert self._client is not None, "open() started it"
        return self._client.measure({0: CallRequest(target, op, rate, seed)}, p.warmup_s, WindowRule.of(p), REPLY_SLACK_S)

    def _ceiling_measurement(self, op: str, loop: str, rep: int, point: dict[str, Any], seed: str) -> Iterator[Measurement]:
        if loop == "closed":
            measured = self._measure(CEILING, op, None, seed)
            tally: CallTally = measured.replies[0]
            self._ceiling[(op, rep)] = ceiling = tally.completed / measured.window_s
            note = f"one client against a private in-memory store, closed loop: {tally.completed} calls in a {measured.window_s:.2f} s window"
            if op == "live_delivery":
                note += " (appends only: no subscriber)"
            yield Measurement("ceiling_throughput", ceiling, point, rep, note=note)
        elif (op, rep) in self._ceiling:
            note = "the client's closed-loop ceiling for this call (measured with this repetition's closed loop): a target rate near it is client-bound"
            yield Measurement("ceiling_throughput", self._ceiling[(op, rep)], point, rep, note=note)

    def _live(self, rate: float | None, seed: str) -> tuple[Measured, CallTally, tuple[dict[str, float], str | None]]:
        """Start the subscriber, append for one window, then wait for the subscriber to see every
        event; the client's measurement, and when the subscriber saw each event (and its error)."""
        p = self.params
        subscriber = self._subscriber
        assert subscriber is not None, "opened with live_delivery"
        subscriber.start()
        subscriber.call({0: Subscriber.START}, REPLY_SLACK_S)
        drained = False
        try:
            measured = self._measure(ENGINE, "live_delivery", rate, seed)
            tally: CallTally = measured.replies[0]
            delivered = subscriber.call({0: Drain(tuple(tally.acked), p.drain_timeout_s)}, p.drain_timeout_s + REPLY_SLACK_S)[0]
            drained = True
        finally:
            if not drained and not subscriber.broken:  # the client failed: stop the subscription anyway
                try:
                    subscriber.call({0: Drain((), 0.0)}, REPLY_SLACK_S)
                except Exception:  # the client's error is the one to report
                    pass
        return measured, tally, delivered

    def _delivery(self, tally: CallTally, seen_at: dict[str, float], error: str | None, point: dict[str, Any], rep: int) -> Iterator[Measurement]:
        """Latency from each acknowledged append (client's clock) to the handler (subscriber's clock)."""
        histogram = stats.new_histogram()
        before_ack = 0
        for key, ack in tally.acked.items():
            seen = seen_at.get(key)
            if seen is None:
                continue
            if seen <= ack:
                before_ack += 1
            stats.record_us(histogram, max(0.0, seen - ack) * 1e6)
        undelivered = len(tally.acked) - histogram.get_total_count()
        note = f"subscription failed: {error}" if error else None
        yield Measurement("undelivered", float(undelivered), point, rep, note=note)
        yield Measurement("delivered_before_ack", float(before_ack), point, rep)
        empty = None
        if not histogram.get_total_count():
            empty = note or ("no live event was appended inside the window" if not tally.acked else f"none of {len(tally.acked)} live events was delivered within {self.params.drain_timeout_s:g} s")
        yield from _noted(latency_measurements("latency", histogram, point, rep), empty)


def _noted(rows: list[Measurement], note: str | None) -> list[Measurement]:
    return [replace(row, note=note) for row in rows] if note else rows


def _cause(tally: CallTally, window: float) -> str:
    """Why no call completed inside the window, in words."""
    if tally.longest_s > window:
        return f"the window ({window:.2f} s) is shorter than one call: the longest took {tally.longest_s:.2f} s"
    if not tally.started:
        return f"no call started inside the {window:.2f} s window (the client was still in a call begun during the warmup)"
    return f"no call completed inside the {window:.2f} s window; the longest took {tally.longest_s:.2f} s"
