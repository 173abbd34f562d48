"""What a backend can do, as data: the conformance suite skips on it and the report prints it."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Capabilities:
    """A backend's declared guarantees. Anything declared ``True`` is tested; anything ``False`` is measured."""

    #: ``append`` honours ``expected_version`` atomically per stream.
    optimistic_concurrency: bool
    #: Re-appending a batch with the same event ids is a no-op that returns the original result.
    idempotent_append: bool
    #: A multi-event append is all or nothing.
    atomic_batch: bool
    #: ``read_all`` returns every stream's events in one total order.
    global_order: bool
    #: A subscriber checkpointing the last position it saw can never miss an event committed later
    #: with a lower position.
    gap_safe_global_order: bool
    #: ``read_category`` uses an index rather than scanning every event.
    indexed_category_reads: bool
    #: Live subscribers are woken by the engine rather than by polling.
    push_notifications: bool
    #: A handler's writes and the checkpoint can share one transaction.
    transactional_checkpoints: bool
    #: Snapshots are stored by the engine.
    snapshots: bool
    #: Largest number of events in one atomic append, or None when unbounded.
    max_batch_events: int | None = None
    #: Largest total serialised size of one append in bytes, or None when unbounded.
    max_batch_bytes: int | None = None
    #: Largest serialised size of one event in bytes, or None when unbounded.
    max_event_bytes: int | None = None
    #: Plain-words limitations, printed on the backend's report page.
    limitations: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["limitations"] = list(self.limitations)
        return data


@dataclass(frozen=True)
class EngineInfo:
    """Which engine produced a result: recorded with every measurement."""

    backend: str  # the adapter: "postgres", "sqlite", "memory", "dynamodb", "kafka"
    engine: str  # the product: "PostgreSQL", "SQLite", "moto (DynamoDB emulator)", ...
    version: str
    emulator: bool = False
    mode: str = "reference"  # e.g. "naive" for the textbook PostgreSQL variant
