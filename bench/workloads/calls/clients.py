"""The calls workload's worker processes: clients that time one call at a time (closed loop, or open
loop against intended start times) and the live-delivery subscriber that times commit to handler.
"""
from __future__ import annotations

import bisect
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.harness import stats
from bench.harness.loadgen import Board, Timing
from bench.harness.workload import read_everything
from eventstore import EventStore, NewEvent
from eventstore.memory import MemoryStore

ENGINE, CEILING = "engine", "ceiling"

#: The subscription's name: every case resumes where the previous one stopped.
CONSUMER = "live-delivery"


def fill(store: EventStore, stream_length: int, events: int, batch: int, stop_at: float = float("inf")) -> str:
    """Write the stream ``read_stream`` reads (``stream_length`` events) and spread the rest of
    ``events`` over ten more streams, ``batch`` events per append, stopping at ``stop_at``
    (``time.monotonic()``); the read stream's id."""
    read_stream_id = f"Calls-{uuid.uuid4()}"

    def one(stream_id: str, count: int) -> None:
        for start in range(0, count, batch):
            if time.monotonic() > stop_at:
                return
            store.append(stream_id, [NewEvent("Filled", {"n": n}) for n in range(start, min(count, start + batch))])

    one(read_stream_id, stream_length)
    others = max(0, events - stream_length)
    for n in range(10):
        one(f"Calls-{uuid.uuid4()}", others // 10 + (n < others % 10))
    return read_stream_id


@dataclass(frozen=True)
class ClientSetup:
    """What the client needs to reach the engine's stores and to build its ceiling store alike."""

    url: str
    live_url: str | None
    batch: int
    read_all_page: int
    read_stream_id: str
    positions: tuple[Any, ...]
    stream_length: int


@dataclass(frozen=True)
class CallRequest:
    """One measurement's calls: which store, which call, open-loop rate (None: closed loop), seed."""

    target: str
    operation: str
    rate: float | None
    seed: str


@dataclass
class CallTally:
    """The client's account of one measurement."""

    completed: int = 0  # calls completed inside the window
    events: int = 0  # events they wrote or read
    started: int = 0  # calls (intended to be) started inside the window
    longest_s: float = 0.0
    #: Open loop: calls scheduled inside the window that were never started (the client fell behind).
    backlog: int = 0
    histogram: str = ""
    #: live_delivery: when append returned for each event started in the window, by event id.
    acked: dict[str, float] = field(default_factory=dict)


class _Target:
    """Where the calls go: the store read from (and what the reads need of it), the store appended
    to, and the live store."""

    def __init__(self, store: EventStore, appends: EventStore, live: EventStore | None, read_stream_id: str, positions: list[Any]) -> None:
        self.store, self.appends, self.live = store, appends, live
        self.read_stream_id, self.positions = read_stream_id, positions


class Client:
    """The client's job: the engine's store (and its live store), and a private in-memory store
    filled like the engine's for the ceiling."""

    def __init__(self, setup: ClientSetup, opener: Callable[[str], EventStore], owned: bool, *, board: Board, slot: int) -> None:
        self.setup, self.owned, self.board, self.slot = setup, owned, board, slot
        store = opener(setup.url)
        live = opener(setup.live_url) if setup.live_url else None
        self.engine = _Target(store, store, live, setup.read_stream_id, list(setup.positions))
        # the ceiling reads from a store filled like the engine's and appends to another, so that
        # what the appends add never slows the in-memory reads
        filled, appended = MemoryStore(), MemoryStore()
        read_stream_id = fill(filled, setup.stream_length, len(setup.positions), setup.batch)
        self.ceiling = _Target(filled, appended, appended, read_stream_id, [e.position for e in read_everything(filled)])

    def handle(self, request: CallRequest, timing: Timing | None) -> CallTally:
        assert timing is not None, "the client only measures"
        target = self.engine if request.target == ENGINE else self.ceiling
        rng = random.Random(request.seed)
        if request.operation == "live_delivery":
            return self._live(target, request.rate, timing)
        return run_calls(self._call(request.operation, target, rng), request.rate, timing, self.board, self.slot)

    def _call(self, op: str, target: _Target, rng: random.Random) -> Callable[[], int]:
        """One call of ``op``; returns the number of events it wrote or read."""
        store, appends, batch, page = target.store, target.appends, self.setup.batch, self.setup.read_all_page
        stream = f"Calls-{uuid.uuid4()}"

        def append_single() -> int:
            appends.append(stream, [NewEvent("Appended", {"n": 1})])
            return 1

        def append_batch() -> int:
            appends.append(stream, [NewEvent("Appended", {"n": n}) for n in range(batch)])
            return batch

        def read_stream() -> int:
            return len(store.read_stream(target.read_stream_id))

        def read_all() -> int:
            return len(store.read_all(rng.choice(target.positions), page))

        calls = {"append_single": append_single, "append_batch": append_batch, "read_stream": read_stream, "read_all": read_all}
        if op in calls:
            return calls[op]
        raise ValueError(op)

    def _live(self, target: _Target, rate: float | None, timing: Timing) -> CallTally:
        live = target.live
        assert live is not None, "live_delivery needs the live store"
        stream = f"Live-{uuid.uuid4()}"
        acked: dict[str, float] = {}

        def append_one(measured: bool) -> int:
            event = NewEvent("Live", {"n": len(acked)})
            live.append(stream, [event])
            ack = time.perf_counter()
            if measured:
                acked[str(event.id)] = ack
            return 1

        tally = run_calls(append_one, rate, timing, self.board, self.slot, pass_measured=True)
        tally.acked = acked
        return tally

    def close(self) -> None:
        if self.owned:
            self.engine.store.close()
            if self.engine.live is not None:
                self.engine.live.close()


def run_calls(call: Callable[..., int], rate: float | None, timing: Timing, board: Board, slot: int, *, pass_measured: bool = False) -> CallTally:
    """Call from the common start until the parent closes the window: back to back, or at ``rate``
    calls/s from the start (latency then from each call's intended start). Warmup calls are not
    recorded; a call counts as completed when it finished inside the window."""
    histogram = stats.new_histogram()
    tally = CallTally()
    finishes: list[float] = []
    events: list[int] = []
    interval = 1.0 / rate if rate else 0.0
    timing.wait_for_start(board)
    k = 0
    while True:
        intended = timing.start_at + k * interval if rate else time.perf_counter()
        if not _wait_until(intended, board):
            break
        began = time.perf_counter()
        measured = (intended if rate else began) >= timing.measure_from
        n = call(measured) if pass_measured else call()
        finished = time.perf_counter()
        k += 1
        tally.longest_s = max(tally.longest_s, finished - began)
        if finished >= timing.measure_from:
            finishes.append(finished)
            events.append(n)
            board.completed(slot)
        if measured:
            tally.started += 1
            stats.record_us(histogram, (finished - (intended if rate else began)) * 1e6)
    if rate:
        tally.backlog = max(0, math.ceil((board.end_at - timing.start_at) / interval) - k)
    tally.completed = bisect.bisect_right(finishes, board.end_at)
    tally.events = sum(events[:tally.completed])
    tally.histogram = stats.encode(histogram)
    return tally


def _wait_until(moment: float, board: Board) -> bool:
    """Sleep until ``moment``; False once the window has closed (a call that is late by then is
    not started: an open loop that fell behind does not stretch the window)."""
    while moment < board.end_at:
        now = time.perf_counter()
        if now >= board.end_at:
            return False
        if moment <= now:
            return True
        time.sleep(min(moment - now, 0.05))
    return False


@dataclass(frozen=True)
class Drain:
    """Wait until the subscriber handled every event of ``ids`` (or ``timeout_s``), then stop it."""

    ids: tuple[str, ...]
    timeout_s: float


class Subscriber:
    """The subscriber's job: its own connection to the live store; a named, checkpointed consumer
    started for each live case, noting when its handler sees each live event."""

    START = "start"

    def __init__(self, live_url: str, opener: Callable[[str], EventStore], owned: bool, poll_interval: float, *, board: Board, slot: int) -> None:
        self.store = opener(live_url)
        self.owned = owned
        self.poll_interval = poll_interval
        self.seen: dict[str, float] = {}
        self.subscription: Any = None

    def _handle_event(self, event: Any) -> None:
        if event.type == "Live":
            self.seen[str(event.event_id)] = time.perf_counter()

    def handle(self, request: Any, timing: Timing | None) -> Any:
        if request == self.START:
            self._stop()
            self.seen = {}
            subscription = self.store.subscribe(CONSUMER, self._handle_event, checkpoint_every=1000, poll_interval=self.poll_interval)
            subscription.catch_up()
            subscription.start()
            self.subscription = subscription
            return None
        assert isinstance(request, Drain)
        subscription = self.subscription
        deadline = time.monotonic() + request.timeout_s
        seen = self.seen  # written by the subscription's thread: only membership is read while it runs
        while subscription is not None and time.monotonic() < deadline and subscription.error is None and not all(key in seen for key in request.ids):
            time.sleep(0.01)
        error = subscription.error if subscription is not None else None
        self._stop()
        return {key: seen[key] for key in request.ids if key in seen}, (f"{type(error).__name__}: {error}" if error else None)

    def _stop(self) -> None:
        if self.subscription is not None:
            self.subscription.stop()
            self.subscription = None

    def close(self) -> None:
        self._stop()
        if self.owned:
            self.store.close()
