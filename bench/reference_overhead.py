"""What the reference store's guarantees cost on PostgreSQL, as a ratio measured in one run.

Compares ``store.append`` of one event (expected-version check, idempotency lookup, gap-safe
transaction id, NOTIFY) against a raw single-row INSERT of the same row into a table of the same
shape (``LIKE events INCLUDING ALL``) on the same server, for 1 writer and for 4 writers on
distinct streams. Each writer is its own process, so the Python client's GIL is not what is
measured. Variants alternate within each repetition so drift on a shared machine hits both alike.

    python -m bench.reference_overhead [--dsn postgresql://...] [--seconds 3] [--repetitions 3]

Without ``--dsn`` (or ``EVENTSTORE_POSTGRES_DSN``) it starts a durable throwaway server.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
import uuid

import psycopg

from eventstore import NewEvent, StreamState, open_store
from eventstore.postgres import new_schema_name

PAYLOAD = {"sku": "ABC-123", "quantity": 2, "price": 19.99, "note": "x" * 64}


def _raw_writer(dsn: str, schema: str, writer: int, seconds: float, out: mp.Queue) -> None:
    """The same row from the same dict, serialised per insert as any application would."""
    stream_id = f"Raw-{writer}-{uuid.uuid4()}"
    with psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}") as conn:
        n, deadline = 0, time.perf_counter() + seconds
        start = time.perf_counter()
        while time.perf_counter() < deadline:
            conn.execute(
                "INSERT INTO raw_events (stream_id, version, event_id, event_type, data, metadata)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (stream_id, n, uuid.uuid4(), "ItemAdded", json.dumps(PAYLOAD), "{}"),
            )
            n += 1
        out.put(n / (time.perf_counter() - start))


def _store_writer(url: str, writer: int, seconds: float, out: mp.Queue) -> None:
    store = open_store(url)
    stream_id = f"Cart-{writer}-{uuid.uuid4()}"
    version = None
    n, deadline = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        expected = StreamState.NO_STREAM if version is None else version
        version = store.append(stream_id, [NewEvent("ItemAdded", PAYLOAD)], expected).last_version
        n += 1
    out.put(n / (time.perf_counter() - start))
    store.close()


def _run(target, args_for_writer, writers: int) -> float:
    """Total events/s of ``writers`` processes started together."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for_writer(w), out)) for w in range(writers)]
    for p in procs:
        p.start()
    rates = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def measure(dsn: str, seconds: float = 3.0, repetitions: int = 3) -> dict[str, dict[str, float]]:
    schema = new_schema_name("overhead")
    url = f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}&pool_size=2"
    store = open_store(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{schema}".raw_events (LIKE "{schema}".events INCLUDING ALL)')
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for writers in (1, 4):
            raw, ref = [], []
            for _ in range(repetitions):
                raw.append(_run(_raw_writer, lambda w: (dsn, schema, w, seconds), writers))
                ref.append(_run(_store_writer, lambda w: (url, w, seconds), writers))
            results[f"{writers} writer(s)"] = {"raw": raw, "reference": ref}
    finally:
        store.drop()
        store.close()
    summary = {}
    for label, r in results.items():
        raw_m, ref_m = statistics.median(r["raw"]), statistics.median(r["reference"])
        ratios = [b / a for a, b in zip(r["raw"], r["reference"])]
        summary[label] = {
            "raw_events_per_s": raw_m,
            "reference_events_per_s": ref_m,
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
        }
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default=os.environ.get("EVENTSTORE_POSTGRES_DSN"))
    parser.add_argument("--seconds", type=float, default=3.0, help="measurement time per variant and repetition")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args(argv)
    server = None
    dsn = args.dsn
    if dsn is None:
        from services.postgres import PostgresServer

        server = PostgresServer(durable=True).start()
        dsn = server.dsn
    try:
        settings = {}
        with psycopg.connect(dsn) as conn:
            for name in ("server_version", "fsync", "synchronous_commit"):
                settings[name] = conn.execute(f"SHOW {name}").fetchone()[0]
        print(f"PostgreSQL {settings['server_version']}, fsync={settings['fsync']}, "
              f"synchronous_commit={settings['synchronous_commit']}, {args.repetitions} repetitions x {args.seconds}s")
        for label, s in measure(dsn, args.seconds, args.repetitions).items():
            print(
                f"{label:>12}: raw INSERT {s['raw_events_per_s']:8.0f} ev/s | reference append "
                f"{s['reference_events_per_s']:8.0f} ev/s | ratio {s['ratio_median']:.3f} "
                f"(min {s['ratio_min']:.3f}, max {s['ratio_max']:.3f})"
            )
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
