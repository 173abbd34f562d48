"""Decision profiles: hard requirements, a workload shape (default weights per matrix column) and
weight overrides; the presets are papermill parameter files of the overview notebook
(``notebooks/profiles/presets/``), read with ``presets()``; the notebook's own parameters are the
default profile.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.workloads import matrix_columns

PRESET_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "profiles" / "presets"

#: Hard requirements: key -> (short title, what it takes to pass).
REQUIREMENTS: dict[str, tuple[str, str]] = {
    "concurrency": ("enforced optimistic concurrency", "declares optimistic concurrency, and lost no update in the contention workload"),
    "gap_safe": ("gap-safe global order", "declares gap-safe global order, and its resumed subscriber missed no event"),
    "crash_safe": ("survives a crash, nothing acknowledged lost", "runs with durable settings, and lost no acknowledged append in the crash test (faults workload)"),
    "serverless": ("serverless", "a managed service: no server to operate"),
    "shared": ("shared by several hosts", "application processes on several machines reach one store (not an in-process library)"),
    "capabilities": ("declared capabilities", "declares every capability named"),
    "append_p99": ("append p99 limit", "p99 of a one-event append under the limit at the named rate, measured on the product itself"),
}

#: Workload shapes: the default weight of each matrix column (``Source.key``).
SHAPES: dict[str, dict[str, float]] = {
    "balanced": {"commands_uniform": 1, "hot_stream": 1, "hot_p99": 1, "snapshot_speedup": 1, "append_p50": 1, "batch_append": 1, "read_stream_p50": 1, "live_p50": 1},
    "ingestion": {"batch_append": 3, "commands_uniform": 2, "append_p50": 2, "hot_stream": 0.5, "read_stream_p50": 0.5, "live_p50": 0.5},
    "contended": {"hot_stream": 3, "hot_p99": 3, "commands_uniform": 1, "append_p50": 1},
    "long_aggregates": {"read_stream_p50": 3, "snapshot_speedup": 2, "append_p50": 1, "commands_uniform": 1, "live_p50": 1},
    "projections": {"live_p50": 3, "read_stream_p50": 1, "repeats_per_restart": 1, "append_p50": 1, "commands_uniform": 1},
}


@dataclass(frozen=True)
class Requirements:
    """Hard requirements; an engine must pass every one that is set."""

    concurrency: bool = False
    gap_safe: bool = False
    crash_safe: bool = False
    serverless: bool = False
    shared: bool = False
    capabilities: tuple[str, ...] = ()
    max_append_p99_ms: float = 0.0
    at_events_per_s: float = 0.0

    def active(self) -> list[str]:
        """The keys of ``REQUIREMENTS`` this set asks for, in their order."""
        on = {"concurrency": self.concurrency, "gap_safe": self.gap_safe, "crash_safe": self.crash_safe, "serverless": self.serverless,
              "shared": self.shared, "capabilities": bool(self.capabilities), "append_p99": self.max_append_p99_ms > 0}
        return [k for k in REQUIREMENTS if on[k]]

    def describe(self, key: str) -> str:
        """A requirement in words, with its numbers."""
        if key == "capabilities":
            return "declares " + ", ".join(c.replace("_", " ") for c in self.capabilities)
        if key == "append_p99":
            where = f"at {self.at_events_per_s:,g} appends/s (open loop)" if self.at_events_per_s > 0 else "one client, closed loop"
            return f"append p99 under {self.max_append_p99_ms:g} ms, {where}"
        return REQUIREMENTS[key][0]


@dataclass(frozen=True)
class Profile:
    """A decision profile: who it is for, hard requirements, a workload shape and weight overrides."""

    title: str = "Balanced: no hard requirement"
    summary: str = "Every engine measured competes; the performance columns count equally."
    requirements: Requirements = field(default_factory=Requirements)
    shape: str = "balanced"
    weights: tuple[tuple[str, float], ...] = ()
    key: str = "default"

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"{self.key}: shape must be one of {', '.join(SHAPES)}, not {self.shape!r}")
        known = {s.key for s in matrix_columns()}
        unknown = sorted(k for k, _ in self.weights if k not in known)
        if unknown:
            raise ValueError(f"{self.key}: no matrix column {unknown}; known: {', '.join(sorted(known))}")

    def weight_map(self) -> dict[str, float]:
        """Column key -> weight: the shape's, overridden by ``weights``; zero weights dropped."""
        merged = {**SHAPES[self.shape], **dict(self.weights)}
        return {k: float(v) for k, v in merged.items() if v}

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any], key: str = "default") -> Profile:
        """A profile from the overview notebook's parameter names (what a preset file holds)."""
        caps = values.get("require_capabilities") or ""
        capabilities = tuple(c.strip() for c in (caps.split(",") if isinstance(caps, str) else caps) if c and c.strip())
        requirements = Requirements(
            concurrency=bool(values.get("require_concurrency", False)), gap_safe=bool(values.get("require_gap_safe", False)),
            crash_safe=bool(values.get("require_crash_safe", False)), serverless=bool(values.get("require_serverless", False)),
            shared=bool(values.get("require_shared", False)), capabilities=capabilities,
            max_append_p99_ms=float(values.get("max_append_p99_ms") or 0.0), at_events_per_s=float(values.get("at_events_per_s") or 0.0),
        )
        default = cls()
        weights = values.get("weights") or {}
        return cls(
            title=str(values.get("decide_title") or default.title), summary=str(values.get("decide_summary") or default.summary),
            requirements=requirements, shape=str(values.get("shape") or "balanced"),
            weights=tuple(sorted((str(k), float(v)) for k, v in dict(weights).items())), key=key,
        )


#: The overview notebook's parameters that make a profile (a preset file holds only these).
PROFILE_PARAMETERS = (
    "decide_title", "decide_summary", "require_concurrency", "require_gap_safe", "require_crash_safe", "require_serverless", "require_shared",
    "require_capabilities", "max_append_p99_ms", "at_events_per_s", "shape", "weights",
)


def presets(directory: str | Path = PRESET_DIR) -> list[Profile]:
    """The preset profiles, one per ``<directory>/*.yaml`` (papermill parameter files of the overview)."""
    out = []
    for path in sorted(Path(directory).glob("*.yaml")):
        values = yaml.safe_load(path.read_text()) or {}
        unknown = set(values) - set(PROFILE_PARAMETERS)
        if unknown:
            raise ValueError(f"{path}: unknown parameter(s) {sorted(unknown)}; a preset sets only {', '.join(PROFILE_PARAMETERS)}")
        out.append(Profile.from_parameters(values, key=path.stem))
    return out
