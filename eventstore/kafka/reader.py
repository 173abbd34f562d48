"""Reading the single-partition topics: bounded scans by pooled consumers, and views kept up to date.

Reads never join a consumer group: a pooled consumer is ``assign()``-ed to the range a read needs
and unassigned after. Every consumer is ``read_committed``, so it stops at the last stable offset
(LSO): records of an open transaction, and everything after them, stay invisible until it commits,
and aborted records never appear. ``end_offset`` returns that LSO, which bounds every read.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator
from contextlib import contextmanager

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from .config import TIMEOUT_S, KafkaConfig
from .errors import BrokerError
from .records import offset_of

_BATCH = 1000
#: Errors of a partition between leaders, for example a new topic the broker does not serve yet.
_LEADER_MOVING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE}
#: How a query ends that ran out of time before the client's connection was up (a new consumer on a
#: busy machine, a broker restarting): the next, longer query may get through.
_NOT_CONNECTED_YET = {KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT}
_WAIT_S = 0.001
#: How long the first end-offset query waits; each next one waits twice as long (``end_offset``).
FIRST_QUERY_S = 0.5


class Readers:
    """A pool of idle consumers, one borrowed per read, so concurrent reads do not queue behind each other."""

    def __init__(self, config: KafkaConfig) -> None:
        self._settings = config.client({
            "group.id": config.reader_group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # The broker holds an empty fetch this long; kept tiny because a fetch left in flight at
            # the end of one read would otherwise delay the next request on the same connection.
            "fetch.wait.max.ms": 1,
        })
        self._idle: list[Consumer] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def borrow(self) -> Iterator[Consumer]:
        """An idle consumer (a new one if none is idle), back to the pool after; closed instead when
        the pool was closed meanwhile, so that no consumer outlives the store unclosed."""
        with self._lock:
            consumer = self._idle.pop() if self._idle else None
        if consumer is None:
            consumer = Consumer(self._settings)
        try:
            yield consumer
        finally:
            with self._lock:
                keep = not self._closed
                if keep:
                    self._idle.append(consumer)
            if not keep:
                consumer.close()

    def end_offset(self, topic: str) -> int:
        """The LSO of partition 0: every offset below it is committed or aborted, none is still open."""
        deadline = time.monotonic() + TIMEOUT_S
        # Each query waits twice as long as the one before: a short call lets Ctrl-C through
        # (Python handles it only between calls), a growing one still reaches a slow broker.
        wait = FIRST_QUERY_S
        with self.borrow() as consumer:
            while True:
                try:
                    left = deadline - time.monotonic()
                    return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=max(min(wait, left), 0.001))[1]
                except KafkaException as exc:
                    error = exc.args[0]
                    transient = error.retriable() or error.code() in _LEADER_MOVING | _NOT_CONNECTED_YET
                    if not transient or time.monotonic() > deadline:
                        raise BrokerError(f"cannot read the end offset of {topic}: {exc}") from exc
                wait *= 2
                time.sleep(0.01)

    def wait_visible(self, topic: str, offset: int) -> None:
        """Return once ``offset`` is below the LSO, i.e. readable by every ``read_committed`` consumer.

        A commit returns when the broker has decided it, before the commit markers reach the
        partition; until they do, the records stay invisible, even to the writer that committed them.
        """
        deadline = time.monotonic() + TIMEOUT_S
        while self.end_offset(topic) <= offset:
            if time.monotonic() > deadline:
                raise BrokerError(f"offset {offset} of {topic} was committed but not readable after {TIMEOUT_S}s")
            time.sleep(_WAIT_S)

    def scan(self, topic: str, start: int, end: int) -> Generator[Message, None, None]:
        """The committed records of partition 0 with ``start <= offset < end`` (``end`` at most the LSO)."""
        if start >= end:
            return
        partition = TopicPartition(topic, 0)
        with self.borrow() as consumer:
            try:
                consumer.assign([TopicPartition(topic, 0, start)])
                deadline = time.monotonic() + TIMEOUT_S
                while True:
                    batch = consumer.consume(_BATCH, _WAIT_S)
                    for message in batch:
                        if message.error():
                            raise BrokerError(f"reading {topic} from offset {start}: {message.error()}")
                        if offset_of(message) >= end:
                            return
                        yield message
                    # The last records before ``end`` may be transaction markers, which are never
                    # delivered: the consumer's position moving past them says the range is done.
                    if (batch and offset_of(batch[-1]) >= end - 1) or consumer.position([partition])[0].offset >= end:
                        return
                    if batch:
                        deadline = time.monotonic() + TIMEOUT_S
                    elif time.monotonic() > deadline:
                        raise BrokerError(f"reading {topic}: no progress towards offset {end} in {TIMEOUT_S}s")
            except KafkaException as exc:
                raise BrokerError(f"reading {topic} from offset {start}: {exc.args[0]}") from exc
            finally:
                consumer.unassign()

    def close(self) -> None:
        """Close every idle consumer once; a borrowed one is closed when it comes back."""
        with self._lock:
            idle, self._idle, self._closed = self._idle, [], True
        for consumer in idle:
            consumer.close()


class Tail(ABC):
    """A view of a topic kept current by reading on from where it last stopped (a table, as Kafka Streams keeps one)."""

    def __init__(self, readers: Readers, topic: str) -> None:
        self._readers = readers
        self._topic = topic
        self._next = 0
        self.lock = threading.Lock()

    def catch_up(self) -> int:
        """Apply every record committed since the last catch-up (one round trip when there is none);
        returns the offset the view now covers, exclusive."""
        with self.lock:
            end = self._readers.end_offset(self._topic)
            for message in self._readers.scan(self._topic, self._next, end):
                self.apply(message)
            self._next = max(self._next, end)
            return self._next

    @abstractmethod
    def apply(self, message: Message) -> None:
        """Fold one record into the view; called in offset order, under ``lock``."""
