"""The DynamoDB backend against moto's server (or ``EVENTSTORE_DYNAMODB_ENDPOINT``): the conformance
suite, then what is DynamoDB's own: its limits, enforced by our checks and by the engine, conflicts
found inside the transaction, racing writers, the engine's name and self-contained URLs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from eventstore import (
    AppendResult,
    Capabilities,
    ConcurrencyError,
    EngineInfo,
    EventStoreError,
    InvalidInput,
    LimitExceeded,
    NewEvent,
    RecordedEvent,
    StreamState,
)
from eventstore.dynamodb import DynamoDBStore, Settings, layout
from eventstore.dynamodb.connection import ENV_ENDPOINT, detect_engine
from eventstore.dynamodb.engine import ENGINE
from eventstore.plugins import Servers
from eventstore.testing.base import events, stream
from eventstore.validation import PreparedEvent, prepare_batch

NO_LIMITS = Capabilities(*[False] * 9)  # prepare_batch without declared limits: to reach the engine's own

@pytest.fixture(scope="module")
def endpoint(servers: Servers) -> str:
    """The session's DynamoDB endpoint: ``EVENTSTORE_DYNAMODB_ENDPOINT`` or the local moto server."""
    return ENGINE.endpoint(servers)[0]


def fresh_url(endpoint: str) -> str:
    return f"dynamodb://es-{uuid.uuid4().hex[:12]}?endpoint_url={endpoint}&region=us-east-1"


@pytest.fixture
def store(endpoint: str) -> Iterator[DynamoDBStore]:
    s = DynamoDBStore.from_url(fresh_url(endpoint))
    try:
        yield s
    finally:
        s.drop()


def item_count(store: DynamoDBStore) -> int:
    """Items in all of the store's tables: proof that a refused append wrote nothing anywhere."""
    client = store._client
    return sum(client.scan(TableName=name, Select="COUNT", ConsistentRead=True)["Count"] for name, _, _ in store.tables.all())


# -- limits: refused by our checks before anything is sent, and by the engine when they are bypassed --


def test_a_batch_over_the_action_limit_is_refused_and_writes_nothing(store: DynamoDBStore) -> None:
    s = stream()
    store.append(stream(), events(1))
    before = item_count(store)
    with pytest.raises(LimitExceeded) as checked:
        store.append(s, events(101))
    assert (checked.value.limit, checked.value.actual) == (layout.MAX_BATCH_EVENTS, 101)
    over = layout.MAX_BATCH_EVENTS + 1  # 2 * 50 + 2 = 102 actions
    assert layout.actions_per_append(over) > layout.MAX_TRANSACTION_ACTIONS
    with pytest.raises(LimitExceeded) as refused:  # past our check: the engine refuses on its own
        store._append(s, prepare_batch(events(over), NO_LIMITS), StreamState.ANY)
    assert (refused.value.limit, refused.value.actual) == (layout.MAX_TRANSACTION_ACTIONS, layout.actions_per_append(over))
    assert isinstance(refused.value.__cause__, ClientError)
    assert refused.value.__cause__.response["Error"]["Code"] == "ValidationException"
    assert item_count(store) == before
    assert store.read_stream(s) == []


def test_an_oversized_event_is_refused_and_writes_nothing(store: DynamoDBStore) -> None:
    s = stream()
    store.append(stream(), events(1))
    before = item_count(store)
    big = [NewEvent("Small", {}), NewEvent("Big", {"blob": "x" * 400 * 1024})]
    with pytest.raises(LimitExceeded) as checked:
        store.append(s, big)
    assert checked.value.limit == layout.MAX_EVENT_BYTES
    with pytest.raises(LimitExceeded) as refused:
        store._append(s, prepare_batch(big, NO_LIMITS), StreamState.ANY)
    assert refused.value.limit == layout.MAX_ITEM_BYTES
    assert isinstance(refused.value.__cause__, ClientError)
    assert refused.value.__cause__.response["Error"]["Code"] == "ValidationException"
    assert item_count(store) == before
    assert store.read_stream(s) == []


def test_the_largest_declared_event_fits_the_engine(store: DynamoDBStore) -> None:
    """The 1 KiB reserved for keys and names suffices: a longest stream id and type at the event limit."""
    s = "S-" + "s" * 254
    type_ = "T" * 256
    blob = "x" * (layout.MAX_EVENT_BYTES - len(type_) - 16 - len('{"b":""}') - len("{}"))
    event = NewEvent(type_, {"b": blob})
    (prepared,) = prepare_batch([event], store.capabilities)
    assert prepared.size == layout.MAX_EVENT_BYTES
    worst = layout.event_item(s, 10**12, 10**18, prepared, "2026-01-01T00:00:00.000000+00:00")  # long numbers too
    assert layout.item_size(worst) <= layout.MAX_ITEM_BYTES
    store.append(s, [event])
    assert store.read_stream(s)[0].data == {"b": blob}


def test_the_byte_reserves_cover_the_largest_declared_batch() -> None:
    """Any batch the validation lets through fits one transaction: 49 events at the byte limit, longest names."""
    count, type_ = layout.MAX_BATCH_EVENTS, "T" * 256
    data_json = '{"b":"' + "x" * (layout.MAX_BATCH_BYTES // count - 16 - len(type_) - 2 - 8) + '"}'
    batch = [PreparedEvent(uuid.uuid4(), type_, {}, {}, data_json, "{}") for _ in range(count)]
    assert sum(e.size for e in batch) <= layout.MAX_BATCH_BYTES and max(e.size for e in batch) <= layout.MAX_EVENT_BYTES
    stream_id = "C" * 200 + "-" + "s" * 55
    actions = layout.append_actions(layout.Tables("t" * 245), stream_id, 10**12, 10**15, batch, "2026-01-01T00:00:00.000000+00:00")
    sizes = [layout.item_size(a["Put"]["Item"]) for a in actions]
    assert len(actions) == layout.MAX_TRANSACTION_ACTIONS
    assert sum(sizes) <= layout.MAX_TRANSACTION_BYTES and max(sizes) <= layout.MAX_ITEM_BYTES


def test_a_batch_over_the_byte_limit_is_refused(store: DynamoDBStore) -> None:
    s = stream()
    per_event = layout.MAX_EVENT_BYTES - 100
    count = layout.MAX_BATCH_BYTES // per_event + 1
    with pytest.raises(LimitExceeded) as info:
        store.append(s, [NewEvent("Big", {"b": "x" * (per_event - 40)}) for _ in range(count)])
    assert info.value.limit == layout.MAX_BATCH_BYTES
    assert store.read_stream(s) == []


# -- conflicts detected inside the transaction (another writer between our read and our write) -----


def test_a_version_taken_after_the_read_is_a_concurrency_error(store: DynamoDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    s = stream()
    store.append(s, events(2))
    monkeypatch.setattr(store, "_last_version", _stale_once(store._last_version, 0))
    with pytest.raises(ConcurrencyError) as info:
        store.append(s, events(1), 0)
    assert (info.value.expected, info.value.actual) == (0, 1)
    assert [e.version for e in store.read_stream(s)] == [0, 1]


def test_a_lost_race_with_any_is_retried(store: DynamoDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    s = stream()
    store.append(s, events(2))
    monkeypatch.setattr(store, "_last_version", _stale_once(store._last_version, 0))
    monkeypatch.setattr(store, "_last_sequence", _stale_once(store._last_sequence, 0))
    result = store.append(s, events(1))
    assert (result.first_version, result.last_version) == (2, 2)
    assert [e.position for e in store.read_all()] == [1000, 1001, 2000]


def test_an_exact_retry_found_by_the_guards_returns_the_original(store: DynamoDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    s = stream()
    batch = events(2)
    first = store.append(s, batch)
    monkeypatch.setattr(store, "_last_version", _stale_once(store._last_version, None))
    assert store.append(s, batch, StreamState.NO_STREAM) == first  # passes the version read, hits the guards
    assert len(store.read_stream(s)) == 2


def _stale_once(read: Callable[..., Any], stale: Any) -> Callable[..., Any]:
    """``read`` answering ``stale`` the first time: as if another writer committed right after the read."""
    calls = 0

    def first_stale(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        return stale if calls == 1 else read(*args)

    return first_stale


def _race_after_first_call(read: Callable[..., Any], race: Callable[[], Any]) -> Callable[..., Any]:
    """``read``, with ``race`` run right after its first call: another writer commits between our read and our write."""
    calls = 0

    def read_then_race(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        value = read(*args)
        if calls == 1:
            race()
        return value

    return read_then_race


def _requests(store: DynamoDBStore) -> list[tuple[str, dict[str, Any]]]:
    """Every request the store's client sends from now on: (operation, parameters)."""
    sent: list[tuple[str, dict[str, Any]]] = []
    store._client.meta.events.register("before-parameter-build.dynamodb", lambda params, model, **_: sent.append((model.name, dict(params))))
    return sent


def test_an_append_reads_the_stream_tail_and_the_feed_tail_once_each(store: DynamoDBStore) -> None:
    """Two one-item, newest-first, strongly consistent Queries and the transaction: nothing else."""
    store.append(stream(), events(1))
    sent = _requests(store)
    store.append(stream(), events(3))
    assert [(op, p.get("TableName")) for op, p in sent] == [
        ("Query", store.tables.events), ("Query", store.tables.meta), ("TransactWriteItems", None)
    ]
    for _, query in sent[:2]:
        assert (query["Limit"], query["ScanIndexForward"], query["ConsistentRead"]) == (1, False, True)
        assert query["ProjectionExpression"]  # keys only, never whole items


@pytest.mark.parametrize("lost", ["sequence", "version"])
def test_a_lost_race_rereads_only_what_the_winner_changed(store: DynamoDBStore, monkeypatch: pytest.MonkeyPatch, lost: str) -> None:
    """The cancellation reasons say which key was taken; a read whose key was still free is not repeated."""
    s = stream()
    store.append(s, events(1))
    other = DynamoDBStore.from_url(store.url)
    if lost == "sequence":  # another stream's append takes the global position after our read of the feed's tail
        monkeypatch.setattr(store, "_last_sequence", _race_after_first_call(store._last_sequence, lambda: other.append(stream(), events(1))))
        reread = [("Query", store.tables.meta)]
    else:  # another append to our stream, after our read of its version and before our read of the feed's tail
        monkeypatch.setattr(store, "_last_version", _race_after_first_call(store._last_version, lambda: other.append(s, events(1))))
        reread = [("Query", store.tables.events)]
    sent = _requests(store)
    result = store.append(s, events(1))
    other.close()
    transact = ("TransactWriteItems", None)
    assert [(op, p.get("TableName")) for op, p in sent] == [
        ("Query", store.tables.events), ("Query", store.tables.meta), transact, *reread, transact
    ]
    assert (result.first_version, result.last_position) == ((1, 3000) if lost == "sequence" else (2, 3000))
    assert [e.position for e in store.read_all()] == [1000, 2000, 3000]


class _Body:
    """A raw HTTP body, as botocore's ``AWSResponse`` reads one."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


@pytest.mark.parametrize("committed", [True, False], ids=["committed-response-lost", "failed-before-writing"])
def test_a_transaction_retried_after_a_server_error_is_stored_once(store: DynamoDBStore, monkeypatch: pytest.MonkeyPatch, committed: bool) -> None:
    """botocore retries an HTTP 500 (standard mode). The failed attempt may have committed with its answer lost, or
    failed before writing (what moto's threaded server did: RuntimeError while copying a table). Either way the
    append is stored once and returns its own result: a committed first attempt makes the retry hit the id guards."""
    import botocore.retries.standard
    from botocore.awsrequest import AWSResponse

    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    s = stream()
    store.append(s, events(1))
    attempts = 0

    def error_on_first_attempt(request: Any, **_: Any) -> AWSResponse | None:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            return None  # sent as usual
        if committed:
            headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
            forward = urllib.request.Request(request.url, data=request.body, headers=headers, method=request.method)
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(forward, timeout=30).close()
        error = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"simulated"}'
        return AWSResponse(request.url, 500, {"Content-Type": "application/x-amz-json-1.0"}, _Body(error))

    store._client.meta.events.register("before-send.dynamodb.TransactWriteItems", error_on_first_attempt)
    batch = events(2)
    result = store.append(s, batch)
    assert attempts == 2
    stored = store.read_stream(s)
    assert result == AppendResult(s, 1, 2, stored[-1].position) and stored[-1].position == 2001
    assert [e.event_id for e in stored[1:]] == [e.id for e in batch]
    assert [e.position for e in store.read_all()] == [1000, 2000, 2001]
    assert item_count(store) == layout.actions_per_append(1) + layout.actions_per_append(2)


# -- reading the feed ----------------------------------------------------------------------------------


def test_a_feed_naming_one_event_twice_is_reported_instead_of_a_refused_batch_read(store: DynamoDBStore) -> None:
    """Regression. moto's threaded server lost committed writes: a cancelled transaction put back a stale copy of the
    events table, erasing an event but not its feed entry, and the next append to the stream reused the version. Two
    feed entries then named one event, read_all sent its key twice in one BatchGetItem, and DynamoDB refused the
    request ("Provided list of item keys contains duplicates"). Rebuilt here by deleting the event item."""
    s = stream()
    store.append(s, events(1))
    store._client.delete_item(TableName=store.tables.events, Key={"stream_id": layout.s(s), "version": layout.n(0)})
    store.append(s, events(1))  # version 0 again, at position 2000
    for read in (store.read_all, lambda: store.read_category("Order"), lambda: store.read_all(types=["Happened"])):
        with pytest.raises(EventStoreError, match="inconsistent") as info:
            read()
        assert "at position 1000" in str(info.value) and "stored with position 2000" in str(info.value)
    assert [e.position for e in store.read_all(after=1000)] == [2000]  # what the feed names consistently still reads


def test_a_batch_read_asks_for_each_key_once(store: DynamoDBStore) -> None:
    s = stream()
    for _ in range(3):
        store.append(s, events(layout.MAX_BATCH_EVENTS))
    stored = 3 * layout.MAX_BATCH_EVENTS  # 147 events: two BatchGetItem requests
    keys = [{"stream_id": layout.s(s), "version": layout.n(v % stored)} for v in range(250)]  # 103 keys twice, across requests
    items = store._batch_get(store.tables.events, keys)
    assert sorted(int(item["version"]["N"]) for item in items) == list(range(stored))


# -- many writers ------------------------------------------------------------------------------------


def test_racing_writers_lose_nothing_and_a_reader_skips_nothing(store: DynamoDBStore) -> None:
    """Writers on a shared and on their own streams; a reader follows read_all with a cursor meanwhile.

    Gap safety: the reader's cursor never passes an event that becomes visible later, so what it
    collected equals the final read_all exactly.
    """
    hot = stream("Hot")
    writers, appends = 4, 8
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[RecordedEvent] = []

    def write(w: int) -> None:
        try:
            own = stream("Own")
            for i in range(appends):
                store.append(hot, [NewEvent("Hit", {"w": w, "i": i})])
                store.append(own, events(2, w=w))
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        cursor = None
        try:
            while True:
                finished = done.is_set()
                page = store.read_all(after=cursor)
                seen.extend(page)
                cursor = page[-1].position if page else cursor
                if finished and not page:
                    return
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert errors == []
    everything = store.read_all()
    assert len(everything) == writers * appends * 3
    assert [e.version for e in store.read_stream(hot)] == list(range(writers * appends))
    assert sorted((e.data["w"], e.data["i"]) for e in store.read_stream(hot)) == [(w, i) for w in range(writers) for i in range(appends)]
    assert [e.event_id for e in seen] == [e.event_id for e in everything]


# -- engine and connection -----------------------------------------------------------------------------


def test_engine_is_named_and_labelled_an_emulator(store: DynamoDBStore) -> None:
    assert store.engine.emulator is True
    if ENV_ENDPOINT not in os.environ:
        from importlib.metadata import version

        assert store.engine == EngineInfo("dynamodb", "moto (DynamoDB emulator)", version("moto"), emulator=True)


def test_engine_detection_without_a_moto_endpoint() -> None:
    aws = EngineInfo("dynamodb", "Amazon DynamoDB", "service", emulator=False)
    assert detect_engine(None) == aws
    assert detect_engine("https://dynamodb.eu-west-1.amazonaws.com") == aws
    unknown = detect_engine("http://127.0.0.1:9")  # nothing listens on the discard port
    assert unknown.emulator and unknown.version == "unknown" and "unidentified" in unknown.engine


def test_settings_from_url_and_environment() -> None:
    env = {ENV_ENDPOINT: "http://env:1", "EVENTSTORE_DYNAMODB_TABLE": "from-env", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert Settings.from_url("dynamodb://", env) == Settings("from-env", "http://env:1", "eu-west-1")
    url = "dynamodb://events?endpoint_url=http://127.0.0.1:5000&region=us-east-1"
    settings = Settings.from_url(url, env)
    assert settings == Settings("events", "http://127.0.0.1:5000", "us-east-1")
    assert Settings.from_url(settings.to_url(), {}) == settings
    assert Settings.from_url("dynamodb://", {}) == Settings("eventstore", None, None)
    for bad in ("dynamodb://events?endpoint=http://x", "dynamodb://a", "dynamodb://bad/name", "dynamodb://" + "x" * 246):
        with pytest.raises(InvalidInput):
            Settings.from_url(bad, {})


def test_a_url_opens_the_same_store_in_a_fresh_process(store: DynamoDBStore) -> None:
    s = stream()
    store.append(s, [NewEvent("Placed", {"n": 1}), NewEvent("Paid", {"n": 2})])
    program = (
        "import json, sys\nfrom eventstore import open_store\n"
        "store = open_store(sys.argv[1])\n"
        "print(json.dumps([[e.type, e.data, e.position] for e in store.read_stream(sys.argv[2])]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EVENTSTORE_"))}
    done = subprocess.run([sys.executable, "-c", program, store.url, s], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[e.type, e.data, e.position] for e in store.read_stream(s)]


def test_an_append_of_n_events_writes_2n_plus_2_items(store: DynamoDBStore) -> None:
    """n events, n id guards, an entry in the global and one in the category feed: what the cost model prices."""
    store.append(stream("Order"), events(3))
    assert item_count(store) == layout.actions_per_append(3) == 8


# -- the cost model (pure: no engine) --------------------------------------------------------------------


def test_capacity_unit_rules() -> None:
    from eventstore.dynamodb.cost import read_units, write_units

    assert [write_units(b) for b in (0, 1, 1024, 1025, 400_000)] == [1, 1, 1, 2, 391]
    assert write_units(1025, transactional=True) == 4
    assert [read_units(b) for b in (1, 4096, 4097)] == [1, 1, 2]
    assert (read_units(4097, consistency="eventual"), read_units(4097, consistency="transactional")) == (1, 4)


def test_item_sizes_follow_dynamodb_accounting() -> None:
    assert layout.item_size({"ab": {"S": "xyz"}}) == 5
    assert layout.item_size({"n": {"N": "1000"}}) == 1 + 2  # one significant digit: 1 byte, plus 1
    assert layout.item_size({"n": {"N": "123456"}}) == 1 + 4
    assert layout.item_size({"l": {"L": [{"S": "ab"}, {"S": "c"}]}}) == 1 + 3 + (1 + 2) + (1 + 1)


def test_append_cost_prices_the_stores_items() -> None:
    from eventstore.dynamodb.cost import Cost, Workload, append_cost, append_items, bare_put_cost, per_million_events

    small = Workload()
    assert len(append_items(small)) == layout.actions_per_append(1)
    assert append_cost(small) == Cost(read_units=2, write_units=8, requests=3)  # four items under 1 KB, x2 in a transaction
    assert bare_put_cost(small) == Cost(0, 1, 1)
    assert per_million_events(small)["append"].dollars() == pytest.approx(8 * 0.625 + 2 * 0.125)
    full = Workload(events_per_append=layout.MAX_BATCH_EVENTS)
    assert len(append_items(full)) == layout.MAX_TRANSACTION_ACTIONS
    big = Workload(data_bytes=3000, events_per_append=2)
    assert append_cost(big).write_units == 2 * (4 + 4 + 1 + 1 + 1 + 1)  # x2: two ~3.2 KB events, two guards, two feed entries
    with pytest.raises(ValueError):
        Workload(events_per_append=layout.MAX_BATCH_EVENTS + 1)


def test_read_and_storage_costs() -> None:
    from eventstore.dynamodb.cost import Workload, item_sizes, monthly_dollars, read_all_cost, read_stream_cost, stored_bytes_per_event

    w = Workload(data_bytes=3990)  # an event item just over 4 KB: 2 units when read alone
    event = item_sizes(w)["event"]
    assert 4096 < event < 8192
    assert read_stream_cost(w, 0).read_units == 1
    assert read_stream_cost(w, 10).read_units == -(-10 * event // 4096)  # a Query rounds its page's sum
    assert read_all_cost(w, 10).read_units == 1 + 10 * 2  # one feed page, then each event rounded alone
    month = monthly_dollars(w, appended_events=0, stored_events=10**6)
    assert month["storage"] == pytest.approx(10**6 * stored_bytes_per_event(w) / 1024**3 * 0.25)
