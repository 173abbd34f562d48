"""Synthetic records for the report's tests: four engines whose numbers and facts are chosen so
that each rule of the matrix and the decision has something to act on.

- ``alpha``: a durable local server, every capability, the best throughput;
- ``beta``: an in-process library without fsync per commit, no push notifications, the lowest latency;
- ``gamma``: a naive design (mode naive) that loses updates and misses events, and is the fastest;
- ``delta``: a serverless service measured on an emulator, fast appends.

``write_run(path)`` writes one run's records (``RUN_ID``); ``Spec`` overrides any number.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness.records import SCHEMA_VERSION, RecordWriter, now_iso

RUN_ID = "20260101T000000Z-abcd"
WORKLOADS = ("contention", "snapshots", "resume", "calls")
FULL_CAPS = {
    "optimistic_concurrency": True, "idempotent_append": True, "atomic_batch": True, "global_order": True, "gap_safe_global_order": True,
    "indexed_category_reads": True, "push_notifications": True, "transactional_checkpoints": True, "snapshots": True,
    "max_batch_events": None, "max_batch_bytes": None, "max_event_bytes": None, "limitations": ["a <name> in angle brackets"],
}


@dataclass
class Spec:
    """One engine's facts and headline numbers (per repetition they vary by ±1 %)."""

    mode: str = "reference"
    emulator: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    capabilities: dict[str, Any] = field(default_factory=lambda: dict(FULL_CAPS))
    throughput: float = 1000.0  # contention commands/s, uniform and hot
    hot_p99_us: float = 20_000.0
    lost_updates: float = 0.0
    missed: float = 0.0
    speedup: float = 10.0  # snapshot load time full / with snapshots
    append_p50_us: float = 1000.0
    append_p99_us: float = 3000.0
    batch_eps: float = 20_000.0
    read_p50_us: float = 800.0
    live_p50_us: float = 2000.0


def specs() -> dict[str, Spec]:
    return {
        "alpha": Spec(settings={"process": "local server", "durability": "fsync per commit"}, throughput=3000.0),
        "beta": Spec(settings={"process": "in-process library", "durability": "no fsync per commit (synchronous=NORMAL)"},
                     capabilities={**FULL_CAPS, "push_notifications": False, "transactional_checkpoints": True}, throughput=1500.0,
                     append_p50_us=200.0, append_p99_us=900.0, read_p50_us=150.0),
        "gamma": Spec(mode="naive", settings={"process": "local server", "durability": "fsync per commit"},
                      capabilities={**FULL_CAPS, "gap_safe_global_order": False}, throughput=9000.0, lost_updates=12.0, missed=7.0,
                      append_p50_us=100.0, batch_eps=90_000.0),
        "delta": Spec(emulator=True, settings={"process": "serverless service", "durability": "in memory (emulator)"},
                      capabilities={**FULL_CAPS, "gap_safe_global_order": False, "transactional_checkpoints": False},
                      throughput=500.0, append_p50_us=50.0, append_p99_us=100.0),
    }


def _rows(spec: Spec) -> dict[str, list[tuple[str, float, dict[str, Any], int | None]]]:
    reps = range(3)

    def varied(metric: str, value: float, params: dict[str, Any]) -> list[tuple[str, float, dict[str, Any], int | None]]:
        return [(metric, value * (1 + (r - 1) / 100), params, r) for r in reps]

    contention = []
    for writers, skew in ((4, 0.0), (16, 3.0), (4, 3.0)):
        point = {"writers": writers, "skew": skew, "streams": 8}
        contention += varied("throughput", spec.throughput / (2 if skew else 1), point)
        contention += varied("ceiling_throughput", 100_000.0, point)
        contention += varied("command_latency_p99", spec.hot_p99_us, point)
        contention += [("lost_updates", spec.lost_updates / 3, point, r) for r in reps]
        contention += [("successful_commands", 1000.0, point, r) for r in reps]
        contention += [("missing_events", 0.0, point, r) for r in reps]
        contention += [("duplicate_events", 0.0, point, r) for r in reps]
    snapshots = []
    for length in (1000, 10_000):
        for every, value in ((0, 1000.0 * length / 100), (100, 1000.0 * length / 100 / spec.speedup)):
            snapshots += varied("load_time_p50", value, {"length": length, "snapshot_every": every, "state_bytes": 256, "cache": "warm"})
    resume = [(m, v, {"checkpoint_every": 20}, r) for r in reps for m, v in (
        ("events_written", 1000.0), ("events_in_store", 1000.0), ("events_handled", 1010.0), ("missed_events", spec.missed / 3),
        ("repeated_events", 10.0), ("acknowledged_not_stored", 0.0), ("handled_not_in_store", 0.0), ("consumer_runs", 3.0),
        ("max_repeats_per_restart", 5.0))]
    calls = []
    for operation, metric, value in (("append_single", "latency_p50", spec.append_p50_us), ("append_single", "latency_p99", spec.append_p99_us),
                                     ("read_stream", "latency_p50", spec.read_p50_us), ("live_delivery", "latency_p50", spec.live_p50_us),
                                     ("append_batch", "event_throughput", spec.batch_eps), ("append_batch", "ceiling_event_throughput", 1e6)):
        calls += varied(metric, value, {"operation": operation, "loop": "closed", "client": "process"})
    return {"contention": contention, "snapshots": snapshots, "resume": resume, "calls": calls}


UNITS = {"throughput": "commands/s", "ceiling_throughput": "commands/s", "event_throughput": "events/s", "ceiling_event_throughput": "events/s"}


#: A reason as engines give it: what is missing and how to measure it, then the low-level cause.
NOT_REACHABLE = ("ServiceUnavailable: no server reachable at x://127.0.0.1:1; to measure it: docker compose up -d x"
                 " (ServiceUnavailable: failed to connect; last error: Connection refused (111))")


def write_run(path: Path, engines: dict[str, Spec] | None = None, *, profile: str = "decision", run_id: str = RUN_ID,
              skip: dict[str, set[str]] | None = None) -> Path:
    """Write the records of one run into ``path`` (a run directory): every workload for every engine,
    except ``skip``: engine -> workloads recorded as not measured (with a reason). Returns ``path``."""
    engines = specs() if engines is None else engines
    skip = skip or {}
    for workload in WORKLOADS:
        with RecordWriter(path / "records" / f"{workload}.jsonl") as writer:
            for name, spec in engines.items():
                stamp = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "workload": workload, "engine": name, "profile": profile}
                info = {"backend": name, "product": name.title(), "engine_version": "1.0", "emulator": spec.emulator, "mode": spec.mode}
                if workload in skip.get(name, set()):
                    writer.write({**stamp, "kind": "engine", "status": "not_measured", "reason": NOT_REACHABLE,
                                  "recorded_at": now_iso()})
                    continue
                for metric, value, params, rep in _rows(spec)[workload]:
                    writer.write({**stamp, **info, "kind": "measurement", "params": params, "metric": metric, "value": value,
                                  "unit": UNITS.get(metric, "us" if "latency" in metric or metric.startswith("load_time") else "events"),
                                  "repetition": rep, "hdr": None, "note": None, "recorded_at": now_iso()})
                writer.write({**stamp, **info, "kind": "engine", "status": "measured", "reason": None, "recorded_at": now_iso(),
                              "settings": spec.settings, "capabilities": spec.capabilities, "elapsed_s": 1.0})
    return path


def write_report_run(root: Path, *, run_id: str = RUN_ID, profile: str = "quick", **options: Any) -> Path:
    """A run directory under ``root/runs/`` with records, ``run.json`` and ``environment.json``, as a
    report leaves it (without pages): what the index pages are built from."""
    from bench.harness import environment

    run_dir = root / "runs" / run_id
    write_run(run_dir, profile=profile, run_id=run_id, **options)
    environment.update(run_dir, {name: spec.settings for name, spec in (options.get("engines") or specs()).items()})
    run = {"run_id": run_id, "profile": profile, "started_at": "2026-01-01T00:00:00.000+00:00", "finished_at": "2026-01-01T00:05:00.000+00:00",
           "notebooks": [{"name": "overview", "parameters": {"writers": 4, "hot_writers": 16, "hot_skew": 3.0, "stream_length": 10000,
                                                            "snapshot_every": 100}, "seconds": 3.0, "error": None}]}
    (run_dir / "run.json").write_text(json.dumps(run))
    return run_dir
