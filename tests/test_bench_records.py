"""The record schema: valid records round-trip, bad ones are refused with a message naming the problem."""
from __future__ import annotations

import json
import math

import pytest

from bench.harness.records import SCHEMA_VERSION, RecordError, RecordWriter, now_iso, read_records, validate


def measurement(**changes: object) -> dict:
    record = {
        "schema_version": SCHEMA_VERSION, "kind": "measurement", "run_id": "20250101T000000Z-abcd", "workload": "contention",
        "engine": "sqlite", "profile": "decision", "backend": "sqlite", "product": "SQLite", "engine_version": "3.40.1", "emulator": False,
        "mode": "reference", "params": {"writers": 4, "skew": 1.0}, "metric": "throughput", "value": 123.4,
        "unit": "commands/s", "repetition": 0, "recorded_at": now_iso(),
    }
    record.update(changes)
    return record


def engine_record(**changes: object) -> dict:
    record = {
        "schema_version": SCHEMA_VERSION, "kind": "engine", "run_id": "20250101T000000Z-abcd", "workload": "contention",
        "engine": "kafka", "profile": "quick", "status": "not_measured", "reason": "ServiceUnavailable: no java", "recorded_at": now_iso(),
    }
    record.update(changes)
    return record


def test_valid_records_round_trip(tmp_path):
    with RecordWriter(tmp_path / "records" / "contention.jsonl") as writer:
        writer.write(measurement())
        writer.write(measurement(metric="latency_histogram", hdr="HISTFAA", value=3.0, unit="samples"))
        writer.write(engine_record())
    records = read_records(tmp_path)
    assert [r["kind"] for r in records] == ["measurement", "measurement", "engine"]
    assert records[0]["params"] == {"writers": 4, "skew": 1.0}
    assert read_records(tmp_path, workload="snapshots") == []


@pytest.mark.parametrize(
    "record, words",
    [
        ({k: v for k, v in measurement().items() if k != "metric"}, ["metric", "required"]),
        (measurement(value="fast"), ["value", "'fast'"]),
        (measurement(emulator="no"), ["emulator"]),
        (measurement(params={"writers": [1, 2]}), ["params.writers"]),
        (measurement(metric="Throughput!"), ["metric"]),
        (measurement(repetition=-1), ["repetition"]),
        (measurement(extra=1), ["extra"]),
        (measurement(run_id="has space"), ["run_id"]),
        (measurement(schema_version=99), ["schema_version", "99"]),
        (measurement(kind="other"), ["kind", "other"]),
        (engine_record(reason=None), ["reason"]),
        (engine_record(status="maybe"), ["status"]),
        (measurement(profile="tiny"), ["profile", "tiny"]),
        ({k: v for k, v in engine_record().items() if k != "profile"}, ["profile", "required"]),
    ],
)
def test_bad_records_are_refused_with_a_clear_error(record, words):
    with pytest.raises(RecordError) as error:
        validate(record)
    message = str(error.value)
    for word in words:
        assert word in message, message


def test_writer_refuses_a_bad_record_and_writes_nothing(tmp_path):
    path = tmp_path / "records" / "x.jsonl"
    with RecordWriter(path) as writer:
        with pytest.raises(RecordError):
            writer.write(measurement(unit=""))
    assert path.read_text() == ""


def test_nan_and_infinity_become_null(tmp_path):
    with RecordWriter(tmp_path / "records" / "x.jsonl") as writer:
        writer.write(measurement(value=math.nan, params={"rate": math.inf}))
    record = read_records(tmp_path)[0]
    assert record["value"] is None and record["params"]["rate"] is None


def test_reading_a_corrupt_file_names_file_and_line(tmp_path):
    path = tmp_path / "records" / "x.jsonl"
    path.parent.mkdir()
    good = json.dumps(measurement())
    bad = json.dumps(measurement(value="oops"))
    path.write_text(good + "\n" + bad + "\n")
    with pytest.raises(RecordError, match=r"x\.jsonl:2: measurement field value"):
        read_records(tmp_path)
    path.write_text(good + "\n{not json\n")
    with pytest.raises(RecordError, match=r"x\.jsonl:2: not JSON"):
        read_records(tmp_path)
