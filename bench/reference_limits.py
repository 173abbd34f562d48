"""Every path of the reference stores against what the engine itself does, as ratios from one run.

One command, one run, every ratio the reference is held to (``ratios()`` returns them as data):

PostgreSQL (a durable throwaway server unless ``--dsn``/``EVENTSTORE_POSTGRES_DSN``):

- single-event append, 1 and 4 writer processes, against a raw single-row INSERT
  (``bench.reference_overhead``, which also shows the append statement alone);
- a 100-event append to a new stream against a COPY of the same 100 rows, one transaction each;
- catch-up: ``read_all`` over 100,000 events in pages of 1,000 against a keyset-paged SELECT of
  the same columns with psycopg's defaults (the bar), and against one decoded exactly as the store
  decodes (binary results, the store's jsonb loader: what is left is the API and the gap-safe filter);
- live delivery at about 1,000 events/s, open loop, latency from the writer's commit to the
  subscriber's handler, against a NOTIFY received on another connection (p50 and p99).

SQLite (files in a temp dir, WAL and ``synchronous=NORMAL`` for both sides, the same JSON encoding):
single-event append and 100-event append against raw ``sqlite3`` inserts, ``read_all`` in pages
of 1,000 against a raw keyset SELECT decoding the JSON with ``json.loads``.

Variants alternate in ABBA rounds, so drift on a shared machine hits both alike; each ratio is the
median over round pairs, with its min and max. Rates are events/s; a ratio above 1 is faster than
raw. For latencies the ratio is raw/reference (also: above 1 is better) and the bar is on the
reference's own p99.

    python -m bench.reference_limits [--dsn postgresql://...] [--seconds 1] [--repetitions 6]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.resources import files
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from eventstore import NewEvent, StreamState, open_store
from eventstore.postgres import PostgresStore, new_schema_name
from eventstore.postgres.schema import scalar
from eventstore.postgres.server import DSN_ENV, PostgresServer
from eventstore.postgres.store import use_fast_json
from eventstore.sqlite import SQLiteStore
from eventstore.sqlite import raw as sqlite_raw

from . import reference_overhead
from .harness.abba import abba, paired_ratio, timed

PAYLOAD = reference_overhead.PAYLOAD
BATCH = 100
READ_EVENTS = 100_000
PAGE = 1_000
LIVE_RATE = 1_000.0
LIVE_WRITERS = 2
_COLUMNS = "stream_id, version, event_id, event_type, data, metadata"


@dataclass(frozen=True)
class Ratio:
    """One path's reference-against-raw comparison: medians over the run's rounds.

    ``adapter`` and ``raw`` are in ``unit``; ``adapter_rate``/``raw_rate`` repeat them for rates
    (None for latencies). ``ratio`` is the median over round pairs of adapter/raw for rates and of
    raw/adapter for latencies, so above 1 is better for both; ``min``/``max`` are its extremes.
    ``bar`` says what the path is held to and ``met`` whether this run met it (None: no bar).
    """

    engine: str
    path: str
    unit: str
    adapter: float
    raw: float
    ratio: float
    min: float
    max: float
    adapter_rate: float | None
    raw_rate: float | None
    rounds: int
    bar: str
    met: bool | None


def _rate_ratio(engine: str, path: str, adapter: list[float], raw: list[float], floor: float | None) -> Ratio:
    p = paired_ratio(adapter, raw)
    bar = f"ratio >= {floor}" if floor is not None else ""
    return Ratio(engine, path, "events/s", p.a, p.b, p.ratio, p.min, p.max, p.a, p.b, p.pairs, bar,
                 None if floor is None else p.ratio >= floor)


def _latency_ratio(engine: str, path: str, adapter: list[float], raw: list[float], ceiling_ms: float | None) -> Ratio:
    p = paired_ratio(raw, adapter)
    bar = f"reference <= {ceiling_ms} ms" if ceiling_ms is not None else ""
    return Ratio(engine, path, "ms", p.b, p.a, p.ratio, p.min, p.max,
                 None, None, p.pairs, bar, None if ceiling_ms is None else p.b <= ceiling_ms)


def _url(dsn: str, schema: str, pool_size: int = 4) -> str:
    return f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}&pool_size={pool_size}"


# -- PostgreSQL: batch append -----------------------------------------------------------------------


def postgres_batch(dsn: str, seconds: float, repetitions: int) -> Ratio:
    """A 100-event append to a new stream against a COPY of the same rows into a table of the same
    shape (``LIKE events INCLUDING ALL``), one transaction each, serialising the payload per row."""
    schema = new_schema_name("limits")
    store = open_store(_url(dsn, schema))
    assert isinstance(store, PostgresStore)
    raw = psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}")
    try:
        raw.execute("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
        cursor = raw.cursor()
        copy = f"COPY raw_events ({_COLUMNS}) FROM STDIN"

        def raw_copy() -> None:
            stream_id = f"Raw-{uuid.uuid4()}"
            with cursor.copy(copy) as rows:
                for n in range(BATCH):
                    rows.write_row((stream_id, n, uuid.uuid4(), "ItemAdded", json.dumps(PAYLOAD), "{}"))

        def append() -> None:
            store.append(f"Order-{uuid.uuid4()}", [NewEvent("ItemAdded", PAYLOAD) for _ in range(BATCH)], StreamState.NO_STREAM)

        for op in (raw_copy, append):
            for _ in range(10):
                op()
        rates = abba({"raw": timed(raw_copy, seconds, BATCH), "append": timed(append, seconds, BATCH)}, repetitions)
    finally:
        raw.close()
        store.drop()
    return _rate_ratio("postgres", f"append {BATCH} events to a new stream vs COPY", rates["append"], rates["raw"], 0.8)


# -- PostgreSQL: catch-up -------------------------------------------------------------------------


def postgres_read(dsn: str, repetitions: int) -> list[Ratio]:
    """``read_all`` from the start over ``READ_EVENTS`` events in pages of ``PAGE``, against a
    keyset-paged SELECT of the same columns on ``global_position``: with psycopg's defaults (text
    results, ``json.loads``), and decoded as the store decodes (binary, ``JsonbLoader``)."""
    schema = new_schema_name("limits")
    store = open_store(_url(dsn, schema))
    assert isinstance(store, PostgresStore)
    plain = psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}")
    tuned = psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}")
    use_fast_json(tuned)
    try:
        for _ in range(READ_EVENTS // BATCH):
            store.append(f"Order-{uuid.uuid4()}", [NewEvent("ItemAdded", PAYLOAD) for _ in range(BATCH)], StreamState.NO_STREAM)
        plain.execute("VACUUM ANALYZE events")
        select = (
            "SELECT stream_id, version, transaction_id::text::bigint, global_position, event_id, event_type, data, metadata,"
            " recorded_at FROM events WHERE global_position > %s ORDER BY global_position LIMIT %s"
        )

        def raw(conn: psycopg.Connection[Any], binary: bool) -> Callable[[], float]:
            cursor = conn.cursor(binary=binary)

            def read() -> float:
                after, n, start = 0, 0, time.perf_counter()
                while rows := cursor.execute(select, (after, PAGE)).fetchall():
                    after, n = rows[-1][3], n + len(rows)
                return n / (time.perf_counter() - start)

            return read

        def read_all() -> float:
            after, n, start = None, 0, time.perf_counter()
            while page := store.read_all(after, PAGE):
                after, n = page[-1].position, n + len(page)
            return n / (time.perf_counter() - start)

        variants = {"raw": raw(plain, False), "tuned": raw(tuned, True), "read_all": read_all}
        for read in variants.values():
            read()
        rates = abba(variants, repetitions)
    finally:
        plain.close()
        tuned.close()
        store.drop()
    return [
        _rate_ratio("postgres", f"read_all catch-up, pages of {PAGE} vs keyset SELECT (psycopg defaults)", rates["read_all"], rates["raw"], 0.9),
        _rate_ratio("postgres", f"read_all catch-up, pages of {PAGE} vs keyset SELECT decoded as the store does", rates["read_all"], rates["tuned"], None),
    ]


# -- PostgreSQL: live delivery --------------------------------------------------------------------


def _live_writer(kind: str, url: str, dsn: str, start_at: float, rate: float, seconds: float, pipe: Connection) -> None:
    """Open loop from ``start_at``: an append (``kind="reference"``) or a NOTIFY (``"raw"``) at each
    intended time, whether or not the previous one was late. Sends ``{key: commit time}``."""
    commits: dict[str, float] = {}
    if kind == "reference":
        store = open_store(url)
        stream_id = f"Live-{uuid.uuid4()}"
        version = store.append(stream_id, [NewEvent("Warm", {})], StreamState.NO_STREAM).last_version
        close: Callable[[], None] = store.close
    else:
        conn = psycopg.connect(dsn, autocommit=True)
        conn.execute("SELECT pg_notify('live_bench', 'warm')")
        close = conn.close
    pipe.send("ready")
    try:
        for k in range(int(rate * seconds)):
            delay = start_at + k / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if kind == "reference":
                event = NewEvent("ItemAdded", PAYLOAD)
                version = store.append(stream_id, [event], version).last_version
                key = str(event.id)
            else:
                key = f"{os.getpid()}-{k}"
                conn.execute("SELECT pg_notify('live_bench', %s)", (key,))
            commits[key] = time.monotonic()
    finally:
        close()
    pipe.send(commits)


def _live_receiver(kind: str, url: str, dsn: str, name: str, pipe: Connection) -> None:
    """A subscriber (``"reference"``) or a LISTEN connection (``"raw"``) that records when each key
    arrives, until told to stop; then sends ``{key: arrival time}``."""
    arrived: dict[str, float] = {}
    if kind == "reference":
        store = open_store(url)
        sub = store.subscribe(name, lambda event: arrived.__setitem__(str(event.event_id), time.monotonic()))
        sub.catch_up()  # earlier rounds' events: before the measurement
        sub.start()
        pipe.send("ready")
        pipe.recv()
        sub.stop()
        store.close()
        if sub.error is not None:
            raise sub.error
    else:
        conn = psycopg.connect(dsn, autocommit=True)
        conn.execute("LISTEN live_bench")
        pipe.send("ready")
        while not pipe.poll():
            for note in conn.notifies(timeout=0.1):
                arrived[note.payload] = time.monotonic()
        pipe.recv()
        conn.close()
    pipe.send(arrived)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def live_round(kind: str, url: str, dsn: str, seconds: float, rate: float = LIVE_RATE, writers: int = LIVE_WRITERS) -> dict[str, float]:
    """One open-loop round at ``rate`` events/s: p50 and p99 of commit-to-delivery latency (ms),
    the rate reached and the share of events not delivered within a second of the end."""
    ctx = mp.get_context("spawn")
    receiver_pipe, child = ctx.Pipe()
    receiver = ctx.Process(target=_live_receiver, args=(kind, url, dsn, f"live-{uuid.uuid4().hex[:8]}", child), daemon=True)
    receiver.start()
    procs, pipes = [receiver], []
    try:
        _expect_ready(receiver_pipe)
        start_at = time.monotonic() + 3.0  # past every writer's start-up
        for _ in range(writers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_live_writer, args=(kind, url, dsn, start_at, rate / writers, seconds, child), daemon=True)
            proc.start()
            procs.append(proc)
            pipes.append(parent)
        for pipe in pipes:
            _expect_ready(pipe)
        commits: dict[str, float] = {}
        for pipe in pipes:
            commits.update(pipe.recv())
        ended = time.monotonic()
        time.sleep(1.0)
        receiver_pipe.send("stop")
        arrived = receiver_pipe.recv()
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
    latencies = [(arrived[k] - t) * 1e3 for k, t in commits.items() if k in arrived]
    if not latencies:
        raise RuntimeError(f"{kind}: nothing of {len(commits)} events arrived")
    return {
        "p50": _percentile(latencies, 0.5),
        "p99": _percentile(latencies, 0.99),
        "rate": len(commits) / max(ended - start_at, 1e-9),
        "lost": 1 - len(latencies) / len(commits),
    }


def _expect_ready(pipe: Connection) -> None:
    try:
        if pipe.recv() != "ready":
            raise RuntimeError("unexpected message from a benchmark process")
    except EOFError:
        raise RuntimeError("a benchmark process failed to start (its traceback is above)") from None


def postgres_live(dsn: str, seconds: float, repetitions: int, writers: int = LIVE_WRITERS) -> list[Ratio]:
    """Live delivery at ``LIVE_RATE`` from ``writers`` processes: the subscriber of the reference
    (``store.subscribe`` with its defaults) against a LISTEN connection receiving NOTIFYs."""
    schema = new_schema_name("limits")
    url = _url(dsn, schema)
    store = open_store(url)
    try:
        stats = abba({
            "raw": lambda: live_round("raw", url, dsn, seconds, writers=writers),
            "reference": lambda: live_round("reference", url, dsn, seconds, writers=writers),
        }, repetitions)
    finally:
        store.drop()
    lost = max(s["lost"] for s in stats["reference"])
    if lost > 0:
        raise RuntimeError(f"the reference subscriber missed {lost:.1%} of a round's events")
    rate = statistics.median(s["rate"] for s in stats["reference"])
    label = f"live delivery at {LIVE_RATE:.0f} events/s from {writers} writers ({rate:.0f} reached), commit to handler vs NOTIFY"
    return [
        _latency_ratio("postgres", f"{label}: p50", [s["p50"] for s in stats["reference"]], [s["p50"] for s in stats["raw"]], None),
        _latency_ratio("postgres", f"{label}: p99", [s["p99"] for s in stats["reference"]], [s["p99"] for s in stats["raw"]], 5.0),
    ]


def postgres_single(dsn: str, seconds: float, repetitions: int, progress: bool) -> list[Ratio]:
    summary = reference_overhead.measure(dsn, seconds, repetitions, progress=progress)
    rows = []
    for writers, by_variant in summary.items():
        s, raw = by_variant["append"], by_variant["raw"]
        rows.append(Ratio(
            "postgres", f"append 1 event, {writers} writer(s) vs INSERT", "events/s", s["events_per_s"], raw["events_per_s"],
            s["ratio"], s["ratio_min"], s["ratio_max"], s["events_per_s"], raw["events_per_s"], repetitions, "ratio >= 0.9",
            s["ratio"] >= 0.9,
        ))
    return rows


# -- SQLite -------------------------------------------------------------------------------------------


@contextmanager
def _sqlite_pair(directory: Path) -> Iterator[tuple[SQLiteStore, sqlite3.Connection]]:
    """The store and a raw connection to a database of the same schema, both WAL, synchronous=NORMAL."""
    store = SQLiteStore(str(directory / "store.db"))
    raw = sqlite3.connect(directory / "raw.db", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.executescript(files("eventstore.sqlite").joinpath("schema.sql").read_text())
    try:
        yield store, raw
    finally:
        raw.close()
        store.drop()


_SQLITE_INSERT = sqlite_raw.INSERT


def sqlite_paths(seconds: float, repetitions: int, directory: Path | None = None) -> list[Ratio]:
    """Single-event append, 100-event append and ``read_all`` in pages of 1,000, each against raw
    ``sqlite3`` in the same process."""
    with tempfile.TemporaryDirectory(prefix="limits-sqlite-", dir=directory) as tmp, _sqlite_pair(Path(tmp)) as (store, raw):
        counters = {"raw": -1, "append": -1}
        raw_stream, stream = f"Raw-{uuid.uuid4()}", f"Order-{uuid.uuid4()}"

        def raw_single() -> None:
            counters["raw"] += 1
            now = datetime.now(UTC).isoformat()
            raw.execute(_SQLITE_INSERT, (raw_stream, counters["raw"], str(uuid.uuid4()), "ItemAdded", "Raw", json.dumps(PAYLOAD), "{}", now))

        def append_single() -> None:
            v = counters["append"]
            expected = StreamState.NO_STREAM if v < 0 else v
            counters["append"] = store.append(stream, [NewEvent("ItemAdded", PAYLOAD)], expected).last_version

        def raw_batch() -> None:
            stream_id, now = f"Raw-{uuid.uuid4()}", datetime.now(UTC).isoformat()
            raw.execute("BEGIN")
            raw.executemany(_SQLITE_INSERT, [
                (stream_id, n, str(uuid.uuid4()), "ItemAdded", "Raw", json.dumps(PAYLOAD), "{}", now) for n in range(BATCH)
            ])
            raw.execute("COMMIT")

        def append_batch() -> None:
            store.append(f"Order-{uuid.uuid4()}", [NewEvent("ItemAdded", PAYLOAD) for _ in range(BATCH)], StreamState.NO_STREAM)

        rows = []
        for path, raw_op, op, per_op in (
            ("append 1 event vs INSERT", raw_single, append_single, 1),
            (f"append {BATCH} events to a new stream vs executemany", raw_batch, append_batch, BATCH),
        ):
            for _ in range(50):
                raw_op()
                op()
            rates = abba({"raw": timed(raw_op, seconds, per_op), "append": timed(op, seconds, per_op)}, repetitions)
            rows.append(_rate_ratio("sqlite", path, rates["append"], rates["raw"], 0.8))

        for table in range(2):  # both databases up to READ_EVENTS events
            count = raw.execute("SELECT count(*) FROM events").fetchone()[0] if table == 0 else len(store.read_all())
            for _ in range(max(0, READ_EVENTS - count) // BATCH):
                raw_batch() if table == 0 else append_batch()
        select = (
            "SELECT stream_id, version, position, event_id, event_type, data, metadata, recorded_at FROM events"
            " WHERE position > ? ORDER BY position LIMIT ?"
        )
        loads = json.loads

        def raw_read() -> float:
            after, n, start = 0, 0, time.perf_counter()
            while page := [(s, v, p, i, t, loads(d), loads(m), r) for s, v, p, i, t, d, m, r in raw.execute(select, (after, PAGE))]:
                after, n = page[-1][2], n + len(page)
            return n / (time.perf_counter() - start)

        def read_all() -> float:
            after, n, start = None, 0, time.perf_counter()
            while page := store.read_all(after, PAGE):
                after, n = page[-1].position, n + len(page)
            return n / (time.perf_counter() - start)

        raw_read()
        read_all()
        rates = abba({"raw": raw_read, "read_all": read_all}, repetitions)
        rows.append(_rate_ratio("sqlite", f"read_all, pages of {PAGE} vs keyset SELECT + json.loads", rates["read_all"], rates["raw"], 0.8))
    return rows


# -- everything -----------------------------------------------------------------------------------


def ratios(
    dsn: str | None = None,
    *,
    seconds: float = 1.0,
    repetitions: int = 6,
    live_seconds: float = 3.0,
    live_repetitions: int = 4,
    live_writers: int = LIVE_WRITERS,
    postgres: bool = True,
    sqlite: bool = True,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Every ratio of this module's docstring as a list of dicts (the fields of ``Ratio``:
    engine, path, unit, adapter, raw, ratio, min, max, adapter_rate, raw_rate, rounds, bar, met).

    Parameters:
        dsn: a PostgreSQL server (libpq URL); None starts a durable throwaway server for the run.
        seconds: length of one round of a throughput comparison.
        repetitions: rounds per variant of each throughput comparison (ABBA order).
        live_seconds: length of one live-delivery round.
        live_repetitions: rounds per variant of the live-delivery comparison.
        live_writers: writer processes sharing the live rate (concurrent writers are where the
            gap-safe read waits for an older transaction's commit).
        postgres / sqlite: which engines to measure.
        progress: show tqdm progress for the single-event rounds.
    """
    rows: list[Ratio] = []
    if postgres:
        server = None
        if dsn is None:
            server = PostgresServer(durable=True).start()
            dsn = server.dsn
        try:
            rows += postgres_single(dsn, seconds, repetitions, progress)
            rows.append(postgres_batch(dsn, seconds, repetitions))
            rows += postgres_read(dsn, repetitions)
            rows += postgres_live(dsn, live_seconds, live_repetitions, live_writers)
        finally:
            if server is not None:
                server.stop()
    if sqlite:
        rows += sqlite_paths(seconds, repetitions)
    return [asdict(r) for r in rows]


def format_rows(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        unit = "ev/s" if r["unit"] == "events/s" else "ms"
        verdict = "" if r["met"] is None else ("  met" if r["met"] else "  NOT MET")
        lines.append(
            f"{r['engine']:8} {r['path']}\n"
            f"         reference {r['adapter']:10.2f} {unit}   raw {r['raw']:10.2f} {unit}   ratio {r['ratio']:.3f}"
            f" (min {r['min']:.3f}, max {r['max']:.3f}, {r['rounds']} round pairs)   {r['bar']}{verdict}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default=os.environ.get(DSN_ENV))
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one throughput round")
    parser.add_argument("--repetitions", type=int, default=6, help="rounds per variant of each throughput comparison")
    parser.add_argument("--live-seconds", type=float, default=3.0, help="length of one live-delivery round")
    parser.add_argument("--live-repetitions", type=int, default=4, help="rounds per variant of the live comparison")
    parser.add_argument("--live-writers", type=int, default=LIVE_WRITERS, help="writer processes sharing the live rate")
    parser.add_argument("--only", choices=("postgres", "sqlite"), help="measure one engine")
    args = parser.parse_args(argv)
    server = None
    dsn = args.dsn
    if args.only != "sqlite" and dsn is None:
        server = PostgresServer(durable=True).start()
        dsn = server.dsn
    try:
        if dsn is not None:
            with psycopg.connect(dsn) as conn:
                settings = {n: scalar(conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(n)))) for n in ("server_version", "fsync", "synchronous_commit")}
            print(f"PostgreSQL {settings['server_version']}, fsync={settings['fsync']}, synchronous_commit={settings['synchronous_commit']}")
        print(f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL); {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f};"
              f" {args.repetitions} rounds x {args.seconds}s per variant, live {args.live_repetitions} x {args.live_seconds}s")
        rows = ratios(
            dsn, seconds=args.seconds, repetitions=args.repetitions, live_seconds=args.live_seconds,
            live_repetitions=args.live_repetitions, live_writers=args.live_writers, postgres=args.only != "sqlite", sqlite=args.only != "postgres", progress=False,
        )
        print(format_rows(rows))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
