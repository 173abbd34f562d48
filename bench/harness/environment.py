"""The machine a run measured on: without it a number cannot be compared with another run's.

``environment.json`` in a results directory holds CPU, memory, OS, Python, package versions and the
git revision, plus each engine's settings (fsync, synchronous_commit, ...) as runs add them, and
how steady the machine itself was (``steadiness``, which a report measures before its workloads).
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema

from eventstore.plugins import engines

from .records import SCHEMA_VERSION, RecordError, now_iso
from .stats import CI_TARGET, repetitions_for

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
        "steadiness": {
            "type": "object",
            "required": ["windows", "window_s", "cv", "slowest", "fastest", "repetitions_for_target"],
            "properties": {"windows": {"type": "integer", "minimum": 2}, "window_s": {"type": "number", "exclusiveMinimum": 0},
                           "cv": {"type": "number", "minimum": 0}, "slowest": {"type": "number", "exclusiveMinimum": 0},
                           "fastest": {"type": "number", "exclusiveMinimum": 0}, "repetitions_for_target": {"type": "integer", "minimum": 1}},
        },
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


def update(results_dir: str | Path, engine_settings: dict[str, dict[str, Any]] | None = None, *,
           steadiness: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``environment.json`` (machine facts from the first run into this directory are kept)
    and merge in engine settings and the machine's ``steadiness``."""
    path = Path(results_dir) / FILENAME
    environment = read(results_dir) or collect()
    for name, settings in (engine_settings or {}).items():
        environment["engines"][name] = settings
    if steadiness is not None:
        environment["steadiness"] = steadiness
    validate(environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(environment, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return environment


def steadiness(windows: int = 10, window_s: float = 2.0) -> dict[str, Any]:
    """How steady this machine's own speed is: a fixed CPU-bound loop timed in ``windows`` windows of
    ``window_s`` (a measurement's window), with no engine running. Its coefficient of variation is a
    floor under every cell's spread that no engine causes; ``repetitions_for_target`` is about how
    many windows a median needs for a 95 % CI within ``stats.CI_TARGET`` at that spread."""
    rates = []
    for _ in range(windows):
        began, loops = time.perf_counter(), 0
        while (elapsed := time.perf_counter() - began) < window_s:
            sum(range(1000))
            loops += 1
        rates.append(loops / elapsed)
    median = statistics.median(rates)
    cv = statistics.stdev(rates) / statistics.fmean(rates)
    return {"windows": windows, "window_s": window_s, "cv": cv, "slowest": min(rates) / median, "fastest": max(rates) / median,
            "repetitions_for_target": repetitions_for(cv)}


def record_steadiness(results_dir: str | Path, windows: int, window_s: float) -> dict[str, Any]:
    """Measure ``steadiness`` and keep it in the directory's ``environment.json``."""
    found = steadiness(windows, window_s)
    update(results_dir, steadiness=found)
    return found


def steadiness_line(environment: dict[str, Any]) -> str | None:
    """The machine's steadiness in one sentence, or None when the run did not measure it."""
    found = environment.get("steadiness")
    if not found:
        return None
    return (f"This machine's own speed (a fixed CPU loop, no engine running, {found['windows']} windows of {found['window_s']:g} s) varied by "
            f"{found['cv']:.1%} (coefficient of variation; slowest window {1 - found['slowest']:.0%} below the median, fastest "
            f"{found['fastest'] - 1:.0%} above): at that spread a median needs about {found['repetitions_for_target']} "
            f"repetition{'' if found['repetitions_for_target'] == 1 else 's'} for a 95 % CI within ±{CI_TARGET:.0%}.")


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
    steady = steadiness_line(environment)
    if steady:
        lines.append(f"Steadiness: {steady}")
    for name, settings in sorted(environment.get("engines", {}).items()):
        shown = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
        lines.append(f"Engine {name}: {shown}")
    return lines
