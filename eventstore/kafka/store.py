"""``kafka://``: an event store on one Kafka partition per prefix.

Topics: ``<prefix>.events`` (1 partition, kept forever, key = stream id) and ``<prefix>.snapshots``
(compacted). The partition's offset is the global position. Appends are transactions of the
fenced writer (``writer.py``); reads are bounded scans by ``read_committed`` consumers
(``reader.py``), guided by an in-memory index of the log (``index.py``). Checkpoints are the
committed offsets of one consumer group per subscription, which nothing ever joins
(``checkpoints.py``).
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

from ..capabilities import EngineInfo
from ..errors import InvalidInput, UnsupportedOperation
from ..events import AppendResult, ExpectedVersion, Position, RecordedEvent, Snapshot, category_of
from ..store import EventStore, check_expected, match_retry
from ..validation import PreparedEvent
from .admin import Admin
from .capabilities import FENCED, NAIVE
from .checkpoints import Checkpoints
from .config import KafkaConfig
from .errors import BrokerError, WriterFenced
from .index import EventIndex
from .reader import Readers
from .records import decode, encode, headers, offset_of
from .snapshots import SnapshotTable
from .writer import FenceLost, Writer

#: Times an append re-takes the fence after losing it before giving up with ``WriterFenced``.
FENCE_ATTEMPTS = 10


class KafkaStore(EventStore):
    """One store instance: its own fence handle, index, snapshot table and pool of consumers."""

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self.capabilities = FENCED if config.mode == "fenced" else NAIVE
        self.engine = EngineInfo("kafka", "Apache Kafka", config.version, emulator=False, mode=config.mode)
        self._admin = Admin(config)
        self._admin.ensure_topics()
        self._readers = Readers(config)
        self._index = EventIndex(self._readers, config.events_topic)
        self._snapshots = SnapshotTable(config, self._readers)
        self._writer = Writer(config)
        self._write_lock = threading.Lock()
        self._checkpoints = Checkpoints(config)

    @classmethod
    def from_url(cls, url: str) -> KafkaStore:
        return cls(KafkaConfig.from_url(url))

    def settings_summary(self) -> dict[str, Any]:
        c = self.config
        return {
            "topics": f"{c.events_topic} (1 partition, retention forever), {c.snapshots_topic} (compacted)",
            "mode": c.mode,
            "writer": f"transactional.id {c.writer_id}" + (" shared by all instances" if c.mode == "fenced" else ".<uuid>, one per instance"),
            "isolation": "read_committed",
            "checkpoints": f"committed offsets of consumer groups {c.checkpoint_group('<name>')} (never joined)",
            # 1: the broker fsyncs the events log after each message; its default (2^63 - 1) leaves it to the OS.
            "flush.messages": self._admin.events_flush_messages(),
        }

    # -- append --------------------------------------------------------------------------------

    def _append(self, stream_id: str, batch: list[PreparedEvent], expected: ExpectedVersion) -> AppendResult:
        ids = [str(e.id) for e in batch]
        with self._write_lock:
            current: int | None = None
            for attempt in range(FENCE_ATTEMPTS):
                self._writer.take_fence()
                self._index.catch_up()
                retry = match_retry(stream_id, batch, expected, self._index.stored(ids))
                if retry is not None:
                    return retry
                current = self._index.version(stream_id)
                check_expected(stream_id, expected, current)
                first = 0 if current is None else current + 1
                records = [encode(stream_id, first + n, e) for n, e in enumerate(batch)]
                try:
                    offsets = self._writer.commit(self.config.events_topic, records)
                except FenceLost:
                    time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # desynchronise instances that fence each other
                    continue
                try:
                    self._readers.wait_visible(self.config.events_topic, offsets[-1])
                except BaseException:
                    # Committed, but its markers may not be in the log yet (the broker crashed after
                    # deciding the commit), so the index cannot see the batch: a retry that trusted it
                    # would write the batch again. Whoever appends next re-takes the fence, which
                    # settles this transaction before the index is read. (A naive instance takes a
                    # new transactional id instead, which settles nothing: it promises no idempotency.)
                    self._writer.release()
                    raise
                return AppendResult(stream_id, first, first + len(batch) - 1, offsets[-1])
            raise WriterFenced(stream_id, expected, current, FENCE_ATTEMPTS)

    # -- reads ---------------------------------------------------------------------------------

    def _read_stream(self, stream_id: str, from_version: int, limit: int | None, backwards: bool) -> list[RecordedEvent]:
        """Look the stream's offsets up in the index, then scan the partition across their span."""
        self._index.catch_up()
        offsets = self._index.offsets(stream_id)
        if backwards:
            top = len(offsets) if from_version == 0 else min(from_version + 1, len(offsets))
            versions = range(top - 1, -1, -1)
        else:
            versions = range(from_version, len(offsets))
        chosen = {offsets[v]: v for v in versions[:limit]}
        if not chosen:
            return []
        found = [decode(m, chosen[offset_of(m)]) for m in self._readers.scan(self.config.events_topic, min(chosen), max(chosen) + 1) if offset_of(m) in chosen]
        if len(found) != len(chosen):
            raise BrokerError(f"{len(chosen) - len(found)} events of {stream_id!r} are gone from {self.config.events_topic} (retention or deletion)")
        return found[::-1] if backwards else found

    def _read_all(self, after: Position | None, limit: int | None, types: list[str] | None, categories: list[str] | None) -> list[RecordedEvent]:
        if types == [] or categories == []:
            return []
        topic = self.config.events_topic
        assert after is None or isinstance(after, int)  # _check_position admits offsets only
        start = 0 if after is None else int(after) + 1
        out: list[RecordedEvent] = []
        with closing(self._readers.scan(topic, start, self._index.catch_up())) as records:
            for message in records:
                stream_id, _, type_ = headers(message)
                if (types is None or type_ in types) and (categories is None or category_of(stream_id) in categories):
                    out.append(decode(message, self._index.version_at(stream_id, offset_of(message))))
                    if limit is not None and len(out) >= limit:
                        break
        return out

    def _check_position(self, after: object) -> Position | None:
        position = super()._check_position(after)
        if isinstance(position, int) and position < 0:
            raise InvalidInput(f"position must be an offset >= 0 from a recorded event of this store, not {after!r}")
        return position

    # -- checkpoints and snapshots -------------------------------------------------------------

    def _load_checkpoint(self, name: str) -> Position | None:
        return self._checkpoints.load(name)

    def _save_checkpoint(self, name: str, position: Position, tx: Any) -> None:
        if tx is not None:
            raise UnsupportedOperation("kafka does not support transactional checkpoints")
        assert isinstance(position, int)  # _check_position admits offsets only
        self._checkpoints.save(name, int(position))

    def _save_snapshot(self, snapshot: Snapshot) -> None:
        self._snapshots.save(snapshot)

    def _load_snapshot(self, stream_id: str, schema_version: int | None) -> Snapshot | None:
        return self._snapshots.load(stream_id, schema_version)

    def _delete_snapshots(self, stream_id: str | None) -> None:
        self._snapshots.delete(stream_id)

    # -- live ----------------------------------------------------------------------------------

    @contextmanager
    def notifications(self) -> Iterator[Callable[[float], bool]]:
        """A consumer parked at the log's end: the broker holds its fetch until a committed event
        arrives, and ``wait`` returns True then."""
        consumer = Consumer(self.config.client({
            "group.id": self.config.reader_group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }))

        def wait(timeout: float) -> bool:
            try:
                if consumer.poll(timeout) is None:
                    return False
                consumer.consume(10_000, 0)  # one wake-up per burst of appends, not one per event
                return True
            except KafkaException as exc:
                raise BrokerError(f"waiting for new events in {self.config.events_topic}: {exc.args[0]}") from exc

        try:
            try:
                consumer.assign([TopicPartition(self.config.events_topic, 0, OFFSET_END)])
            except KafkaException as exc:
                raise BrokerError(f"cannot follow {self.config.events_topic}: {exc.args[0]}") from exc
            yield wait
        finally:
            consumer.close()

    # -- lifecycle -----------------------------------------------------------------------------

    def drop(self) -> None:
        """Delete this prefix's topics and checkpoint groups: every event is gone. The store is closed."""
        self.close()
        try:
            self._admin.destroy()
        finally:
            self._admin.release()

    def close(self) -> None:
        """Release every client; each librdkafka handle is closed exactly once, here, not left to
        a destructor at interpreter exit. Idempotent."""
        with self._write_lock:
            self._writer.release()
        self._checkpoints.close()
        self._snapshots.close()
        self._readers.close()
        self._admin.release()
