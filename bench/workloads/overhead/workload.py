"""The price of the API: each adapter against its engine's raw path, as ratios from one run.

Every engine may declare a raw path (``Engine.raw_path``, a ``RawPath`` in its package): the same
work as its store written directly against the engine's client, without the API's guarantees (no
optimistic-concurrency check, no idempotency lookup, no gap-safe filter), with the same durability
settings and payload encoding. For each path this workload runs the store and the raw path in
alternating rounds, in ABBA order (``bench.harness.abba``), and takes the ratio per round pair: the
median over round pairs is the figure, with its min and max beside it.

In this process, one writer, rounds of ``round_s`` seconds (the price of the API per call):

- ``append_single``: one event per call, to one stream at the next version (the store checks it);
- ``append_batch``: ``batch_size`` events to a new stream per call;
- ``read_all``: a catch-up from the start of a store the adapter wrote beforehand (``read_events``,
  or what ``fill_s`` allows), one page of ``read_page`` events per call, starting over after the
  last page, against the raw path's keyset pages over the same store; before the rounds, each side
  reads everything once and both must return the same events.

In worker processes (``processes.py``; an engine whose stores cannot be opened from another
process is not measured on them, and its records say so):

- ``append_concurrent``: ``writers`` processes append one event per call at once, each through its
  own store or raw path on a stream of its own, for ``round_s`` per round: all writers' rate;
- ``live_delivery``: ``live_writers`` processes append open loop at ``live_rate`` events/s together
  for ``live_round_s`` per round; a listener process learns of each event through the store's
  subscription (``store.subscribe``, ``poll_interval=live_poll_s``) or the raw path's cheapest way
  (``RawPath.listen``: LISTEN/NOTIFY, a consumer's poll, the client's subscription, polling). The
  latency of each event runs from its append returning to its arrival; each side's latencies go
  into one HDR histogram per repetition, and the p50 and p99 ratios are raw over adapter per
  round pair. A raw path without a live path is recorded as not measured on it, with the reason.

A rate ratio is adapter over raw: 1 means the API costs nothing on that path, 0.5 that it halves
the raw path's speed, above 1 that the adapter does better than the naive raw code (it batches,
prepares or decodes more cleverly). A latency ratio is raw over adapter, so above 1 is better for
the adapter there too. A ratio whose round pairs spread more than ±5 % from the median is marked
unstable in its note. An engine that declares no raw path is recorded as not measured, with that reason.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from bench.harness import stats
from bench.harness.abba import STABLE_SPREAD, PairedRatio, abba, paired_ratio, timed
from bench.harness.engines import NotMeasured, reason
from bench.harness.metrics import Dimension, Metric
from bench.harness.workload import Measurement, StoreFactory, Workload, latency_measurements
from eventstore import EventStore, NewEvent, StreamState
from eventstore.plugins import NoLivePath, RawPath

from .jobs import ADAPTER, EVENT_TYPE, PAYLOAD, RAW
from .params import PATHS, PROCESS_PATHS, OverheadParams
from .processes import LiveRound, Processes, latency_ratios

__all__ = ["PATHS", "Overhead", "OverheadParams", "raw_path_of", "read_through"]


def raw_path_of(stores: StoreFactory) -> type[RawPath]:
    """The raw path class the deployment's engine declares; ``NotMeasured`` with the reason when it
    declares none or its raw path cannot be imported."""
    engine = getattr(stores, "engine", None)
    if engine is None:
        raise NotMeasured("the deployment names no engine, so no raw path to compare with")
    try:
        found = engine.raw_path_class()
    except Exception as exc:  # ImportError (a client not installed), a wrong declaration: reported
        raise NotMeasured(f"{engine.name}'s raw path {engine.raw_path}: {reason(exc)}") from exc
    if found is None:
        raise NotMeasured(f"{engine.name} declares no raw path")
    return found


def read_through(read: Callable[[Any, int], list[Any]], position: Callable[[Any], Any], page: int) -> list[Any]:
    """Every item of a paged read from the start: ``read(after, page)`` until an empty page."""
    out: list[Any] = []
    after = None
    while batch := read(after, page):
        out.extend(batch)
        after = position(batch[-1])
    return out


def spread_note(found: PairedRatio, round_s: float) -> str:
    """The note of a ratio: its round pairs' range, and whether it is unstable."""
    spread = f"min {found.min:.3f}, max {found.max:.3f} over {found.pairs} round pair(s) of {round_s:g} s"
    if found.stable:
        return spread
    return f"unstable: round pairs reach ±{found.spread * 100:.1f} % of the median (more than ±{STABLE_SPREAD * 100:.0f} %); {spread}"


class Overhead(Workload[OverheadParams]):
    name = "overhead"
    title = "The price of the API: each adapter against its engine's raw path"
    rank = 60
    params_type = OverheadParams
    dimensions = (
        Dimension("path", "the path compared (append_single, append_batch, read_all, append_concurrent, live_delivery)"),
        Dimension("events_per_call", "events one call handles", "events"),
        Dimension("events_in_store", "events in the store the read_all rounds read", "events"),
        Dimension("writers", "writer processes appending at once (append_concurrent, live_delivery)", "writers"),
        Dimension("rate", "events/s the live_delivery writers aim at together, open loop", "events/s"),
        Dimension("percentile", "the latency percentile a latency ratio compares (p50, p99)"),
    )
    metrics = (
        Metric("adapter_rate", "events/s", "the store's rate on the path, median over its rounds", "higher"),
        Metric("raw_rate", "events/s", "the engine's raw path's rate on the same path, median over its rounds; its note says what the raw path is", "higher"),
        Metric("ratio", "adapter/raw", "adapter rate over raw rate, median over ABBA round pairs (1: the API costs nothing, 0.5: half the raw speed); its note flags an unstable one", "higher"),
        Metric("ratio_min", "adapter/raw", "the lowest ratio of a round pair"),
        Metric("ratio_max", "adapter/raw", "the highest ratio of a round pair"),
        Metric("adapter_latency", "us", "live delivery through the store: from an append returning to the subscriber's handler, every round of the repetition", "lower", family=True),
        Metric("raw_latency", "us", "live delivery on the raw path: from an append returning to its listener learning of the event, every round of the repetition", "lower", family=True),
        Metric("latency_ratio", "raw/adapter", "the raw path's latency percentile over the adapter's, median over ABBA round pairs (above 1: the adapter delivers sooner)", "higher"),
        Metric("latency_ratio_min", "raw/adapter", "the lowest latency ratio of a round pair"),
        Metric("latency_ratio_max", "raw/adapter", "the highest latency ratio of a round pair"),
        Metric("adapter_live_rate", "events/s", "events the live writers appended through the store inside the rounds' windows, per second (below rate: they fell behind)"),
        Metric("raw_live_rate", "events/s", "events the live writers appended on the raw path inside the rounds' windows, per second; its note says what the raw live path is"),
        Metric("adapter_undelivered", "events", "live events the store's subscriber had not handled when its drain timed out", "lower"),
        Metric("raw_undelivered", "events", "live events the raw path's listener had not learnt of when its drain timed out", "lower"),
        Metric("adapter_before_ack", "events", "live events the store's subscriber handled before their append returned to the writer (latency 0)"),
        Metric("raw_before_ack", "events", "live events the raw path's listener learnt of before their append returned to the writer (latency 0)"),
    )

    def cases(self) -> list[dict[str, Any]]:
        return [{"path": path, "repetition": r} for r in range(self.params.repetitions) for path in self.params.paths]

    def open(self, stores: StoreFactory) -> None:
        self._raw_type = raw_path_of(stores)
        super().open(stores)
        self._opened: list[EventStore | RawPath] = []
        self._writers: tuple[EventStore, RawPath] | None = None
        self._readers: tuple[EventStore, RawPath, int] | None = None
        self._processes: Processes | None = None

    def close(self) -> None:
        processes: Processes | None = getattr(self, "_processes", None)
        if processes is not None:
            processes.close()
        for thing in reversed(getattr(self, "_opened", [])):
            thing.close()

    def _store(self, url: str) -> EventStore:
        store = self.stores.connect(url)
        if self.stores.cross_process:  # an in-process engine's deployment shares its stores and closes them itself
            self._opened.append(store)
        return store

    def _raw(self, url: str) -> RawPath:
        raw = self._raw_type(url)
        self._opened.append(raw)
        return raw

    def _write_pair(self) -> tuple[EventStore, RawPath]:
        """The store and the raw path that write, each into a fresh store of its own."""
        if self._writers is None:
            store = self._store(self.stores.new_url("overhead_adapter"))
            self._writers = (store, self._raw(self.stores.new_url("overhead_raw")))
        return self._writers

    def _batch(self, store: EventStore) -> int:
        limit = store.capabilities.max_batch_events
        return min(self.params.batch_size, limit) if limit else self.params.batch_size

    def _read_pair(self) -> tuple[EventStore, RawPath, int]:
        """The store and the raw path on one store the adapter filled with ``read_events`` events (fewer
        if ``fill_s`` ran out first), and how many it holds."""
        if self._readers is None:
            p = self.params
            url = self.stores.new_url("overhead_read")
            store = self._store(url)
            batch, written = self._batch(store), 0
            stop_at = time.monotonic() + p.fill_s
            while written < p.read_events and (written == 0 or time.monotonic() < stop_at):
                events = [NewEvent(EVENT_TYPE, {**PAYLOAD, "n": n}) for n in range(written, min(p.read_events, written + batch))]
                store.append(f"Overhead-{uuid.uuid4()}", events, StreamState.NO_STREAM)
                written += len(events)
            self._readers = (store, self._raw(url), written)
        return self._readers

    def _sides(self, path: str) -> tuple[Callable[[], object], Callable[[], object], int | None]:
        """(adapter call, raw call, events per call; None: each call returns its count) of ``path``."""
        if path == "read_all":
            return self._read_sides()
        store, raw = self._write_pair()
        if path == "append_batch":
            size = self._batch(store)

            def adapter_batch() -> None:
                store.append(f"Overhead-{uuid.uuid4()}", [NewEvent(EVENT_TYPE, PAYLOAD) for _ in range(size)], StreamState.NO_STREAM)

            def raw_batch() -> None:
                raw.append_batch(f"Overhead-{uuid.uuid4()}", [NewEvent(EVENT_TYPE, PAYLOAD) for _ in range(size)])

            return adapter_batch, raw_batch, size
        stream_id, raw_stream_id = f"Overhead-{uuid.uuid4()}", f"Overhead-{uuid.uuid4()}"
        version: list[Any] = [StreamState.NO_STREAM]

        def adapter_single() -> None:
            version[0] = store.append(stream_id, [NewEvent(EVENT_TYPE, PAYLOAD)], version[0]).last_version

        def raw_single() -> None:
            raw.append_one(raw_stream_id, NewEvent(EVENT_TYPE, PAYLOAD))

        return adapter_single, raw_single, 1

    def _read_sides(self) -> tuple[Callable[[], int], Callable[[], int], None]:
        """One call is one page of a catch-up from the start of the read store; a short page ends
        the catch-up and the next call starts over. Both sides first read everything once, which
        must give the same events."""
        store, raw, events = self._read_pair()
        page = self.params.read_page
        mine = sorted((e.stream_id, e.version, e.type, e.event_id, e.data, e.metadata) for e in read_through(store.read_all, lambda e: e.position, page))
        theirs = sorted((s, v, t, i, d, m) for _, s, v, t, d, i, m, _ in read_through(raw.read_page, lambda row: row[0], page))
        if len(mine) != events or mine != theirs:
            different = sum(a != b for a, b in zip(mine, theirs, strict=False))
            raise RuntimeError(f"of the {events} events written the store read {len(mine)} and the raw path {len(theirs)}, {different} of them "
                               "different: the two sides would not do the same work")
        cursors: dict[str, Any] = {"adapter": None, "raw": None}

        def adapter_page() -> int:
            got = store.read_all(cursors["adapter"], page)
            cursors["adapter"] = got[-1].position if len(got) == page else None
            return len(got)

        def raw_page() -> int:
            got = raw.read_page(cursors["raw"], page)
            cursors["raw"] = got[-1][0] if len(got) == page else None
            return len(got)

        return adapter_page, raw_page, None

    def _warm_up(self, *calls: Callable[[], object]) -> None:
        """``warmup_calls`` calls of each side, or as many as fit in one round's time (at least one)."""
        for call in calls:
            stop_at = time.monotonic() + self.params.round_s
            for n in range(max(1, self.params.warmup_calls)):
                if n and time.monotonic() > stop_at:
                    break
                call()

    def run_case(self, case: dict[str, Any]) -> Iterator[Measurement]:
        path, rep = case["path"], case["repetition"]
        if path in PROCESS_PATHS:
            yield from self._in_processes(path, rep)
            return
        p = self.params
        adapter_call, raw_call, per_call = self._sides(path)
        self._warm_up(adapter_call, raw_call)
        rates = abba({ADAPTER: timed(adapter_call, p.round_s, per_call), RAW: timed(raw_call, p.round_s, per_call)}, p.rounds)
        point = {"path": path, "events_per_call": per_call or p.read_page}
        if path == "read_all":
            point["events_in_store"] = self._read_pair()[2]
        yield from self._rate_rows(paired_ratio(rates[ADAPTER], rates[RAW]), point, rep, self._raw_type.describe)

    def _rate_rows(self, found: PairedRatio, point: dict[str, Any], rep: int, raw_path: str) -> Iterator[Measurement]:
        yield Measurement("adapter_rate", found.a, point, rep)
        yield Measurement("raw_rate", found.b, point, rep, note=f"raw path: {raw_path}")
        yield Measurement("ratio", found.ratio, point, rep, note=spread_note(found, self.params.round_s))
        yield Measurement("ratio_min", found.min, point, rep)
        yield Measurement("ratio_max", found.max, point, rep)

    def _in_processes(self, path: str, rep: int) -> Iterator[Measurement]:
        """``append_concurrent`` or ``live_delivery``, or ``skipped`` with the reason it cannot be measured here."""
        p = self.params
        if path == "append_concurrent":
            point: dict[str, Any] = {"path": path, "events_per_call": 1, "writers": p.writers}
        else:
            point = {"path": path, "events_per_call": 1, "writers": p.live_writers, "rate": p.live_rate}
        if not self.stores.cross_process:
            why = "not measured: this engine's stores cannot be opened from another process, and this path's writers are processes"
            yield Measurement("skipped", 1.0, point, rep, note=why)
            return
        if self._processes is None:
            self._processes = Processes(p, self.stores, self._raw_type)
        if path == "append_concurrent":
            found = self._processes.append_concurrent()
            yield from self._rate_rows(found, point, rep, self._raw_type.describe)
            return
        try:
            rounds = self._processes.live_delivery()
        except NoLivePath as exc:
            yield Measurement("skipped", 1.0, point, rep, note=f"not measured: {exc}")
            return
        yield from self._live_rows(rounds[ADAPTER], rounds[RAW], point, rep, self._processes.live_describe)

    def _live_rows(self, adapter: list[LiveRound], raw: list[LiveRound], point: dict[str, Any], rep: int, describe: str) -> Iterator[Measurement]:
        """Each side's merged latencies, rate reached and undelivered events, and the latency ratios."""
        p = self.params
        for side, rounds in ((ADAPTER, adapter), (RAW, raw)):
            errors = [r.error for r in rounds if r.error]
            histogram = stats.merge(r.histogram for r in rounds)
            empty = None if histogram.get_total_count() else (f"nothing delivered: {errors[0]}" if errors else "no event was delivered in any round")
            for row in latency_measurements(f"{side}_latency", histogram, point, rep):
                yield Measurement(row.metric, row.value, row.params, row.repetition, row.hdr, note=empty)
            rate_note = f"raw live path: {describe}" if side == RAW else f"the store's subscription, poll_interval {p.live_poll_s:g} s"
            yield Measurement(f"{side}_live_rate", sum(r.committed for r in rounds) / sum(r.window_s for r in rounds), point, rep, note=rate_note)
            undelivered = sum(r.undelivered for r in rounds)
            yield Measurement(f"{side}_undelivered", float(undelivered), point, rep, note=f"the listener failed: {errors[0]}" if errors else None)
            yield Measurement(f"{side}_before_ack", float(sum(r.before_ack for r in rounds)), point, rep)
        for name, found in latency_ratios(adapter, raw).items():
            at = {**point, "percentile": name}
            if found is None:
                yield Measurement("latency_ratio", None, at, rep, note=f"a round of either side delivered no event, so no {name} to compare")
                continue
            yield Measurement("latency_ratio", found.ratio, at, rep, note=spread_note(found, p.live_round_s))
            yield Measurement("latency_ratio_min", found.min, at, rep)
            yield Measurement("latency_ratio_max", found.max, at, rep)
