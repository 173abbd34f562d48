"""The overhead workload's worker processes (jobs of ``bench.harness.loadgen``'s workers).

A ``Writer`` appends single events, through its own store (the adapter side) or its own raw path
(the raw side), to a stream of its own: back to back for the ``append_concurrent`` path, or open
loop at a given rate for ``live_delivery``, noting when each append returned. A ``Listener`` learns
of new events through the store's subscription or the raw path's live path (``RawPath.listen``),
noting when each arrived. Every time is ``time.perf_counter()``, the system-wide monotonic clock,
so a writer's and the listener's times compare.
"""
from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.harness.loadgen import Board, Timing
from eventstore import EventStore, NewEvent, StreamState, open_store
from eventstore.plugins import RawListener, RawPath
from eventstore.subscriptions import Subscription

#: The two sides of every comparison.
ADAPTER, RAW = "adapter", "raw"
#: The two kinds of worker.
WRITER, LISTENER = "writer", "listener"
#: The payload of every event both sides write.
PAYLOAD = {"sku": "ABC-123", "quantity": 2, "price": 19.99, "note": "x" * 64}
EVENT_TYPE = "ItemAdded"
#: The listener's subscription (one per live store, which only it follows).
CONSUMER = "overhead-live"
#: The longest a raw listener's poll waits, so that stopping it after a round takes no longer.
POLL_SLICE_S = 0.05


@dataclass(frozen=True)
class Target:
    """Where a writer appends: a side, the store URL it opens, and its own stream there."""

    side: str
    url: str
    stream_id: str


@dataclass(frozen=True)
class Prime:
    """A call: ``calls`` appends to each of ``targets`` (connections, caches, prepared statements)."""

    targets: tuple[Target, ...]
    calls: int


@dataclass(frozen=True)
class Appends:
    """A measurement: appends to ``target`` back to back; the reply is how many completed inside the window."""

    target: Target


@dataclass(frozen=True)
class LiveWrites:
    """A measurement: one append to ``target`` at each intended time, ``offset_s`` after the common
    start and every ``1 / rate`` seconds after it, late or not (open loop); the reply maps the id of
    each event whose append returned inside the window to that time."""

    target: Target
    rate: float
    offset_s: float


def job(role: str, *args: Any, board: Board, slot: int) -> Writer | Listener:
    """Worker ``slot``'s job: a ``Writer`` or the ``Listener`` (``role``), built from ``args``."""
    return Writer(*args, board=board, slot=slot) if role == WRITER else Listener(*args, board=board, slot=slot)


class Writer:
    """A writer's job: per URL, its own store or raw path (``raw_type``), opened on first use."""

    def __init__(self, raw_type: type[RawPath], *, board: Board, slot: int) -> None:
        self.raw_type = raw_type
        self.board = board
        self._opened: dict[tuple[str, str], EventStore | RawPath] = {}
        self._versions: dict[str, Any] = {}

    def _append(self, target: Target, live: bool) -> Callable[[], NewEvent]:
        """One append of a new event to ``target`` per call; returns the event."""
        key = (target.side, target.url)
        if key not in self._opened:
            self._opened[key] = open_store(target.url) if target.side == ADAPTER else self.raw_type(target.url)
        opened, stream = self._opened[key], target.stream_id
        if isinstance(opened, EventStore):
            store, versions = opened, self._versions

            def adapter() -> NewEvent:  # at the stream's next version, which the store checks
                event = NewEvent(EVENT_TYPE, PAYLOAD)
                versions[stream] = store.append(stream, [event], versions.get(stream, StreamState.NO_STREAM)).last_version
                return event

            return adapter
        write = opened.append_live if live else opened.append_one

        def raw() -> NewEvent:
            event = NewEvent(EVENT_TYPE, PAYLOAD)
            write(stream, event)
            return event

        return raw

    def handle(self, request: Prime | Appends | LiveWrites, timing: Timing | None) -> Any:
        if isinstance(request, Prime):
            for target in request.targets:
                append = self._append(target, live=False)
                for _ in range(request.calls):
                    append()
            return None
        assert timing is not None, "a measurement has a timing"
        if isinstance(request, Appends):
            return self._appends(self._append(request.target, live=False), timing)
        return self._live(self._append(request.target, live=True), request, timing)

    def _appends(self, append: Callable[[], NewEvent], timing: Timing) -> int:
        board = self.board
        finishes: list[float] = []
        timing.wait_for_start(board)
        while time.perf_counter() < board.end_at:
            append()
            finished = time.perf_counter()
            if finished >= timing.measure_from:
                finishes.append(finished)
        return bisect.bisect_right(finishes, board.end_at)

    def _live(self, append: Callable[[], NewEvent], request: LiveWrites, timing: Timing) -> dict[str, float]:
        board = self.board
        committed: dict[str, float] = {}
        timing.wait_for_start(board)
        for k in itertools.count():
            intended = timing.start_at + request.offset_s + k / request.rate
            if max(intended, time.perf_counter()) >= board.end_at:  # a writer behind its schedule stops with the window too
                break
            delay = intended - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            event = append()
            finished = time.perf_counter()
            if finished >= timing.measure_from:
                committed[str(event.id)] = finished
        return {key: at for key, at in committed.items() if at <= board.end_at}

    def close(self) -> None:
        for opened in self._opened.values():
            opened.close()


@dataclass(frozen=True)
class Listen:
    """A call: start following ``side``'s live store (the store's subscription, or the raw path's listener)."""

    side: str


@dataclass(frozen=True)
class Drain:
    """A call: wait until every id in ``ids`` has arrived or ``timeout_s`` passed, then stop
    following; the reply is (id -> arrival time for those that arrived, the listener's error or None)."""

    ids: tuple[str, ...]
    timeout_s: float


class Listener:
    """The listener's job: the adapter's store and the raw path on the raw side's store, each
    followed only while its side's live round runs, so neither side's listener costs the other's round."""

    def __init__(self, raw_type: type[RawPath], adapter_url: str, raw_url: str, poll_interval: float, *, board: Board, slot: int) -> None:
        self.store = open_store(adapter_url)
        self.raw = raw_type(raw_url)
        self.poll_interval = poll_interval
        self.arrived: dict[str, float] = {}
        self._subscription: Subscription | None = None
        self._listener: RawListener | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None

    def handle(self, request: Listen | Drain, timing: Timing | None) -> Any:
        if isinstance(request, Listen):
            self._end()
            self.arrived, self._error = {}, None
            if request.side == ADAPTER:
                arrived = self.arrived
                subscription = self.store.subscribe(CONSUMER, lambda e: arrived.__setitem__(str(e.event_id), time.perf_counter()),
                                                    checkpoint_every=1000, poll_interval=self.poll_interval)
                subscription.catch_up()  # the earlier rounds' events, before this round's clock starts
                self._subscription = subscription.start()
            else:
                self._listener = self.raw.listen(self.poll_interval)
                self._stop.clear()
                self._thread = threading.Thread(target=self._follow, args=(self._listener,), name="raw-listener", daemon=True)
                self._thread.start()
            return None
        deadline = time.monotonic() + request.timeout_s
        arrived = self.arrived  # written by the following thread: only membership is read meanwhile
        while time.monotonic() < deadline and self._failure() is None and not all(key in arrived for key in request.ids):
            time.sleep(0.01)
        error = self._failure()
        self._end()
        return {key: arrived[key] for key in request.ids if key in arrived}, (f"{type(error).__name__}: {error}" if error else None)

    def _follow(self, listener: RawListener) -> None:
        try:
            while not self._stop.is_set():
                ids = listener.poll(POLL_SLICE_S)
                now = time.perf_counter()
                for event_id in ids:
                    self.arrived[str(event_id)] = now
        except Exception as exc:  # the raw listener broke: the drain reports it
            self._error = exc

    def _failure(self) -> BaseException | None:
        return self._subscription.error if self._subscription is not None else self._error

    def _end(self) -> None:
        """Stop following, whichever side was."""
        if self._subscription is not None:
            self._subscription.stop()
            self._subscription = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join(10)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def close(self) -> None:
        self._end()
        self.raw.close()
        self.store.close()
