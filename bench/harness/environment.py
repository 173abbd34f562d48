"""The machine a run measured on: without it a number cannot be compared with another run's.

``environment.json`` in a results directory holds CPU, memory, OS, Python, package versions and the
git revision, plus each engine's settings (fsync, synchronous_commit, ...) as runs add them.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema

from eventstore.plugins import engines

from .records import SCHEMA_VERSION, RecordError, now_iso

FILENAME = "environment.json"
#: The harness's own packages; each engine adds the clients and emulators it declares.
PACKAGES = ("eventstore-workbench", "hdrhistogram", "pandas", "matplotlib", "papermill", "nbconvert", "jsonschema", "tqdm")

ENVIRONMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "bench environment record",
    "type": "object",
    "required": ["schema_version", "kind", "recorded_at", "cpu", "memory_bytes", "os", "python", "packages", "git", "engines"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "kind": {"const": "environment"},
        "recorded_at": {"type": "string"},
        "cpu": {"type": "object", "required": ["model", "logical_cores"]},
        "memory_bytes": {"type": ["integer", "null"]},
        "os": {"type": "string"},
        "python": {"type": "string"},
        "packages": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
        "git": {"type": "object", "required": ["revision", "dirty"]},
        "engines": {"type": "object", "additionalProperties": {"type": "object"}},
    },
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _git() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]

    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    status = run("status", "--porcelain", "--untracked-files=no")
    return {"revision": run("rev-parse", "HEAD") or "unknown (no commit)", "dirty": bool(status) if status is not None else None}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _packages() -> list[str]:
    return list(dict.fromkeys([*PACKAGES, *(p for engine in engines().values() for p in engine.packages)]))


def collect() -> dict[str, Any]:
    """Describe this machine and process now."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "environment",
        "recorded_at": now_iso(),
        "cpu": {"model": _cpu_model(), "logical_cores": os.cpu_count(), "machine": platform.machine()},
        "memory_bytes": _memory_bytes(),
        "os": platform.platform(),
        "python": sys.version.split()[0] + f" ({platform.python_implementation()})",
        "packages": {name: _version(name) for name in _packages()},
        "git": _git(),
        "engines": {},
    }


def validate(environment: Any, where: str = FILENAME) -> dict[str, Any]:
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(ENVIRONMENT_SCHEMA).iter_errors(environment))
    if error is not None:
        field = ".".join(str(p) for p in error.absolute_path) or "(record)"
        raise RecordError(f"{where}: environment field {field}: {error.message}")
    return environment


def read(results_dir: str | Path) -> dict[str, Any] | None:
    """The validated environment of a results directory, or None when it has none yet."""
    path = Path(results_dir) / FILENAME
    if not path.exists():
        return None
    return validate(json.loads(path.read_text(encoding="utf-8")), str(path))


def update(results_dir: str | Path, engine_settings: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Write ``environment.json`` (machine facts from the first run into this directory are kept)
    and merge in engine settings."""
    path = Path(results_dir) / FILENAME
    environment = read(results_dir) or collect()
    for name, settings in (engine_settings or {}).items():
        environment["engines"][name] = settings
    validate(environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(environment, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return environment


def summary_lines(environment: dict[str, Any]) -> list[str]:
    """A few human lines for the report index."""
    memory = environment.get("memory_bytes")
    git = environment["git"]
    lines = [
        f"CPU: {environment['cpu']['model']} ({environment['cpu']['logical_cores']} logical cores)",
        f"Memory: {memory / 2**30:.1f} GiB" if memory else "Memory: unknown",
        f"OS: {environment['os']}",
        f"Python: {environment['python']}",
        f"Git revision: {git['revision']}" + (" (uncommitted changes)" if git.get("dirty") else ""),
    ]
    for name, settings in sorted(environment.get("engines", {}).items()):
        shown = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
        lines.append(f"Engine {name}: {shown}")
    return lines
