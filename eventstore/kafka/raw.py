"""Kafka's raw path: a plain confluent-kafka producer and consumer on the store's topic, for the
overhead workload.

The same broker, events topic (``<prefix>.events``, partition 0) and record format as the store
(key: stream id; value ``{"data": ..., "metadata": ...}``; headers ``event_id``, ``type``,
``version``), with librdkafka's defaults (``acks=all``) and the store's ``linger.ms=0``: an append
is ``produce`` + ``flush``, a batch is its ``produce`` calls and one ``flush``, without the
transaction, the writer fence, the index catch-up and the version check of the store. A read is a
consumer assigned to the topic from the start (``read_committed``, the default, and the store's
``fetch.wait.max.ms=1``) decoding each value with ``json.loads``. Live: a consumer of its own
assigned at the log's end, as the store's subscribers wait, returning each new record's event id.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from ..events import NewEvent
from ..plugins import RawListener, RawPath, RawRow
from .config import TIMEOUT_S, KafkaConfig
from .errors import BrokerError
from .store import KafkaStore


class KafkaRawPath(RawPath):
    describe = "plain confluent-kafka, acks=all: produce + flush per append (a batch: its produces, one flush), no transaction; a consumer from the start, json.loads"

    def __init__(self, url: str) -> None:
        config = KafkaConfig.from_url(url)
        KafkaStore(config).close()  # the topics exist, as the store creates them
        self._config = config
        self._topic = config.events_topic
        self._partition = TopicPartition(self._topic, 0)
        self._producer = Producer(config.client({"linger.ms": 0}))
        self._consumer = Consumer(config.client({"group.id": f"{config.prefix}.raw", "enable.auto.commit": False, "fetch.wait.max.ms": 1}))
        self._versions: dict[str, int] = {}
        self._failures: list[KafkaError] = []
        #: The offset the assigned consumer reads next, and the end of the read it is in.
        self._next: int | None = None
        self._end = 0

    def _failed(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failures.append(error)

    def _produce(self, stream_id: str, version: int, event: NewEvent) -> None:
        value = json.dumps({"data": event.data, "metadata": event.metadata or {}}).encode()
        headers: list[tuple[str, str | bytes | None]] = [("event_id", str(event.id).encode()), ("type", event.type.encode()), ("version", str(version).encode())]
        self._producer.produce(self._topic, value, stream_id.encode(), partition=0, headers=headers, on_delivery=self._failed)

    def _flush(self) -> None:
        left = self._producer.flush(TIMEOUT_S)
        if left or self._failures:
            failures, self._failures = self._failures, []
            raise BrokerError(f"raw produce to {self._topic}: {left} record(s) undelivered, errors {failures[:3]}")

    def append_one(self, stream_id: str, event: NewEvent) -> None:
        version = self._versions.get(stream_id, -1) + 1
        self._produce(stream_id, version, event)
        self._flush()
        self._versions[stream_id] = version

    def append_batch(self, stream_id: str, events: Sequence[NewEvent]) -> None:
        for n, event in enumerate(events):
            self._produce(stream_id, n, event)
        self._flush()

    def read_page(self, after: Any, limit: int) -> list[RawRow]:
        consumer, loads = self._consumer, json.loads
        start = 0 if after is None else int(after) + 1
        if start != self._next:
            try:
                self._end = consumer.get_watermark_offsets(self._partition, timeout=TIMEOUT_S, cached=False)[1]
                consumer.assign([TopicPartition(self._topic, 0, start)])
            except KafkaException as exc:
                raise BrokerError(f"reading {self._topic} from offset {start}: {exc.args[0]}") from exc
        rows: list[RawRow] = []
        deadline = time.monotonic() + TIMEOUT_S
        end = self._end
        while len(rows) < limit and start < end:
            batch = consumer.consume(limit - len(rows), 0.001)
            for message in batch:
                if message.error():
                    raise BrokerError(f"reading {self._topic}: {message.error()}")
                offset = message.offset()
                assert offset is not None, "a consumed record has an offset"
                if offset >= end:
                    break
                headers = dict(message.headers() or ())
                key, value, type_, version = message.key(), message.value(), headers["type"], headers["version"]
                assert isinstance(key, bytes) and value is not None and isinstance(type_, bytes) and isinstance(version, bytes)
                body, event_id = loads(value), headers["event_id"]
                assert isinstance(event_id, bytes)
                rows.append((offset, key.decode(), int(version), type_.decode(), body["data"], uuid.UUID(event_id.decode()), body["metadata"],
                             datetime.fromtimestamp(message.timestamp()[1] / 1000, UTC)))
                start = offset + 1
            # The last offsets may be transaction markers (the store writes in transactions), never
            # delivered: the consumer's position moving past them says the read is done.
            if start >= end or (not batch and consumer.position([self._partition])[0].offset >= end):
                break
            if batch:
                deadline = time.monotonic() + TIMEOUT_S
            elif time.monotonic() > deadline:
                raise BrokerError(f"reading {self._topic}: no progress towards offset {end} in {TIMEOUT_S}s")
        self._next = start if rows else None
        return rows

    def close(self) -> None:
        self._producer.flush(TIMEOUT_S)
        self._consumer.close()

    def listen(self, poll_interval: float) -> RawListener:
        return KafkaListener(self._config)


class KafkaListener(RawListener):
    describe = "a consumer of its own assigned at the log's end (read_committed, the broker holds its fetch until a record arrives), event ids from the headers"

    def __init__(self, config: KafkaConfig) -> None:
        self._topic = config.events_topic
        self._consumer = Consumer(config.client({"group.id": f"{config.prefix}.raw-live", "enable.auto.commit": False, "enable.auto.offset.store": False}))
        partition = TopicPartition(self._topic, 0)
        try:  # the end now, not OFFSET_END, which the consumer resolves later and could skip a record produced meanwhile
            end = self._consumer.get_watermark_offsets(partition, timeout=TIMEOUT_S, cached=False)[1]
            self._consumer.assign([TopicPartition(self._topic, 0, end)])
        except KafkaException as exc:
            self._consumer.close()
            raise BrokerError(f"cannot follow {self._topic}: {exc.args[0]}") from exc

    def poll(self, timeout: float) -> list[uuid.UUID]:
        try:
            first = self._consumer.poll(timeout)
            if first is None:
                return []
            messages = [first, *self._consumer.consume(10_000, 0)]  # then whatever else has arrived, without waiting
        except KafkaException as exc:
            raise BrokerError(f"following {self._topic}: {exc.args[0]}") from exc
        ids = []
        for message in messages:
            if message.error():
                raise BrokerError(f"following {self._topic}: {message.error()}")
            event_id = dict(message.headers() or ())["event_id"]
            assert isinstance(event_id, bytes)
            ids.append(uuid.UUID(event_id.decode()))
        return ids

    def close(self) -> None:
        self._consumer.close()
