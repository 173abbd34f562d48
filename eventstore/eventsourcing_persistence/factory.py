"""The infrastructure factory the library finds through ``PERSISTENCE_MODULE``.

It opens one of our stores from ``EVENTSTORE_URL`` (the library's environment lets each
application override it as ``<APPLICATION>_EVENTSTORE_URL``), refuses an engine that lacks what the
library's contract needs, and hands out recorders over that store.
"""
from __future__ import annotations

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    InfrastructureFactory,
    InfrastructureFactoryError,
    ProcessRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic

from ..errors import EventStoreError
from ..plugins import open_store
from .codec import Codec
from .dialects import dialect_for
from .recorders import StoreAggregateRecorder, StoreApplicationRecorder, StoreProcessRecorder, StoreTrackingRecorder

#: What the library's recorders need of a store, each a ``Capabilities`` field: versions that
#: conflict, batches that are all or nothing, one order of notifications that a follower can read by
#: id without skipping a late commit, per-application logs read through an index, and events written
#: in the transaction that records tracking.
REQUIRED = ("optimistic_concurrency", "atomic_batch", "global_order", "gap_safe_global_order", "indexed_category_reads", "transactional_checkpoints")


class Factory(InfrastructureFactory[StoreTrackingRecorder]):
    """Recorders over one of our stores. Settings (environment variables, each also read with the
    application's name as a prefix): ``EVENTSTORE_URL`` (required: ``postgresql://...`` or
    ``sqlite:///path.db``), ``EVENTSTORE_ORIGINATOR_ID_TYPE`` (``uuid``, the default, or ``text``)."""

    EVENTSTORE_URL = "EVENTSTORE_URL"
    EVENTSTORE_ORIGINATOR_ID_TYPE = "EVENTSTORE_ORIGINATOR_ID_TYPE"

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        url = self.env.get(self.EVENTSTORE_URL)
        if not url:
            raise InfrastructureFactoryError(
                f"set {self.EVENTSTORE_URL} to the store's URL (postgresql://...?schema=NAME or sqlite:///path.db)"
            )
        try:
            self.store = open_store(url)
        except EventStoreError as exc:
            raise InfrastructureFactoryError(f"cannot open {self.EVENTSTORE_URL}: {exc}") from exc
        engine = f"{self.store.engine.backend} ({self.store.engine.mode} mode)"
        missing = [name for name in REQUIRED if not getattr(self.store.capabilities, name)]
        dialect = dialect_for(self.store)
        if missing or dialect is None:
            self.store.close()
            why = f"declares no {', '.join(missing)}" if missing else "has no transactional write step in this module"
            raise InfrastructureFactoryError(
                f"the eventsourcing persistence module cannot use {engine}: it {why}. It needs "
                f"{', '.join(REQUIRED)}: the PostgreSQL reference and SQLite have them."
            )
        self.dialect = dialect
        self.id_type = (self.env.get(self.EVENTSTORE_ORIGINATOR_ID_TYPE) or "uuid").lower()

    def _codec(self, purpose: str = "events") -> Codec:
        name = self.env.name or "stored"
        try:
            return Codec(name if purpose == "events" else f"{name}.{purpose}", self.id_type)
        except DataError as exc:
            raise InfrastructureFactoryError(str(exc)) from exc

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        """Streams of ``<application>`` for events, ``<application>.<purpose>`` otherwise (snapshots)."""
        return StoreAggregateRecorder(self.store, self.dialect, self._codec(purpose))

    def application_recorder(self) -> ApplicationRecorder:
        cls: type[StoreApplicationRecorder] = StoreApplicationRecorder
        topic = self.env.get(self.APPLICATION_RECORDER_TOPIC)
        if topic:
            cls = resolve_topic(topic)
        return cls(self.store, self.dialect, self._codec())

    def tracking_recorder(self, tracking_recorder_class: type[StoreTrackingRecorder] | None = None) -> StoreTrackingRecorder:
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = resolve_topic(topic) if topic else StoreTrackingRecorder
        assert tracking_recorder_class is not None
        return tracking_recorder_class(self.store, self.dialect, self._codec())

    def process_recorder(self) -> ProcessRecorder:
        cls: type[StoreProcessRecorder] = StoreProcessRecorder
        topic = self.env.get(self.PROCESS_RECORDER_TOPIC)
        if topic:
            cls = resolve_topic(topic)
        return cls(self.store, self.dialect, self._codec())

    def close(self) -> None:
        self.store.close()
