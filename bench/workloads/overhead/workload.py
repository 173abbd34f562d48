"""The price of the API: each adapter against its engine's raw path, as ratios from one run.

Every engine may declare a raw path (``Engine.raw_path``, a ``RawPath`` in its package): the same
work as its store written directly against the engine's client, without the API's guarantees (no
optimistic-concurrency check, no idempotency lookup, no gap-safe filter), with the same durability
settings and payload encoding. For each path this workload runs the store and the raw path in
alternating rounds of ``round_s`` seconds, in ABBA order (``bench.abba``), and records the store's
rate, the raw path's rate and their ratio, the median over round pairs with its min and max:

- ``append_single``: one event per call, to one stream at the next version (the store checks it);
- ``append_batch``: ``batch_size`` events to a new stream per call;
- ``read_all``: a catch-up from the start of a store the adapter wrote beforehand (``read_events``,
  or what ``fill_s`` allows), one page of ``read_page`` events per call, starting over after the
  last page, against the raw path's keyset pages over the same store; before the rounds, each side
  reads everything once and both must return the same events.

A ratio is adapter rate over raw rate: 1 means the API costs nothing on that path, 0.5 that it
halves the raw path's speed, above 1 that the adapter does better than the naive raw code (it
batches, prepares or decodes more cleverly). A ratio whose round pairs spread more than ±5 % from
the median is marked unstable in its note. One writer in this process: the price of the API per
call, not under contention (the contention and calls workloads measure that).

An engine that declares no raw path is recorded as not measured, with that reason.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.harness.abba import STABLE_SPREAD, abba, paired_ratio, timed
from bench.harness.engines import NotMeasured, reason
from bench.harness.metrics import Dimension, Metric
from bench.harness.params import ParameterError, Params, param
from bench.harness.workload import Measurement, StoreFactory, Workload
from eventstore import EventStore, NewEvent, StreamState
from eventstore.plugins import RawPath

PATHS = ("append_single", "append_batch", "read_all")

#: The payload of every event both sides write (the same as ``bench.reference_overhead``'s).
PAYLOAD = {"sku": "ABC-123", "quantity": 2, "price": 19.99, "note": "x" * 64}
EVENT_TYPE = "ItemAdded"


@dataclass(frozen=True)
class OverheadParams(Params):
    repetitions: int = param(1, "repetitions of every path; each is a full set of ABBA rounds with its own ratio")
    budget_s: float | None = param(60.0, "seconds one engine may spend on this workload (its server's start-up included); later cases are recorded as skipped")
    paths: tuple[str, ...] = param(PATHS, "paths to compare: append_single, append_batch, read_all")
    rounds: int = param(6, "rounds of each side per path, in ABBA order (adapter, raw, raw, adapter, ...); a ratio per round pair")
    round_s: float = param(0.4, "seconds of one round (a slow call may run past it: a round is at least one call)")
    batch_size: int = param(100, "events per append_batch call, to a new stream (capped by the engine's batch limit)")
    read_events: int = param(5000, "events the adapter writes before the read_all rounds, for both sides to read")
    read_page: int = param(1000, "events per read_all call: a page of a catch-up from the start, which starts over after its last page")
    fill_s: float = param(4.0, "at most this many seconds writing the read_all store (a slow engine reads fewer events; the records say how many)")
    warmup_calls: int = param(10, "calls of each side before a path's rounds, or as many as fit in round_s (connections, caches, prepared statements)")

    def check(self) -> None:
        super().check()
        unknown = set(self.paths) - set(PATHS)
        if unknown or not self.paths:
            raise ParameterError(f"paths must be among {PATHS}, not {sorted(unknown)}")
        if self.rounds < 1 or self.round_s <= 0:
            raise ParameterError("rounds must be >= 1 and round_s > 0")
        if self.batch_size < 1 or self.read_events < 1 or self.read_page < 1 or self.warmup_calls < 0 or self.fill_s <= 0:
            raise ParameterError("batch_size, read_events and read_page must be >= 1; warmup_calls >= 0; fill_s > 0")


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


class Overhead(Workload[OverheadParams]):
    name = "overhead"
    title = "The price of the API: each adapter against its engine's raw path"
    rank = 60
    params_type = OverheadParams
    dimensions = (
        Dimension("path", "the path compared (append_single, append_batch, read_all)"),
        Dimension("events_per_call", "events one call handles", "events"),
        Dimension("events_in_store", "events in the store the read_all rounds read", "events"),
    )
    metrics = (
        Metric("adapter_rate", "events/s", "the store's rate on the path, median over its rounds", "higher"),
        Metric("raw_rate", "events/s", "the engine's raw path's rate on the same path, median over its rounds; its note says what the raw path is", "higher"),
        Metric("ratio", "adapter/raw", "adapter rate over raw rate, median over ABBA round pairs (1: the API costs nothing, 0.5: half the raw speed); its note flags an unstable one", "higher"),
        Metric("ratio_min", "adapter/raw", "the lowest ratio of a round pair"),
        Metric("ratio_max", "adapter/raw", "the highest ratio of a round pair"),
    )

    def cases(self) -> list[dict[str, Any]]:
        return [{"path": path, "repetition": r} for r in range(self.params.repetitions) for path in self.params.paths]

    def open(self, stores: StoreFactory) -> None:
        self._raw_type = raw_path_of(stores)
        super().open(stores)
        self._opened: list[EventStore | RawPath] = []
        self._writers: tuple[EventStore, RawPath] | None = None
        self._readers: tuple[EventStore, RawPath, int] | None = None

    def close(self) -> None:
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
        p = self.params
        path, rep = case["path"], case["repetition"]
        adapter_call, raw_call, per_call = self._sides(path)
        self._warm_up(adapter_call, raw_call)
        rates = abba({"adapter": timed(adapter_call, p.round_s, per_call), "raw": timed(raw_call, p.round_s, per_call)}, p.rounds)
        found = paired_ratio(rates["adapter"], rates["raw"])
        point = {"path": path, "events_per_call": per_call or p.read_page}
        if path == "read_all":
            point["events_in_store"] = self._read_pair()[2]
        spread = f"min {found.min:.3f}, max {found.max:.3f} over {found.pairs} round pair(s) of {p.round_s:g} s"
        note = spread if found.stable else f"unstable: round pairs reach ±{found.spread * 100:.1f} % of the median (more than ±{STABLE_SPREAD * 100:.0f} %); {spread}"
        yield Measurement("adapter_rate", found.a, point, rep)
        yield Measurement("raw_rate", found.b, point, rep, note=f"raw path: {self._raw_type.describe}")
        yield Measurement("ratio", found.ratio, point, rep, note=note)
        yield Measurement("ratio_min", found.min, point, rep)
        yield Measurement("ratio_max", found.max, point, rep)
