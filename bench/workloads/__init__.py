"""The workloads, by name. Each is a ``Workload`` subclass with its own ``Params`` dataclass."""
from __future__ import annotations

from .base import Measurement, Params, StoreFactory, Workload
from .calls import Calls, CallsParams
from .contention import Contention, ContentionParams
from .resume import Resume, ResumeParams
from .snapshots import SnapshotParams, Snapshots

WORKLOADS: dict[str, type[Workload]] = {w.name: w for w in (Contention, Snapshots, Resume, Calls)}

__all__ = [
    "WORKLOADS", "Calls", "CallsParams", "Contention", "ContentionParams", "Measurement", "Params", "Resume",
    "ResumeParams", "SnapshotParams", "Snapshots", "StoreFactory", "Workload",
]
