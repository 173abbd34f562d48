"""The store's topics, through one AdminClient (checkpoints are not read or written here: see ``checkpoints.py``)."""
from __future__ import annotations

import time
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from ..errors import InvalidInput
from .config import TIMEOUT_S, KafkaConfig
from .errors import BrokerError

#: Events are the system of record: kept forever, stamped with the broker's clock.
EVENTS_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete", "message.timestamp.type": "LogAppendTime"}
SNAPSHOTS_TOPIC_CONFIG = {"cleanup.policy": "compact", "message.timestamp.type": "LogAppendTime"}


class Admin:
    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self._handle: AdminClient | None = AdminClient(config.client())

    @property
    def _client(self) -> AdminClient:
        """The client, opened again if ``release`` let it go (``drop`` after ``close``)."""
        if self._handle is None:
            self._handle = AdminClient(self._config.client())
        return self._handle

    def release(self) -> None:
        """Let the client go now (librdkafka's AdminClient has no close: its handle is destroyed with
        the last reference), so it does not linger, connected to the brokers it learned, until the
        garbage collector finds the store. Idempotent."""
        if self._handle is not None:
            self.serve_log()
        self._handle = None

    def ensure_topics(self) -> None:
        """Create both topics with one partition each (idempotent), then wait until they have a leader."""
        try:
            self._ensure_topics()
        finally:
            self.serve_log()

    def _ensure_topics(self) -> None:
        c = self._config
        flush = {} if c.flush_messages is None else {"flush.messages": str(c.flush_messages)}
        wanted = {c.events_topic: EVENTS_TOPIC_CONFIG | flush, c.snapshots_topic: SNAPSHOTS_TOPIC_CONFIG}
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

    def events_flush_messages(self) -> str:
        """The events topic's ``flush.messages`` as the broker applies it (a topic created before, by
        a store without the URL's setting, keeps its own: this says which one holds)."""
        try:
            resource = ConfigResource("TOPIC", self._config.events_topic)
            entries = _result(self._client.describe_configs([resource], request_timeout=TIMEOUT_S)[resource], "cannot describe the events topic")
            return str(entries["flush.messages"].value)
        finally:
            self.serve_log()

    def destroy(self) -> None:
        """Delete both topics and every checkpoint group of the prefix (transactional ids expire on their own)."""
        try:
            self._destroy()
        finally:
            self.serve_log()

    def _destroy(self) -> None:
        c = self._config
        listing = _result(self._client.list_consumer_groups(request_timeout=TIMEOUT_S), "cannot list consumer groups")
        groups = [g.group_id for g in listing.valid if g.group_id.startswith(c.checkpoint_group(""))]
        futures = list(self._client.delete_topics([c.events_topic, c.snapshots_topic], operation_timeout=TIMEOUT_S).values())
        if groups:
            futures += self._client.delete_consumer_groups(groups, request_timeout=TIMEOUT_S).values()
        for future in futures:
            _result(future, f"cannot delete the store {c.prefix!r}", tolerate=(KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.GROUP_ID_NOT_FOUND))

    def serve_log(self) -> None:
        """Hand the client's queued log lines to Python logging (librdkafka delivers them only in a poll)."""
        if self._handle is not None:
            self._handle.poll(0)


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
