"""The Kafka backend on a real Apache Kafka broker: the conformance suite, then what Kafka does not give."""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from bench.harness import engines
from eventstore import ConcurrencyError, EventStore, InvalidInput, NewEvent, Repository, StoreUnavailable, StreamState, execute, open_store
from eventstore.kafka import FENCED, NAIVE, BrokerError, KafkaConfig, KafkaStore, reader, writer
from eventstore.kafka.capabilities import MAX_EVENT_BYTES
from eventstore.kafka.checkpoints import Checkpoints
from eventstore.kafka.config import BOOTSTRAP_ENV, FENCING, ClientLog
from eventstore.kafka.engine import FENCED as FENCED_ENGINE
from eventstore.kafka.records import encode
from eventstore.kafka.server import KafkaBroker
from eventstore.plugins import Servers
from eventstore.testing.base import Counter
from eventstore.validation import prepare_batch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bootstrap(servers: Servers) -> str:
    """The session's broker: ``EVENTSTORE_KAFKA_BOOTSTRAP`` or a throwaway one."""
    return FENCED_ENGINE.broker(servers)[0]


def fresh_url(bootstrap: str, mode: str = "fenced") -> str:
    return f"kafka://{bootstrap}?prefix=t{uuid.uuid4().hex[:12]}&mode={mode}"


# -- Kafka-specific: what the capabilities declare, shown on the broker ---------------------------


@pytest.fixture
def url(bootstrap: str) -> Iterator[str]:
    """A fresh fenced prefix, deleted after the test."""
    u = fresh_url(bootstrap)
    yield u
    KafkaStore.from_url(u).drop()


def eventually(read: Callable[[], list], timeout: float = 10.0) -> list:
    """The first non-empty result of ``read``: a commit or abort returns before its markers are in the log."""
    deadline = time.monotonic() + timeout
    while not (result := read()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return result


def quiet(**settings: object) -> dict[str, object]:
    """Settings for the tests' own clients: librdkafka logs to Python logging, not to stderr."""
    return {"logger": logging.getLogger("tests.kafka.client"), **settings}


def naive(url: str) -> str:
    return url.replace("mode=fenced", "mode=naive")


def race(loser: KafkaStore, winner: KafkaStore, stream_id: str, expected: int) -> list[str]:
    """Make ``winner`` append right after ``loser`` has checked ``expected`` and before it commits.

    Returns what happened to the loser's commit attempts ("committed" or the exception's name).
    """
    commit = loser._writer.commit
    attempts: list[str] = []

    def interleaved(topic: str, records: list) -> list[int]:
        if not attempts:
            winner.append(stream_id, [NewEvent("Won", {})], expected)
        try:
            offsets = commit(topic, records)
        except Exception as exc:
            attempts.append(type(exc).__name__)
            raise
        attempts.append("committed")
        return offsets

    loser._writer.commit = interleaved  # type: ignore[method-assign]  # deliberate: records the loser's attempts
    return attempts


def test_engine_and_capabilities_are_declared_per_mode(url: str) -> None:
    with open_store(url + "&version=Apache%20Kafka%204.4.0") as fenced, open_store(naive(url)) as racy:
        assert (fenced.engine.backend, fenced.engine.engine, fenced.engine.version, fenced.engine.emulator) == ("kafka", "Apache Kafka", "4.4.0", False)
        assert (fenced.engine.mode, racy.engine.mode, racy.engine.version) == ("fenced", "naive", "unknown")
        assert fenced.capabilities == FENCED and racy.capabilities == NAIVE
        assert FENCED.optimistic_concurrency and FENCED.idempotent_append
        assert not NAIVE.optimistic_concurrency and not NAIVE.idempotent_append
        for caps in (FENCED, NAIVE):
            assert caps.atomic_batch and caps.global_order and caps.gap_safe_global_order and caps.snapshots
            assert not caps.indexed_category_reads and not caps.transactional_checkpoints


def test_fence_refuses_another_instances_stale_check(url: str) -> None:
    """Two instances, one prefix: the write that lands between B's check and B's commit fences B."""
    with open_store(url) as a, open_store(url) as b:
        s = f"Order-{uuid.uuid4()}"
        b.append(s, [NewEvent("Placed", {})], StreamState.NO_STREAM)  # b holds the fence and an index at version 0
        attempts = race(b, a, s, expected=0)
        with pytest.raises(ConcurrencyError) as info:
            b.append(s, [NewEvent("Lost", {})], 0)
        assert attempts == ["FenceLost"]  # b's check passed; the broker refused its commit
        assert (info.value.expected, info.value.actual) == (0, 1)
        assert [e.type for e in a.read_stream(s)] == ["Placed", "Won"]


def test_naive_mode_loses_the_update(url: str) -> None:
    """The same race without the shared fence: both appends at version 0 succeed."""
    with open_store(naive(url)) as a, open_store(naive(url)) as b:
        s = f"Order-{uuid.uuid4()}"
        b.append(s, [NewEvent("Placed", {})], StreamState.NO_STREAM)
        attempts = race(b, a, s, expected=0)
        told = b.append(s, [NewEvent("Lost", {})], 0)
        assert attempts == ["committed"]
        assert told.last_version == 1  # b was told it wrote version 1 ...
        stored = a.read_stream(s)
        assert [(e.type, e.version) for e in stored] == [("Placed", 0), ("Won", 1), ("Lost", 2)]  # ... it is version 2


def test_instances_contending_for_the_fence_lose_no_update(url: str) -> None:
    stores = [open_store(url) for _ in range(3)]
    errors: list[BaseException] = []

    def add_four(store: EventStore) -> None:
        repo = Repository(store, Counter, snapshot_every=0)
        try:
            for _ in range(4):
                execute(repo, "hot", lambda c: [NewEvent("Added", {"by": 1})], max_attempts=50)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add_four, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert Repository(stores[0], Counter, snapshot_every=0).load("hot").total == 12
        assert [e.version for e in stores[1].read_stream("Counter-hot")] == list(range(12))
    finally:
        for s in stores:
            s.close()


def test_exact_retry_through_another_instance_is_recognised(url: str) -> None:
    with open_store(url) as a, open_store(url) as b:
        s, batch = f"Order-{uuid.uuid4()}", [NewEvent("T", {"n": i}) for i in range(3)]
        first = a.append(s, batch, StreamState.NO_STREAM)
        assert b.append(s, batch, StreamState.NO_STREAM) == first
        assert len(a.read_stream(s)) == 3


def test_a_commit_with_an_unknown_outcome_is_settled_by_the_fence(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit succeeds but its reply is lost: the store re-takes the fence, which settles the
    transaction, finds the batch in the log and returns the original result instead of writing twice."""
    lost: list[bool] = []

    class LosesCommitReply(Producer):
        def commit_transaction(self, *args: object) -> None:
            super().commit_transaction(*args)
            if not lost:
                lost.append(True)
                raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "reply lost", retriable=True))

    monkeypatch.setattr(writer, "Producer", LosesCommitReply)
    with open_store(url) as store:
        s = f"Order-{uuid.uuid4()}"
        result = store.append(s, [NewEvent("T", {"n": i}) for i in range(3)], StreamState.NO_STREAM)
        assert lost and (result.first_version, result.last_version) == (0, 2)
        assert [e.data["n"] for e in store.read_stream(s)] == [0, 1, 2]


def test_a_commit_whose_markers_are_not_yet_written_is_not_written_again(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker decides the commit, then crashes before writing its markers: the append fails
    while waiting to see its batch, and until the transaction is settled the LSO hides the batch
    (modelled here: the end offset stays where it was until a fence is taken or another commit
    settles it, as the broker does). The retry must re-take the fence, which settles the
    transaction, rather than trust an index that cannot see the batch and write it twice."""
    calls = {"fences": 0, "commits": 0}

    class Counted(Producer):
        def init_transactions(self, *args: object) -> None:
            super().init_transactions(*args)
            calls["fences"] += 1

        def commit_transaction(self, *args: object) -> None:
            super().commit_transaction(*args)
            calls["commits"] += 1

    monkeypatch.setattr(writer, "Producer", Counted)
    with open_store(url) as store:
        topic = store.config.events_topic
        store.append(f"Other-{uuid.uuid4()}", [NewEvent("T", {})])
        before = dict(calls)
        stale = store._readers.end_offset(topic)
        real_end, real_wait = store._readers.end_offset, store._readers.wait_visible

        def end_offset(topic: str) -> int:
            unsettled = calls["fences"] == before["fences"] and calls["commits"] == before["commits"] + 1
            return stale if unsettled else real_end(topic)

        def wait_visible(topic: str, offset: int) -> None:
            if calls["commits"] == before["commits"] + 1:
                raise BrokerError("the broker went away before the commit markers were written")
            real_wait(topic, offset)

        monkeypatch.setattr(store._readers, "end_offset", end_offset)
        monkeypatch.setattr(store._readers, "wait_visible", wait_visible)
        s, batch = f"Order-{uuid.uuid4()}", [NewEvent("T", {"n": i}) for i in range(3)]
        with pytest.raises(BrokerError):
            store.append(s, batch, StreamState.NO_STREAM)
        result = store.append(s, batch, StreamState.NO_STREAM)
        assert (result.first_version, result.last_version) == (0, 2)
        assert [e.data["n"] for e in store.read_stream(s)] == [0, 1, 2]
        assert calls["commits"] == before["commits"] + 1  # the retry found the batch: no second commit


def test_readers_stop_at_an_open_transaction_and_never_see_an_aborted_one(url: str, bootstrap: str) -> None:
    """Gap safety and atomicity come from read_committed: nothing past an open transaction is
    visible, so a checkpoint can never pass an event that commits later; aborted records never appear."""
    with open_store(url) as store:
        config = KafkaConfig.from_url(url)
        producers = [Producer(quiet(**{"bootstrap.servers": bootstrap, "transactional.id": f"{config.prefix}.raw{i}"})) for i in range(2)]
        events = [prepare_batch([NewEvent(t, {})], FENCED)[0] for t in ("Open", "Committed")]
        for producer, event in zip(producers, events, strict=True):
            producer.init_transactions(30)
            producer.begin_transaction()
            key, value, headers = encode(f"Order-{event.type}", 0, event)
            producer.produce(config.events_topic, value, key, partition=0, headers=headers)
            producer.flush(30)
        producers[1].commit_transaction(30)  # committed, but behind the open one
        assert store.read_all() == []
        producers[0].abort_transaction(30)
        assert [e.type for e in eventually(store.read_all)] == ["Committed"]  # once the abort marker is written
        assert store.read_stream("Order-Open") == []


def test_checkpoint_is_a_consumer_group_offset_of_a_group_nobody_joins(url: str, bootstrap: str) -> None:
    """Any Kafka consumer of the group sees the checkpoint (the next offset to read, by Kafka's
    convention), and the group has no members: after a subscriber dies there is nobody to wait for."""
    with open_store(url) as store:
        store.append("Order-1", [NewEvent("T", {}) for _ in range(3)])
        last = store.read_all()[-1].position
        store.subscribe("projector", lambda e: None).catch_up()
        config = KafkaConfig.from_url(url)
        group = config.checkpoint_group("projector")
        outsider = Consumer(quiet(**{"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}))
        try:
            assert outsider.committed([TopicPartition(config.events_topic, 0)], timeout=30)[0].offset == last + 1
        finally:
            outsider.close()
        admin = AdminClient(quiet(**{"bootstrap.servers": bootstrap}))
        (described,) = admin.describe_consumer_groups([group]).values()
        assert described.result(30).members == []
        assert store.subscribe("projector", lambda e: None).position == last  # what a restarted subscriber resumes after


def test_checkpoints_answer_while_a_fresh_broker_loads_its_group_coordinator(tmp_path: Path) -> None:
    """A new broker creates ``__consumer_offsets`` at the first group request and answers
    NOT_COORDINATOR until the group's partition is loaded (about a second). The AdminClient's
    offset fetch crashed the process on that answer (SIGSEGV in librdkafka, issue #5040), or hung
    until the timeout; the checkpoint consumer retries it. Then a subscriber killed with SIGKILL
    restarts at once: no member of any group is left for the broker to wait for."""
    if os.environ.get(BOOTSTRAP_ENV):
        pytest.skip(f"needs a broker of its own, which {BOOTSTRAP_ENV} rules out")
    with KafkaBroker(base_dir=tmp_path) as broker:
        url = f"kafka://{broker.bootstrap_servers}?prefix=fresh"
        with open_store(url) as store:  # creates the topics: no group request yet
            log = tmp_path / "consumer.log"
            spawned = time.monotonic()
            first = _resume_worker(url, log, tmp_path)
            try:
                started = _wait_for_line(log, "S", 1, first)
                assert started - spawned < 15, "reading the first checkpoint waits for the coordinator, within the timeout"
                store.append("Order-1", [NewEvent("T", {"n": n}) for n in range(30)])
                _wait_for_line(log, "E", 30, first)
                deadline = time.monotonic() + 10  # until a checkpoint covers some of them
                while store.load_checkpoint("resume") is None and time.monotonic() < deadline:
                    time.sleep(0.01)
            finally:
                first.send_signal(signal.SIGKILL)
                first.wait(30)
            saved = store.load_checkpoint("resume")
            assert saved is not None
            restarts = []
            for run in range(2, 4):
                spawned = time.monotonic()
                worker = _resume_worker(url, log, tmp_path)
                try:
                    restarts.append(_wait_for_line(log, "C", run, worker) - spawned)
                finally:
                    worker.send_signal(signal.SIGKILL)
                    worker.wait(30)
            # A member left in a group would hold a restart for the broker's session timeout (45 s by
            # default); a process start, on two busy cores, takes a few seconds. The bound tells them apart.
            assert max(restarts) < 10.0, f"restart to caught up after SIGKILL took {restarts} s: waiting for a group member's session?"
            handled = [line.split()[2] for line in log.read_text().splitlines() if line.startswith("E ")]
            assert {str(e.event_id) for e in store.read_all()} == set(handled)  # nothing missed


def _resume_worker(url: str, log: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    """The resume workload's consumer process (``bench.workloads.resume.consumer``), as the harness runs it."""
    with open(log.with_suffix(".err"), "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "bench.workloads.resume.consumer", url, "resume", str(log), "--checkpoint-every", "5"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
        )


def _wait_for_line(log: Path, kind: str, count: int, process: subprocess.Popen[bytes], timeout: float = 30) -> float:
    """When the ``count``-th line of ``kind`` appeared in the worker's log; fails if the worker dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if sum(1 for line in lines if line.startswith(kind + " ")) >= count:
            return time.monotonic()
        assert process.poll() is None, f"consumer exited with {process.returncode}: {log.with_suffix('.err').read_text()[-2000:]}"
        time.sleep(0.005)
    raise AssertionError(f"no {count} {kind!r} lines within {timeout}s")


def test_an_unreachable_broker_raises_store_unavailable_within_the_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    checkpoints = Checkpoints(KafkaConfig(f"127.0.0.1:{port}", prefix="nowhere"), timeout_s=1.0)
    try:
        for attempt in (lambda: checkpoints.load("c"), lambda: checkpoints.save("c", 5)):
            began = time.monotonic()
            with pytest.raises(StoreUnavailable) as info:
                attempt()
            assert isinstance(info.value, BrokerError) and time.monotonic() - began < 5
    finally:
        began = time.monotonic()
        checkpoints.close()  # waits for the unanswered commit, but no longer than the timeout
        assert time.monotonic() - began < 5


def test_ctrl_c_stops_an_append_waiting_on_a_broker_that_went_away(ctrl_c_raises: None) -> None:
    """Taking the fence from a broker that does not answer blocks up to the timeout; Python handles
    Ctrl-C only between calls into librdkafka, so the wait is made of short calls, and Ctrl-C ends
    it at once rather than after the whole timeout (30 s)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    fence = writer.Writer(KafkaConfig(f"127.0.0.1:{port}", prefix="nowhere"))
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    began = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            fence.take_fence()
    finally:
        timer.cancel()
    assert time.monotonic() - began < writer.TIMEOUT_S / 3


def test_a_new_readers_first_query_may_end_before_its_connection_is_up(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A query that runs out of time before a new consumer has connected fails with "all brokers
    down" (on a busy machine half a second can be too short); the longer one after it gets through."""
    monkeypatch.setattr(reader, "FIRST_QUERY_S", 0.002)
    with open_store(url) as store:
        store.append(f"Order-{uuid.uuid4()}", [NewEvent("T", {})])
        fresh = reader.Readers(store.config)
        try:
            assert fresh.end_offset(store.config.events_topic) == store._readers.end_offset(store.config.events_topic) > 0
        finally:
            fresh.close()


def test_fence_takeovers_are_logged_at_debug_and_nothing_reaches_stderr(url: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    """librdkafka logs a fenced producer at CRITICAL; in fenced mode that is how instances take turns."""
    caplog.set_level(logging.DEBUG, logger="eventstore.kafka")
    stores = [open_store(url) for _ in range(3)]
    stores[0].append("Order-0", [NewEvent("T", {})])  # a new broker's transaction coordinator warns while it loads
    caplog.clear()

    def append(store: EventStore) -> None:
        for n in range(8):
            store.append(f"Order-{n % 2}", [NewEvent("T", {})])

    threads = [threading.Thread(target=append, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    fence = [r for r in caplog.records if r.name == "eventstore.kafka.client.fence"]
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and FENCING.search(r.getMessage())]
    assert fence and all(r.levelno == logging.DEBUG for r in fence)
    assert loud == []
    assert "rdkafka" not in capfd.readouterr().err


def test_client_log_demotes_only_expected_fencing() -> None:
    line = ("FATAL", "rdkafka#producer-1", "Fatal error: Local: This instance has been fenced by a newer instance")
    other = ("FAIL", "rdkafka#producer-1", "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused")
    levels: list[tuple[str, int]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            levels.append((record.name, record.levelno))

    handler = Collect()
    logging.getLogger("eventstore.kafka.client").addHandler(handler)
    previous = logging.getLogger("eventstore.kafka.client").level
    logging.getLogger("eventstore.kafka.client").setLevel(logging.DEBUG)
    try:
        ClientLog(fencing_expected=True).log(logging.CRITICAL, "%s [%s] %s", *line)
        ClientLog(fencing_expected=True).log(logging.ERROR, "%s [%s] %s", *other)
        ClientLog(fencing_expected=False).log(logging.CRITICAL, "%s [%s] %s", *line)  # a naive writer is never fenced
    finally:
        logging.getLogger("eventstore.kafka.client").removeHandler(handler)
        logging.getLogger("eventstore.kafka.client").setLevel(previous)
    assert levels == [
        ("eventstore.kafka.client.fence", logging.DEBUG),
        ("eventstore.kafka.client", logging.ERROR),
        ("eventstore.kafka.client", logging.CRITICAL),
    ]
    assert KafkaConfig("h:1").client(writer=True)["logger"].fencing_expected
    assert not KafkaConfig("h:1", mode="naive").client(writer=True)["logger"].fencing_expected
    assert not KafkaConfig("h:1").client()["logger"].fencing_expected


class _Started:
    """Stands for a broker the harness started: a ``KafkaBroker``'s bootstrap servers and version."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap_servers = bootstrap
        self.version = "Apache Kafka 4.4.0"


def test_bench_engines_kafka_and_kafka_naive_share_the_broker_and_report_its_version(bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BOOTSTRAP_ENV, raising=False)
    services = Servers(tmp_path)
    services._started["kafka"] = _Started(bootstrap)  # type: ignore[assignment]  # the run's broker, as if started by the harness
    seen = {}
    try:
        for name in ("kafka", "kafka-naive"):
            assert engines.engines()[name].default
            with engines.started(name, services) as handle:
                info, caps, _ = engines.probe(handle)
                seen[name] = (info.version, info.mode, caps.optimistic_concurrency, bootstrap in handle.new_url("x"))
        assert seen == {"kafka": ("4.4.0", "fenced", True, True), "kafka-naive": ("4.4.0", "naive", False, True)}
        monkeypatch.setenv(BOOTSTRAP_ENV, bootstrap)  # an external broker does not say its release
        with engines.started("kafka-naive", Servers(tmp_path)) as handle:
            info, _, _ = engines.probe(handle)
            assert (info.version, info.mode, handle.settings["broker"]) == ("unknown (external broker)", "naive", f"external ({BOOTSTRAP_ENV})")
    finally:
        services.close()


def test_an_event_at_the_declared_size_limit_is_stored(url: str) -> None:
    with open_store(url) as store:
        s, type_ = "S-" + "x" * 254, "T" * 256
        overhead = prepare_batch([NewEvent(type_, {"blob": ""})], FENCED)[0].size
        big = NewEvent(type_, {"blob": "x" * (MAX_EVENT_BYTES - overhead)})
        assert prepare_batch([big], FENCED)[0].size == MAX_EVENT_BYTES
        store.append(s, [big])
        assert store.read_stream(s)[0].data == big.data


def test_topics_are_created_to_keep_events_forever(url: str, bootstrap: str) -> None:
    with open_store(url) as store:
        config = KafkaConfig.from_url(url)
        admin = AdminClient(quiet(**{"bootstrap.servers": bootstrap}))
        resources = [ConfigResource("TOPIC", t) for t in (config.events_topic, config.snapshots_topic)]
        events, snapshots = (f.result(30) for f in admin.describe_configs(resources).values())
        assert (events["retention.ms"].value, events["message.timestamp.type"].value) == ("-1", "LogAppendTime")
        assert snapshots["cleanup.policy"].value == "compact"
        assert events["flush.messages"].value == store.settings_summary()["flush.messages"] == str(2**63 - 1)  # the broker's default: no fsync per message
    open_store(url).close()  # opening again tolerates the existing topics


def test_flush_messages_sets_the_events_topics_fsync_per_message_and_the_store_reports_what_holds(bootstrap: str) -> None:
    """``flush_messages=1`` creates the events topic with ``flush.messages=1`` (the broker fsyncs its
    log after every message); the store reports the topic's setting as the broker applies it, so a
    store opened with another value on existing topics says which one holds."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    with open_store(f"kafka://{bootstrap}?prefix={prefix}&flush_messages=1") as store:
        assert store.settings_summary()["flush.messages"] == "1"
        admin = AdminClient(quiet(**{"bootstrap.servers": bootstrap}))
        resource = ConfigResource("TOPIC", f"{prefix}.events")
        assert admin.describe_configs([resource])[resource].result(30)["flush.messages"].value == "1"
    reopened = open_store(f"kafka://{bootstrap}?prefix={prefix}")  # without the option: the topic keeps its own
    try:
        assert reopened.settings_summary()["flush.messages"] == "1"
    finally:
        reopened.drop()


def test_a_naive_instance_settles_its_own_unfinished_transaction_when_it_appends_again(url: str) -> None:
    """A naive instance keeps one transactional id for its life: after an append left a transaction
    open (its producer dropped mid-append), its next append takes the same id again, which aborts the
    open transaction at once, so readers are not held back until the 10 s transaction timeout (nor
    for good, when the broker left a decided transaction without its markers after a crash: only the
    same id committing again settles that). A fresh id per attempt settled nothing."""
    with open_store(naive(url)) as store:
        store.append(f"Order-{uuid.uuid4()}", [NewEvent("T", {})])
        held = store._writer.transactional_id
        producer = store._writer._producer
        assert producer is not None
        producer.begin_transaction()  # an append cut short after its records went out, before its commit
        key, value, headers = encode("Order-open", 0, prepare_batch([NewEvent("Open", {})], NAIVE)[0])
        producer.produce(store.config.events_topic, value, key, partition=0, headers=headers)
        producer.flush(30)
        store._writer.release()
        started = time.monotonic()
        store.append(f"Order-{uuid.uuid4()}", [NewEvent("T", {})])  # returns once its batch is readable, past the open one
        assert time.monotonic() - started < writer.TRANSACTION_TIMEOUT_MS / 1000 / 2
        assert store._writer.transactional_id == held
        assert store.read_stream("Order-open") == []  # aborted, never visible


def test_an_events_topic_with_several_partitions_is_refused(bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    admin = AdminClient(quiet(**{"bootstrap.servers": bootstrap}))
    for future in admin.create_topics([NewTopic(f"{prefix}.events", 3)]).values():
        future.result(30)
    try:
        with pytest.raises(InvalidInput, match="3 partitions"):
            open_store(f"kafka://{bootstrap}?prefix={prefix}")
    finally:
        for future in admin.delete_topics([f"{prefix}.events", f"{prefix}.snapshots"]).values():
            future.exception(30)


def test_url_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in {
        "EVENTSTORE_KAFKA_BOOTSTRAP": "broker-a:9092,broker-b:9092",
        "EVENTSTORE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "EVENTSTORE_KAFKA_SASL_MECHANISM": "PLAIN",
        "EVENTSTORE_KAFKA_SASL_USERNAME": "app",
        "EVENTSTORE_KAFKA_SASL_PASSWORD": "s3cret",
    }.items():
        monkeypatch.setenv(var, value)
    config = KafkaConfig.from_url("kafka://?prefix=orders")
    assert (config.bootstrap, config.prefix, config.mode, config.version) == ("broker-a:9092,broker-b:9092", "orders", "fenced", "unknown")
    settings = config.client()
    assert (settings["security.protocol"], settings["sasl.mechanism"], settings["sasl.username"], settings["sasl.password"]) == ("SASL_SSL", "PLAIN", "app", "s3cret")
    assert "s3cret" not in repr(config)
    assert KafkaConfig.from_url("kafka://h:1").bootstrap == "h:1"  # the URL's host wins
    assert KafkaConfig.from_url("kafka://h:1?version=Apache+Kafka+4.4.0").version == "4.4.0"
    assert KafkaConfig.from_url("kafka://h:1?flush_messages=1").flush_messages == 1
    assert KafkaConfig.from_url("kafka://h:1").flush_messages is None
    for bad in ("kafka://?prefix=x", "kafka://h:1?prefix=a/b", "kafka://h:1?prefix=.hidden", "kafka://h:1?mode=yolo",
                "kafka://h:1?partitions=4", "kafka://user:pw@h:1", "kafka://h:1?flush_messages=0", "kafka://h:1?flush_messages=often"):
        with pytest.raises(InvalidInput):
            KafkaConfig.from_url(bad, {})
