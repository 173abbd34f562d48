"""The transactional producer that appends to the events partition, and the fence it holds.

Kafka has no conditional write, but it has fencing: when a producer calls ``init_transactions``
with a ``transactional.id``, the broker aborts any transaction still open under that id and
refuses every later request from the previous producer with it. In fenced mode all store
instances of a prefix share one id, so at most one of them can commit at a time, and a commit
that succeeds proves that no other instance wrote since this one took the fence: the
expected-version check it made, against an index read up to the log's end after taking the
fence, still held. Taking the fence also settles the previous holder's unfinished transaction
(committed or aborted, never left open), which is why reading after it sees every write there is.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from .config import TIMEOUT_S, KafkaConfig
from .errors import BrokerError
from .records import Record, offset_of

#: Longest an open transaction can hold back readers (the LSO) if its writer dies.
TRANSACTION_TIMEOUT_MS = 10_000
#: Longest one call into a transactional API blocks: Python handles Ctrl-C only between calls.
SLICE_S = 0.5


def resumed(call: Callable[[float], object], timeout: float = TIMEOUT_S) -> None:
    """Run ``init_transactions``, ``commit_transaction`` or ``abort_transaction`` for up to
    ``timeout`` in slices of ``SLICE_S``. librdkafka lets each be called again after it timed out
    or failed with a retriable error (a coordinator still loading), and the call resumes where it
    was; one long call would hold off Ctrl-C until it ended (up to ``TIMEOUT_S`` against a broker
    that has gone away)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            call(max(min(SLICE_S, left), 0.001))
            return
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if not (error.retriable() or error.code() == KafkaError._TIMED_OUT) or left <= SLICE_S:
                raise


class FenceLost(Exception):
    """The transaction did not commit, or may have: take the fence again and look at the log to know."""


class Writer:
    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self._producer: Producer | None = None
        #: Kept for the writer's life (a naive instance's own id too): taking it again after a failed
        #: commit settles that commit's transaction (the broker completes or aborts it first). A new
        #: id would settle nothing, and a transaction the broker left without its markers after a
        #: crash would hold back every reader for good (README.md, "Durability").
        self.transactional_id = config.transactional_id()

    def take_fence(self) -> None:
        """Hold the fence, unless already held (or believed held: only a commit can tell)."""
        if self._producer is not None:
            return
        transactional_id = self.transactional_id
        producer = Producer(self._config.client(writer=True, settings={
            "transactional.id": transactional_id,
            "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
            "linger.ms": 0,
        }))
        try:
            resumed(producer.init_transactions)
        except KafkaException as exc:
            raise BrokerError(f"cannot take the writer fence {transactional_id!r}: {exc}") from exc
        self._producer = producer

    def commit(self, topic: str, records: list[Record]) -> list[int]:
        """Write ``records`` to partition 0 in one transaction; their offsets.

        Raises ``FenceLost`` when another instance took the fence or the outcome is unknown, and
        ``BrokerError`` when the transaction was aborted (nothing written).
        """
        producer = self._producer
        assert producer is not None, "take_fence() first"
        offsets: list[int] = [-1] * len(records)

        def delivered(n: int) -> Callable[[KafkaError | None, Message], None]:
            def record(error: KafkaError | None, message: Message) -> None:
                if error is None:
                    offsets[n] = offset_of(message)

            return record

        try:
            producer.begin_transaction()
            for n, (key, value, headers) in enumerate(records):
                while True:
                    try:
                        producer.produce(topic, value, key, partition=0, headers=headers, on_delivery=delivered(n))
                        break
                    except BufferError:  # the local queue is full: send some, then go on
                        producer.poll(0.1)
            producer.flush(TIMEOUT_S)  # serves the delivery callbacks, which carry the offsets
            resumed(producer.commit_transaction)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.txn_requires_abort() and self._abort():
                raise BrokerError(f"append aborted, nothing written: {error}") from exc
            self.release()
            raise FenceLost(str(error)) from exc
        if min(offsets) < 0:  # committed, yet a delivery report is missing: the log will tell
            self.release()
            raise FenceLost("committed without every delivery report")
        return offsets

    def _abort(self) -> bool:
        assert self._producer is not None, "called by commit(), on its producer"
        try:
            resumed(self._producer.abort_transaction)
            return True
        except KafkaException:
            return False

    def release(self) -> None:
        """Drop the producer; an open transaction of it is aborted by whoever takes the fence next."""
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.purge()
