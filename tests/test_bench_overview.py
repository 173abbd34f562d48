"""The matrix compares engines at operating points chosen in advance: an engine that did not reach a
point says so with the reason, never shows a value from another point; each value carries its CI."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.harness.columns import OperatingPoints
from bench.harness.records import SCHEMA_VERSION, RecordWriter, now_iso
from bench.harness.results import load
from bench.report import matrix


def _write(path: Path, engine: str, rows: list[tuple[str, float | None, dict[str, Any], int | None, str | None]]) -> None:
    stamp = {"schema_version": SCHEMA_VERSION, "run_id": "20260101T000000Z-abcd", "workload": "snapshots", "engine": engine, "profile": "decision"}
    with RecordWriter(path / "records" / "snapshots.jsonl") as writer:
        writer.write({**stamp, "kind": "engine", "status": "measured", "reason": None, "recorded_at": now_iso(), "backend": engine,
                      "product": engine, "engine_version": "1", "emulator": False, "mode": "reference", "capabilities": {"snapshots": True}})
        for metric, value, params, repetition, note in rows:
            writer.write({**stamp, "kind": "measurement", "backend": engine, "product": engine, "engine_version": "1", "emulator": False,
                          "mode": "reference", "params": params, "metric": metric, "value": value, "unit": "us" if value else "flag",
                          "repetition": repetition, "hdr": None, "note": note, "recorded_at": now_iso()})


def _loads(length: int, speedup: float, half_width: float, pairs: int = 40) -> list[tuple[str, float | None, dict[str, Any], int | None, str | None]]:
    """One repetition of a warm point at ``length``, N = 100: the speed-up of paired loads with its CI."""
    point = {"length": length, "snapshot_every": 100, "state_bytes": 256, "cache": "warm"}
    return [
        ("load_speedup", speedup, point, 0, None), ("load_speedup_ci_low", speedup - half_width, point, 0, None),
        ("load_speedup_ci_high", speedup + half_width, point, 0, None), ("load_pairs", float(pairs), point, 0, None),
    ]


def test_the_snapshot_column_is_read_at_its_point_or_says_why_not(tmp_path: Path) -> None:
    _write(tmp_path, "fast", _loads(1000, 30.0, 1.0) + _loads(10_000, 300.0, 6.0))
    _write(tmp_path, "slow", _loads(1000, 16.7, 3.0) + [
        ("skipped", 1.0, {"length": 10_000}, 0, "skipped: length 10000 would take about 400 s, more than the 20 s left"),
    ])
    _write(tmp_path, "noisy", _loads(10_000, 100.0, 30.0, pairs=20))
    cells = matrix.matrix_cells(load(tmp_path), OperatingPoints(stream_length=10_000, snapshot_every=100))
    snapshot = cells[cells["column"].str.startswith("snapshot speed-up @ 10,000 events, N = 100")].set_index("engine")
    assert snapshot.loc["fast", "value"] == 300.0 and snapshot.loc["fast", "n"] == 40  # n: the pairs behind it
    assert (snapshot.loc["fast", "ci_low"], snapshot.loc["fast", "ci_high"]) == (294.0, 306.0) and not snapshot.loc["fast", "unstable"]
    assert snapshot.loc["noisy", "unstable"] and abs(snapshot.loc["noisy", "ci_relative"] - 0.3) < 1e-9  # ±30 %: flagged
    assert snapshot.loc["slow", "value"] is None or snapshot.loc["slow", "value"] != snapshot.loc["slow", "value"]  # missing, not 16.7x from 1,000
    assert snapshot.loc["slow", "reason"].startswith("not measured at this point (length 10000, snapshot every 100): skipped: length 10000 would take")
    wide, _ = matrix.comparison_matrix(load(tmp_path), OperatingPoints())
    header = next(c for c in wide.columns if c.startswith("snapshot speed-up"))
    assert header.endswith("higher is better")
    assert wide.set_index("engine").loc["slow", header].startswith("not measured at this point")
