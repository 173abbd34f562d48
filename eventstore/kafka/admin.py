"""The store's topics and its checkpoints (consumer-group offsets), through one AdminClient."""
from __future__ import annotations

import time
from concurrent.futures import Future
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ..errors import InvalidInput
from ..events import Position
from .config import TIMEOUT_S, KafkaConfig
from .errors import BrokerError

#: Events are the system of record: kept forever, stamped with the broker's clock.
EVENTS_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete", "message.timestamp.type": "LogAppendTime"}
SNAPSHOTS_TOPIC_CONFIG = {"cleanup.policy": "compact", "message.timestamp.type": "LogAppendTime"}


class Admin:
    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self._client = AdminClient(config.client())

    def ensure_topics(self) -> None:
        """Create both topics with one partition each (idempotent), then wait until they have a leader."""
        c = self._config
        wanted = {c.events_topic: EVENTS_TOPIC_CONFIG, c.snapshots_topic: SNAPSHOTS_TOPIC_CONFIG}
        futures = self._client.create_topics([NewTopic(t, 1, config=cfg) for t, cfg in wanted.items()], operation_timeout=TIMEOUT_S)
        for topic, future in futures.items():
            _result(future, f"cannot create topic {topic}", tolerate=(KafkaError.TOPIC_ALREADY_EXISTS,))
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                topics = self._client.list_topics(timeout=TIMEOUT_S).topics
            except KafkaException as exc:
                raise BrokerError(f"cannot list topics: {exc}") from exc
            ready = [t for t in wanted if t in topics and topics[t].partitions and all(p.leader >= 0 for p in topics[t].partitions.values())]
            if len(ready) == len(wanted):
                break
            if time.monotonic() > deadline:
                raise BrokerError(f"topics {sorted(set(wanted) - set(ready))} have no leader after {TIMEOUT_S}s")
            time.sleep(0.05)
        partitions = len(topics[c.events_topic].partitions)
        if partitions != 1:
            raise InvalidInput(f"topic {c.events_topic} has {partitions} partitions; this store needs exactly 1 (its total order)")

    def load_checkpoint(self, name: str) -> Position | None:
        """The group's committed offset is the next offset to read, so the checkpoint is one less."""
        request = ConsumerGroupTopicPartitions(self._config.checkpoint_group(name), [TopicPartition(self._config.events_topic, 0)])
        (future,) = self._client.list_consumer_group_offsets([request]).values()
        (partition,) = _result(future, f"cannot read checkpoint {name!r}").topic_partitions
        if partition.error is not None:
            raise BrokerError(f"cannot read checkpoint {name!r}: {partition.error}")
        return partition.offset - 1 if partition.offset >= 0 else None

    def save_checkpoint(self, name: str, position: int) -> None:
        partition = TopicPartition(self._config.events_topic, 0, position + 1)
        request = ConsumerGroupTopicPartitions(self._config.checkpoint_group(name), [partition])
        (future,) = self._client.alter_consumer_group_offsets([request]).values()
        (saved,) = _result(future, f"cannot save checkpoint {name!r}").topic_partitions
        if saved.error is not None:
            raise BrokerError(f"cannot save checkpoint {name!r}: {saved.error}")

    def destroy(self) -> None:
        """Delete both topics and every checkpoint group of the prefix (transactional ids expire on their own)."""
        c = self._config
        listing = _result(self._client.list_consumer_groups(request_timeout=TIMEOUT_S), "cannot list consumer groups")
        groups = [g.group_id for g in listing.valid if g.group_id.startswith(c.checkpoint_group(""))]
        futures = list(self._client.delete_topics([c.events_topic, c.snapshots_topic], operation_timeout=TIMEOUT_S).values())
        if groups:
            futures += self._client.delete_consumer_groups(groups, request_timeout=TIMEOUT_S).values()
        for future in futures:
            _result(future, f"cannot delete the store {c.prefix!r}", tolerate=(KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.GROUP_ID_NOT_FOUND))


def _result(future: Future, failure: str, tolerate: tuple[int, ...] = ()) -> Any:
    """An admin request's result (None for a tolerated error); any other failure raises ``BrokerError``."""
    try:
        return future.result(TIMEOUT_S)
    except KafkaException as exc:
        if exc.args[0].code() in tolerate:
            return None
        raise BrokerError(f"{failure}: {exc}") from exc
    except TimeoutError as exc:
        raise BrokerError(f"{failure}: no answer within {TIMEOUT_S}s") from exc
