"""The result records: a versioned JSON schema, validated on write and on read, stored as JSON Lines.

Two kinds of record share a file (``<results_dir>/records/<workload>.jsonl``):

- ``measurement``: one measured value (run id, workload, engine and its version, whether it is an
  emulator, the point's parameters, metric, value, unit, repetition; latency rows also carry the
  encoded HDR histogram they were read from, so percentiles can be recomputed over merged data);
- ``engine``: whether an engine was measured for a workload, and if not, why; with the engine's
  settings and its capabilities record, so the overview needs nothing but these files.

The machine (``environment.json``) has its own schema, in ``bench.harness.environment``.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_VERSION = 2
#: The parameter profiles a run can use (``notebooks/profiles/<name>/``); only ``decision`` is decision-grade.
PROFILES = ("decision", "quick")
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = {"type": "string", "minLength": 1, "maxLength": 100}
_SCALAR = {"type": ["string", "number", "boolean", "null"]}

_COMMON = {
    "schema_version": {"const": SCHEMA_VERSION},
    "run_id": {"type": "string", "pattern": RUN_ID_PATTERN},
    "workload": _NAME,
    "engine": _NAME,
    "profile": {"enum": list(PROFILES)},
    "recorded_at": {"type": "string", "minLength": 10},
}

MEASUREMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "bench measurement record",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema_version", "kind", "run_id", "workload", "engine", "profile", "backend", "product", "engine_version",
        "emulator", "mode", "params", "metric", "value", "unit", "repetition", "recorded_at",
    ],
    "properties": {
        **_COMMON,
        "kind": {"const": "measurement"},
        "backend": _NAME,
        "product": _NAME,
        "engine_version": {"type": "string"},
        "emulator": {"type": "boolean"},
        "mode": _NAME,
        "params": {"type": "object", "additionalProperties": _SCALAR},
        "metric": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
        "value": {"type": ["number", "null"]},
        "unit": {"type": "string", "minLength": 1},
        "repetition": {"type": ["integer", "null"], "minimum": 0},
        "hdr": {"type": ["string", "null"]},
        "note": {"type": ["string", "null"]},
    },
}

ENGINE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "bench engine status record",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "kind", "run_id", "workload", "engine", "profile", "status", "reason", "recorded_at"],
    "properties": {
        **_COMMON,
        "kind": {"const": "engine"},
        "status": {"enum": ["measured", "not_measured", "interrupted"]},
        "reason": {"type": ["string", "null"]},
        "backend": {"type": ["string", "null"]},
        "product": {"type": ["string", "null"]},
        "engine_version": {"type": ["string", "null"]},
        "emulator": {"type": ["boolean", "null"]},
        "mode": {"type": ["string", "null"]},
        "settings": {"type": "object"},
        "capabilities": {"type": ["object", "null"]},
        "elapsed_s": {"type": ["number", "null"]},
        "spent_s": {"type": ["number", "null"], "description": "seconds of the engine's own cases and open (what its budget counts)"},
    },
    "allOf": [{"if": {"properties": {"status": {"const": "not_measured"}}}, "then": {"properties": {"reason": {"type": "string", "minLength": 1}}}}],
}

SCHEMAS = {"measurement": MEASUREMENT_SCHEMA, "engine": ENGINE_SCHEMA}
_VALIDATORS = {kind: jsonschema.Draft202012Validator(schema) for kind, schema in SCHEMAS.items()}


class RecordError(ValueError):
    """A record does not match the schema; the message names the record, the field and the rule."""


def new_run_id() -> str:
    """A sortable, unique run id such as ``20250101T120000Z-3f9a``."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def clean(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null, so a record never holds an unreadable number."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def validate(record: Any, where: str = "record") -> dict[str, Any]:
    """Return ``record`` if it matches its kind's schema, else raise ``RecordError`` saying what is wrong."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a record must be a JSON object, not {type(record).__name__}")
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordError(f"{where}: schema_version is {version!r}; this bench reads version {SCHEMA_VERSION} only")
    kind = record.get("kind")
    validator = _VALIDATORS.get(kind)  # type: ignore[arg-type]
    if validator is None:
        raise RecordError(f"{where}: kind is {kind!r}; expected one of {sorted(SCHEMAS)}")
    error = jsonschema.exceptions.best_match(validator.iter_errors(record))
    if error is not None:
        field = ".".join(str(p) for p in error.absolute_path) or "(record)"
        raise RecordError(f"{where}: {kind} field {field}: {error.message}")
    return record


class RecordWriter:
    """Appends validated records to a JSON Lines file, one flushed line each, so an interrupted run
    keeps every record written before the interruption."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        self.written = 0

    def write(self, record: dict[str, Any]) -> None:
        record = validate(clean(record), f"record for {self.path.name}")
        self._file.write(json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n")
        self._file.flush()
        self.written += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record_files(results_dir: str | Path) -> list[Path]:
    """The record files of a results directory, in name order."""
    return sorted((Path(results_dir) / "records").glob("*.jsonl"))


def iter_records(paths: Iterable[str | Path]) -> Iterator[dict[str, Any]]:
    """Every record of ``paths``, validated; a bad line raises ``RecordError`` naming file and line."""
    for path in paths:
        path = Path(path)
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RecordError(f"{where}: not JSON ({exc.msg})") from None
                yield validate(record, where)


def read_records(results_dir: str | Path, *, run_id: str | None = None, workload: str | None = None) -> list[dict[str, Any]]:
    """The validated records of a results directory, optionally of one run and one workload."""
    return [
        r for r in iter_records(record_files(results_dir))
        if (run_id is None or r["run_id"] == run_id) and (workload is None or r["workload"] == workload)
    ]
