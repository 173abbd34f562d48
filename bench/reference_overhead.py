"""What the reference store's guarantees cost on PostgreSQL, as ratios measured in one run.

Three ways to write the same one-event row, on the same server, by 1 writer and by 4 writers on
distinct streams:

- ``raw``: a plain single-row INSERT into a table of the same shape (``LIKE events INCLUDING
  ALL``), serialising the payload per insert as any application would;
- ``statement``: the store's own append statement on a connection of its own, without the API
  around it (what the SQL of the guarantees costs: version check, position, transaction id);
- ``append``: ``store.append``, the whole API (validation, idempotency, result).

Each writer is its own process, set up (connections open, statements prepared) before anything is
timed. Rounds of all variants alternate in ABBA order and every writer starts a round at a
barrier, so drift on a shared machine hits the variants alike; ratios are taken per round pair.

    python -m bench.reference_overhead [--dsn postgresql://...] [--seconds 1] [--repetitions 6]

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
from collections.abc import Callable
from multiprocessing.connection import Connection

import psycopg
from tqdm import tqdm

from eventstore import NewEvent, StreamState, open_store
from eventstore.postgres import PostgresStore, new_schema_name
from eventstore.postgres.schema import scalar
from eventstore.postgres.server import DSN_ENV, PostgresServer
from eventstore.postgres.store import append_statement

PAYLOAD = {"sku": "ABC-123", "quantity": 2, "price": 19.99, "note": "x" * 64}
VARIANTS = ("raw", "statement", "append")
WRITERS = (1, 4)
_WARM_UP = 50


def _operations(dsn: str, url: str, schema: str) -> tuple[dict[str, Callable[[], None]], Callable[[], None]]:
    """One writer's three ways to append an event, each to its own stream, and how to close them."""
    raw = psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}")
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    query = append_statement(1, check_previous=False)
    statement_conn = psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}")
    statement_cursor = statement_conn.cursor()  # one connection and cursor, as the store's appends use
    versions = {v: -1 for v in VARIANTS}
    streams = {v: f"{v.capitalize()}-{uuid.uuid4()}" for v in versions}

    def raw_insert() -> None:
        versions["raw"] += 1
        raw.execute(
            "INSERT INTO raw_events (stream_id, version, event_id, event_type, data, metadata)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (streams["raw"], versions["raw"], uuid.uuid4(), "ItemAdded", json.dumps(PAYLOAD), "{}"),
        )

    def statement() -> None:
        versions["statement"] += 1
        params = {
            "stream_id": streams["statement"], "first": versions["statement"],
            "i0": uuid.uuid4(), "t0": "ItemAdded", "d0": json.dumps(PAYLOAD), "m0": "{}",
        }
        statement_cursor.execute(query, params).fetchall()

    def append() -> None:
        v = versions["append"]
        expected = StreamState.NO_STREAM if v < 0 else v
        versions["append"] = store.append(streams["append"], [NewEvent("ItemAdded", PAYLOAD)], expected).last_version

    def close() -> None:
        raw.close()
        statement_conn.close()
        store.close()

    return {"raw": raw_insert, "statement": statement, "append": append}, close


def _worker(dsn: str, url: str, schema: str, barrier: mp.synchronize.Barrier, pipe: Connection) -> None:
    """Runs rounds on command: ``(variant, seconds)`` -> events/s; ``None`` ends it."""
    ops, close = _operations(dsn, url, schema)
    try:
        for op in ops.values():
            for _ in range(_WARM_UP):
                op()
        pipe.send("ready")
        while (command := pipe.recv()) is not None:
            variant, seconds = command
            op = ops[variant]
            barrier.wait()
            n, start = 0, time.perf_counter()
            deadline = start + seconds
            while time.perf_counter() < deadline:
                op()
                n += 1
            pipe.send(n / (time.perf_counter() - start))
    finally:
        close()


def _rounds(repetitions: int) -> list[str]:
    """ABBA order: each variant runs as often first as last."""
    order: list[str] = []
    for k in range(repetitions):
        order += VARIANTS if k % 2 == 0 else VARIANTS[::-1]
    return order


def _measure_writers(dsn: str, url: str, schema: str, writers: int, seconds: float, rounds: list[str], progress: tqdm) -> dict[str, list[float]]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(writers)
    pipes, procs = [], []
    for _ in range(writers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(dsn, url, schema, barrier, child), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    try:
        for pipe in pipes:
            try:
                pipe.recv()
            except EOFError:
                raise RuntimeError("a writer process failed to start (its traceback is above)") from None
        for variant in rounds:
            for pipe in pipes:
                pipe.send((variant, seconds))
            rates[variant].append(sum(pipe.recv() for pipe in pipes))
            progress.update()
        for pipe in pipes:
            pipe.send(None)
        for proc in procs:
            proc.join(10)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
    return rates


def measure(dsn: str, seconds: float = 1.0, repetitions: int = 6, progress: bool = True) -> dict[int, dict[str, dict[str, float]]]:
    """``{writers: {variant: {"events_per_s": median, "ratio": median vs raw, "ratio_min", "ratio_max"}}}``."""
    schema = new_schema_name("overhead")
    url = f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}&pool_size=2"
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    with store.pool.connection() as conn:
        conn.execute("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
    rounds = _rounds(repetitions)
    summary: dict[int, dict[str, dict[str, float]]] = {}
    try:
        with tqdm(total=len(rounds) * len(WRITERS), desc="rounds", disable=not progress) as bar:
            for writers in WRITERS:
                rates = _measure_writers(dsn, url, schema, writers, seconds, rounds, bar)
                summary[writers] = {}
                for variant in VARIANTS:
                    ratios = [r / raw for r, raw in zip(rates[variant], rates["raw"], strict=True)]
                    summary[writers][variant] = {
                        "events_per_s": statistics.median(rates[variant]),
                        "ratio": statistics.median(ratios),
                        "ratio_min": min(ratios),
                        "ratio_max": max(ratios),
                    }
    finally:
        store.drop()
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default=os.environ.get(DSN_ENV))
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one round")
    parser.add_argument("--repetitions", type=int, default=6, help="rounds of each variant per writer count")
    args = parser.parse_args(argv)
    server = None
    dsn = args.dsn
    if dsn is None:
        server = PostgresServer(durable=True).start()
        dsn = server.dsn
    try:
        with psycopg.connect(dsn) as conn:
            settings = {n: scalar(conn.execute(f"SHOW {n}")) for n in ("server_version", "fsync", "synchronous_commit")}
        print(
            f"PostgreSQL {settings['server_version']}, fsync={settings['fsync']}, synchronous_commit="
            f"{settings['synchronous_commit']}, {os.cpu_count()} CPUs; {args.repetitions} rounds x {args.seconds}s per variant"
        )
        results = measure(dsn, args.seconds, args.repetitions)
        for writers, by_variant in results.items():
            print(f"{writers} writer(s):")
            for variant, s in by_variant.items():
                line = f"  {variant:>9} {s['events_per_s']:8.0f} ev/s"
                if variant != "raw":
                    line += f"   ratio to raw {s['ratio']:.3f} (min {s['ratio_min']:.3f}, max {s['ratio_max']:.3f})"
                print(line)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
