"""The Kafka launcher starts a real broker whose transactions behave as the event-store adapter relies on."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from eventstore.kafka.server import KafkaBroker
from eventstore.servers import ServiceUnavailable, port_accepts


def _read_committed_until(bootstrap: str, topic: str, last_value: bytes, timeout_s: float = 30) -> list[bytes]:
    """Values of partition 0 from the start, up to and including ``last_value``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-kafka-service",
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and last_value not in values:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            values.append(msg.value())
    finally:
        consumer.close()
    return values


def _create_produce_consume(bootstrap: str) -> None:
    """Kept apart so its clients are gone (and quiet) before the broker stops."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic("events", num_partitions=1), NewTopic("sized-by-broker")])
    for future in futures.values():
        future.result(30)
    deadline = time.monotonic() + 30
    while "sized-by-broker" not in (topics := admin.list_topics(timeout=10).topics) and time.monotonic() < deadline:
        time.sleep(0.1)  # a created topic reaches the metadata cache a moment after create_topics returns
    assert len(topics["sized-by-broker"].partitions) == 3  # num.partitions follows the constructor

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "transactional.id": "test-kafka-service"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce("events", key=b"stream-1", value=f"event-{i}".encode())
    producer.commit_transaction(30)
    producer.begin_transaction()  # aborted: must stay invisible to read_committed consumers
    for i in range(3):
        producer.produce("events", key=b"stream-1", value=f"aborted-{i}".encode())
    producer.flush(30)
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce("events", key=b"stream-1", value=b"end")
    producer.commit_transaction(30)

    values = _read_committed_until(bootstrap, "events", b"end")
    assert values == [f"event-{i}".encode() for i in range(10)] + [b"end"]


def test_broker_runs_transactions_and_stops() -> None:
    started = time.monotonic()
    broker = KafkaBroker(partitions=3).start()
    print(f"\n{broker.version} ready on {broker.bootstrap_servers} after {time.monotonic() - started:.1f}s")
    port = broker.port
    try:
        assert re.fullmatch(r"Apache Kafka 4\.\d+\.\d+", broker.version)
        assert broker.emulator is False
        # The first broker on this machine archived its classes; every start since maps them (AppCDS).
        assert any(arg.startswith("-XX:SharedArchiveFile=") for arg in broker.command())
        _create_produce_consume(broker.bootstrap_servers)
    finally:
        tmp_dir = broker.tmp_dir
        broker.stop()
    assert not port_accepts(port)
    assert tmp_dir is not None and not tmp_dir.exists()
    broker.stop()  # idempotent


def test_busy_port_is_refused_before_anything_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        broker = KafkaBroker(port=taken.getsockname()[1])
        with pytest.raises(ServiceUnavailable, match="already in use"):
            broker.start()
    assert broker.tmp_dir is None


def test_bad_config_fails_with_the_kafka_error(tmp_path: Path) -> None:
    broker = KafkaBroker(partitions=0, base_dir=tmp_path)
    with pytest.raises(ServiceUnavailable, match="Invalid value 0 for configuration num.partitions"):
        broker.start()
    assert list(tmp_path.iterdir()) == []  # temp dir removed
