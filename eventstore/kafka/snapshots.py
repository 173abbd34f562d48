"""Snapshots in a compacted topic: key ``[stream_id, schema_version]``, value the version and state.

Compaction keeps the last record per key, so the topic holds one snapshot per stream and schema
version: the last one written (a stale writer can replace a newer snapshot with an older one, which
costs replay time, never correctness). Deleting writes tombstones. Each store instance reads the
topic into a table (``Tail``), so a load is a dictionary lookup after a one-round-trip catch-up.
"""
from __future__ import annotations

import json

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ..events import Snapshot
from .config import TIMEOUT_S, KafkaConfig
from .errors import BrokerError
from .reader import Readers, Tail
from .records import recorded_at


class SnapshotTable(Tail):
    def __init__(self, config: KafkaConfig, readers: Readers) -> None:
        super().__init__(readers, config.snapshots_topic)
        self._config = config
        self._producer: Producer | None = None
        self._table: dict[str, dict[int, Snapshot]] = {}

    def apply(self, message: Message) -> None:
        key, value = message.key(), message.value()
        assert key is not None, "a compacted topic holds keyed records only"
        stream_id, schema_version = json.loads(key)
        if value is None:
            self._table.get(stream_id, {}).pop(schema_version, None)
            return
        body = json.loads(value)
        self._table.setdefault(stream_id, {})[schema_version] = Snapshot(
            stream_id, body["version"], body["state"], schema_version, recorded_at(message)
        )

    def save(self, snapshot: Snapshot) -> None:
        value = json.dumps({"version": snapshot.version, "state": snapshot.state}).encode()
        self._send([(snapshot.stream_id, snapshot.schema_version, value)])

    def load(self, stream_id: str, schema_version: int | None) -> Snapshot | None:
        self.catch_up()
        with self.lock:
            kept = self._table.get(stream_id, {})
            if schema_version is not None:
                return kept.get(schema_version)
            return max(kept.values(), key=lambda s: s.version, default=None)

    def delete(self, stream_id: str | None) -> None:
        self.catch_up()
        with self.lock:
            streams = list(self._table) if stream_id is None else [stream_id]
            keys = [(s, v) for s in streams for v in self._table.get(s, {})]
        self._send([(s, v, None) for s, v in keys])

    def _send(self, records: list[tuple[str, int, bytes | None]]) -> None:
        """Produce and wait for every delivery: a saved snapshot is readable by the next load."""
        if not records:
            return
        with self.lock:
            if self._producer is None:
                self._producer = Producer(self._config.client({"enable.idempotence": True, "linger.ms": 0}))
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, _: Message) -> None:
            if error is not None:
                failures.append(error)

        try:
            for stream_id, schema_version, value in records:
                key = json.dumps([stream_id, schema_version]).encode()
                self._producer.produce(self._topic, value, key, partition=0, on_delivery=delivered)
            unsent = self._producer.flush(TIMEOUT_S)
        except (BufferError, KafkaException) as exc:
            raise BrokerError(f"writing to {self._topic}: {exc}") from exc
        if failures or unsent:
            raise BrokerError(f"writing to {self._topic}: {failures or f'{unsent} records not delivered in {TIMEOUT_S}s'}")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(TIMEOUT_S)
            self._producer = None
