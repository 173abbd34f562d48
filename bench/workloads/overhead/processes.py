"""The overhead workload's two paths in worker processes: one-event appends by several writers at
once (``append_concurrent``) and live delivery (``live_delivery``), the parent's side.

Writers and the listener are processes of ``bench.harness.loadgen`` (jobs in ``jobs.py``), started
on the first case that needs them and kept for the engine; each writer opens its own store and its
own raw path, and appends to a stream of its own on each side. The two stores (one per side) are
created here first, so that processes opening them at once never race to create a schema or a
table. Both paths run their sides in ABBA rounds:

- ``append_concurrent``: in each round every writer appends back to back from one common start;
  the side's rate is all writers' appends completed in the window over its length.
- ``live_delivery``: before each round the listener starts following that side's store (the
  store's subscription, which first catches up on what is there, or the raw path's listener, which
  learns of what comes next); the writers then append open loop at ``live_rate`` together for
  ``live_round_s``; the listener waits for every event committed in the window (up to
  ``drain_timeout``) and stops. Each event's latency runs from its append returning to the writer
  to its arrival at the listener (a push may arrive first: 0).
"""
from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from bench.harness import stats
from bench.harness.abba import PairedRatio, abba, paired_ratio
from bench.harness.loadgen import WindowRule, Workers
from bench.harness.workload import StoreFactory
from eventstore import EventStore
from eventstore.plugins import NoLivePath, RawPath

from .jobs import ADAPTER, LISTENER, RAW, WRITER, Appends, Drain, Listen, LiveWrites, Prime, Target, job
from .params import OverheadParams

#: Unmeasured seconds at the start of each round, under the same load (the writers' first calls
#: after a pause; a subscriber's first wait).
WARMUP_S = 0.1
#: How long after its window a reply may take (one last slow append).
REPLY_SLACK_S = 60.0
#: The latency percentiles whose ratios are taken per round pair.
LIVE_PERCENTILES = ("p50", "p99")


def drain_timeout(poll_interval: float) -> float:
    """How long the listener waits after a live round for its last events (then they count as undelivered)."""
    return 2.0 + 2 * poll_interval


@dataclass(frozen=True)
class LiveRound:
    """One side's live round: the latency (µs) of each event delivered, of ``committed`` events
    appended inside the ``window_s`` window, how many arrived before their append returned (latency
    0), and the listener's error if it failed."""

    histogram: HdrHistogram
    committed: int
    window_s: float
    before_ack: int = 0
    error: str | None = None

    @property
    def undelivered(self) -> int:
        return self.committed - self.histogram.get_total_count()

    def percentile(self, name: str) -> float:
        return stats.percentiles(self.histogram)[name]


def live_round(committed: dict[str, float], arrived: dict[str, float], window_s: float, error: str | None = None) -> LiveRound:
    """The round whose events were committed and arrived at these times (``perf_counter`` seconds, by event id)."""
    histogram = stats.new_histogram()
    before_ack = 0
    for key, at in committed.items():
        seen = arrived.get(key)
        if seen is not None:
            before_ack += seen <= at
            stats.record_us(histogram, max(0.0, seen - at) * 1e6)
    return LiveRound(histogram, len(committed), window_s, before_ack, error)


def latency_ratios(adapter: list[LiveRound], raw: list[LiveRound]) -> dict[str, PairedRatio | None]:
    """Per percentile, the raw path's latency over the adapter's per round pair (above 1: the adapter
    delivers sooner), summarised; None where a round delivered nothing."""
    out: dict[str, PairedRatio | None] = {}
    for name in LIVE_PERCENTILES:
        a, r = [x.percentile(name) for x in adapter], [x.percentile(name) for x in raw]
        out[name] = None if any(math.isnan(v) for v in a + r) else paired_ratio(r, a)
    return out


class Processes:
    """The worker processes of one engine (writers, then the listener) and the rounds of the two
    paths that use them. Both paths share the stores and each writer's stream on each side, so that
    every process opens each store once: on a slow engine, opening is what takes the time."""

    def __init__(self, params: OverheadParams, stores: StoreFactory, raw_type: type[RawPath]) -> None:
        self.params, self.stores, self.raw_type = params, stores, raw_type
        self._opened: list[EventStore | RawPath] = []
        self._group: Workers | None = None
        #: Each side's targets, one per writer.
        self._targets: dict[str, list[Target]] = {}
        #: What the raw path's listener is, or why it has none (asked once, on the first case).
        self.live_describe = ""
        self._no_live: NoLivePath | None = None

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
        for thing in reversed(self._opened):
            thing.close()

    def _workers(self) -> Workers:
        """The workers, started on first use with the stores created here first and the raw
        listener probed (``listen`` raising ``NoLivePath``: no listener process), each writer primed."""
        p = self.params
        if self._group is None:
            urls = {side: self.stores.new_url(f"overhead_processes_{side}") for side in (ADAPTER, RAW)}
            raw = self.raw_type(urls[RAW])
            self._opened.append(raw)
            self._opened.append(self.stores.connect(urls[ADAPTER]))
            writers = p.process_writers()
            args: list[tuple[Any, ...]] = [(WRITER, self.raw_type)] * writers
            if "live_delivery" in p.paths:
                try:
                    probe = raw.listen(p.live_poll_s)
                except NoLivePath as exc:
                    self._no_live = exc
                else:
                    self.live_describe = probe.describe
                    probe.close()
                    args.append((LISTENER, self.raw_type, urls[ADAPTER], urls[RAW], p.live_poll_s))
            self._targets = {side: [Target(side, url, f"Overhead-{uuid.uuid4()}") for _ in range(writers)] for side, url in urls.items()}
            self._group = Workers(job, args, processes=True, name="overhead worker")
        group, before = self._group, self._group.pids()
        group.start()  # a no-op while the workers run; a failed case may have left them broken
        if group.pids() != before:  # new processes: each writer's first appends before any round
            primes = {n: Prime((self._targets[ADAPTER][n], self._targets[RAW][n]), max(1, p.warmup_calls)) for n in range(len(self._targets[ADAPTER]))}
            group.call(primes, REPLY_SLACK_S)
        return group

    def append_concurrent(self) -> PairedRatio:
        """Adapter rate over raw rate (events/s, all writers together), per round pair."""
        p = self.params
        group = self._workers()
        targets = {side: found[:p.writers] for side, found in self._targets.items()}
        rule = WindowRule(p.round_s, 0, p.round_s)

        def round_(side: str) -> Callable[[], float]:
            def run() -> float:
                measured = group.measure({n: Appends(t) for n, t in enumerate(targets[side])}, WARMUP_S, rule, REPLY_SLACK_S)
                return float(sum(measured.replies)) / measured.window_s
            return run

        rates = abba({ADAPTER: round_(ADAPTER), RAW: round_(RAW)}, p.rounds)
        return paired_ratio(rates[ADAPTER], rates[RAW])

    def live_delivery(self) -> dict[str, list[LiveRound]]:
        """Each side's live rounds, in ABBA order (``NoLivePath`` when the raw path has none)."""
        p = self.params
        group = self._workers()
        if self._no_live is not None:
            raise self._no_live
        listener = len(group) - 1
        targets = {side: found[:p.live_writers] for side, found in self._targets.items()}
        rule = WindowRule(p.live_round_s, 0, p.live_round_s)
        drain = drain_timeout(p.live_poll_s)

        def round_(side: str) -> Callable[[], LiveRound]:
            def run() -> LiveRound:
                group.call({listener: Listen(side)}, REPLY_SLACK_S)
                requests = {n: LiveWrites(t, p.live_rate / p.live_writers, n / p.live_rate) for n, t in enumerate(targets[side])}
                measured = group.measure(requests, WARMUP_S, rule, REPLY_SLACK_S)
                committed: dict[str, float] = {key: at for reply in measured.replies for key, at in reply.items()}
                arrived, error = group.call({listener: Drain(tuple(committed), drain)}, drain + REPLY_SLACK_S)[listener]
                return live_round(committed, arrived, measured.window_s, error=error)
            return run

        return abba({ADAPTER: round_(ADAPTER), RAW: round_(RAW)}, p.rounds)
