"""Subscription checkpoints: the committed offset of one consumer group per subscription.

``<prefix>.checkpoint.<name>`` holds, by Kafka's convention, the next offset to read (position + 1),
so Kafka's own tools (``kafka-consumer-groups.sh --describe``) show each subscription's lag.

The offsets are read and written by a consumer of that group that never joins it: no ``subscribe()``,
no ``assign()``, just ``committed()`` (an OffsetFetch) and ``commit(offsets=...)`` (an OffsetCommit
with no member id, as Kafka's "simple consumer" commits do). Because nothing ever joins the group,
the broker has no member to wait for when a subscriber process dies (SIGKILL included): a restarted
subscriber reads its checkpoint in one round trip, with no session timeout and no rebalance.

Why not the AdminClient (``list_consumer_group_offsets`` / ``alter_consumer_group_offsets``), which
the first version used: librdkafka (up to 2.16 at least) handles a coordinator error in an admin
OffsetFetch reply (``NOT_COORDINATOR``, ``COORDINATOR_NOT_AVAILABLE``: the broker is still loading
the group's ``__consumer_offsets`` partition) by asking the client's consumer-group handle to look the
coordinator up again, and an admin client has no such handle: the process dies with SIGSEGV
(librdkafka issue #5040, ``rd_kafka_cgrp_op`` called with a NULL group). Around a broker's first
group request it also left requests unanswered until the caller's timeout. A consumer has that
handle, retries coordinator errors itself, and honours a timeout.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from ..errors import EventStoreError
from ..events import Position
from .config import TIMEOUT_S, KafkaConfig
from .errors import BrokerError

#: Errors of a group coordinator that is moving or still loading the group's ``__consumer_offsets``
#: partition (for a second or so after a broker's first group request): asked again, it answers.
_COORDINATOR_BUSY = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError._WAIT_COORD,
    KafkaError._TRANSPORT,
}
_RETRY_PAUSE_S = 0.05
#: A commit's answer arrives in a poll of the checkpoint consumer, and a poll returns only at its timeout.
_POLL_S = 0.001


class Checkpoints:
    """One non-member consumer per subscription name, created on first use and closed by ``close``."""

    def __init__(self, config: KafkaConfig, timeout_s: float = TIMEOUT_S) -> None:
        self._config = config
        self._timeout_s = timeout_s
        self._consumers: dict[str, tuple[Consumer, threading.Lock, list[Any]]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def load(self, name: str) -> Position | None:
        """The last position subscription ``name`` handled, or None before its first save."""
        consumer, lock, _ = self._consumer(name)
        deadline = time.monotonic() + self._timeout_s
        with lock:
            while True:
                left = deadline - time.monotonic()
                try:
                    (partition,) = consumer.committed([TopicPartition(self._config.events_topic, 0)], timeout=max(left, 0.001))
                    error = partition.error
                except KafkaException as exc:
                    error = exc.args[0]
                if error is None:
                    return partition.offset - 1 if partition.offset >= 0 else None
                if error.code() not in _COORDINATOR_BUSY or time.monotonic() + _RETRY_PAUSE_S > deadline:
                    raise BrokerError(f"cannot read checkpoint {name!r} (timeout {self._timeout_s:g}s): {error}")
                time.sleep(_RETRY_PAUSE_S)

    def save(self, name: str, position: int) -> None:
        """Commit ``position + 1`` and wait for the coordinator's answer (at most the timeout).

        ``commit(asynchronous=False)`` waits for an unreachable coordinator far longer than the
        timeout (45 s here), so the commit is asynchronous and its answer, recognised by its offset,
        is collected by polling this consumer (which has no partitions: a poll only serves
        callbacks and log lines).
        """
        consumer, lock, answers = self._consumer(name)
        wanted = position + 1
        deadline = time.monotonic() + self._timeout_s
        with lock:
            while True:
                answers.clear()
                try:
                    consumer.commit(offsets=[TopicPartition(self._config.events_topic, 0, wanted)], asynchronous=True)
                    while (answer := _answer_for(answers, wanted)) is None:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise BrokerError(f"cannot save checkpoint {name!r}: no answer within {self._timeout_s:g}s (it may be saved yet)")
                        consumer.poll(min(left, _POLL_S))
                except KafkaException as exc:
                    raise BrokerError(f"cannot save checkpoint {name!r}: {exc.args[0]}") from exc
                if answer is _SAVED:
                    return
                if answer.code() not in _COORDINATOR_BUSY or time.monotonic() + _RETRY_PAUSE_S > deadline:
                    raise BrokerError(f"cannot save checkpoint {name!r} (timeout {self._timeout_s:g}s): {answer}")
                time.sleep(_RETRY_PAUSE_S)

    def _consumer(self, name: str) -> tuple[Consumer, threading.Lock, list[Any]]:
        with self._lock:
            if self._closed:
                raise EventStoreError("the Kafka store is closed")
            if name not in self._consumers:
                answers: list[tuple[KafkaError | None, list[TopicPartition]]] = []
                session_ms = max(1, int(self._timeout_s * 1000))
                consumer = Consumer(self._config.client({
                    "group.id": self._config.checkpoint_group(name),
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "on_commit": lambda error, partitions: answers.append((error, partitions)),
                    # Never used for membership (nothing joins); librdkafka gives up a commit still
                    # waiting for a coordinator after this long, and ``close`` waits for such a
                    # commit: the default 45 s would let ``close`` outlast the timeout.
                    "session.timeout.ms": session_ms,
                    "heartbeat.interval.ms": max(1, min(3000, session_ms // 3)),
                }))
                self._consumers[name] = (consumer, threading.Lock(), answers)
            return self._consumers[name]

    def close(self) -> None:
        """Close every consumer once (each waits for a save in progress, never for a group: none joined)."""
        with self._lock:
            consumers, self._consumers, self._closed = self._consumers, {}, True
        for consumer, lock, _ in consumers.values():
            with lock:
                consumer.close()


_SAVED = object()


def _answer_for(answers: list[tuple[KafkaError | None, list[TopicPartition] | None]], offset: int) -> Any:
    """``_SAVED``, the error, or None while the commit of ``offset`` is unanswered (an answer to an
    earlier commit that gave up waiting can still arrive, and must not be taken for this one's)."""
    for error, partitions in answers:
        mine = [p for p in partitions or () if p.offset == offset]
        if mine:
            return error or mine[0].error or _SAVED
        if error is not None and not partitions:
            return error
    return None
