"""The EventStoreDB adapter through the real client (esdbclient): the conformance suite against the
protocol test double, then what the capabilities declare, the client seam, the settings and the engine.

Against the double, passing proves the adapter and its handling of the protocol, not the server's
semantics or speed (see ``esdb_double``). With ``EVENTSTORE_ESDB_URI`` set, these tests run against
that server instead, and ``tests/test_conformance.py`` runs the suite on it through the engine.
"""
from __future__ import annotations

import importlib.util
import itertools
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

CLIENT = os.environ.get("EVENTSTORE_ESDB_CLIENT") or "esdbclient"
pytest.importorskip(CLIENT, reason=f"the eventstoredb engine needs {CLIENT} (pip install 'eventstore-workbench[eventstoredb]')")

from esdb_double import VERSION as DOUBLE_VERSION  # noqa: E402
from esdb_double import ESDBDouble  # noqa: E402

from eventstore import ConcurrencyError, EventStore, InvalidInput, LimitExceeded, NewEvent, Snapshot, StoreUnavailable, StreamState  # noqa: E402
from eventstore.errors import UnsupportedOperation  # noqa: E402
from eventstore.eventstoredb import URI_ENV, ESDBConfig, EventStoreDBStore, StreamDeleted, load_client  # noqa: E402
from eventstore.eventstoredb.capabilities import engine_info  # noqa: E402
from eventstore.eventstoredb.config import literal  # noqa: E402
from eventstore.eventstoredb.conformance import EventStoreDBConformance  # noqa: E402
from eventstore.eventstoredb.engine import ENGINE, KURRENTDB, reachable  # noqa: E402
from eventstore.plugins import Servers, ServiceUnavailable  # noqa: E402
from eventstore.testing.base import events, stream  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REAL_SERVER = os.environ.get(URI_ENV)
needs_double = pytest.mark.skipif(bool(REAL_SERVER), reason=f"inspects the protocol double; {URI_ENV} names a real server")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The base URL of stores: the real server's (connection from the environment), else the double's."""
    if REAL_SERVER:
        yield "esdb://?"
        return
    with ESDBDouble() as double:
        yield f"{double.uri}&"


def fresh(server: str, **options: str) -> EventStoreDBStore:
    query = "&".join(f"{k}={v}" for k, v in {"prefix": f"t{uuid.uuid4().hex[:12]}", **options}.items())
    return EventStoreDBStore.from_url(server + query)


@pytest.fixture
def store(server: str) -> Iterator[EventStoreDBStore]:
    s = fresh(server)
    yield s
    s.drop()


@pytest.mark.skipif(bool(REAL_SERVER), reason=f"{URI_ENV} names a real server: tests/test_conformance.py runs the suite on it instead")
class TestConformanceOnTheDouble(EventStoreDBConformance):
    @pytest.fixture(autouse=True)
    def _server(self, server: str) -> None:
        self.base = server

    def make_store(self) -> EventStore:
        return fresh(self.base)

    def close_store(self, store: EventStore) -> None:
        store.drop()


# -- idempotency: exactly what the server guarantees, as declared -----------------------------------


def test_a_retry_with_an_exact_expected_version_returns_the_original_result(store: EventStoreDBStore) -> None:
    s = stream()
    first = store.append(s, events(3), StreamState.NO_STREAM)
    batch = events(2)
    second = store.append(s, batch, 2)
    store.append(s, events(1))
    assert store.append(s, batch, 2) == second  # the server compares the ids stored after version 2
    assert store.append(s, [NewEvent("Happened", {}, id=e.event_id) for e in store.read_stream(s)[:3]], StreamState.NO_STREAM) == first
    assert store.stream_version(s) == 5


def test_a_retry_with_any_is_recognised_while_the_server_remembers_the_ids(store: EventStoreDBStore) -> None:
    s = stream()
    batch = events(2)
    first = store.append(s, batch)
    assert store.append(s, batch) == first
    assert store.append(s, batch, StreamState.EXISTS) == first
    assert len(store.read_stream(s)) == 2


def test_a_partial_overlap_is_a_version_conflict_and_writes_nothing(store: EventStoreDBStore) -> None:
    s = stream()
    batch = events(2)
    store.append(s, batch, StreamState.NO_STREAM)
    with pytest.raises(ConcurrencyError) as info:
        store.append(s, [batch[0], NewEvent("New", {})], StreamState.NO_STREAM)
    assert info.value.actual == 1
    assert len(store.read_stream(s)) == 2


def test_an_id_reused_in_another_stream_is_stored_again_as_declared(store: EventStoreDBStore) -> None:
    """The server's cache of recent ids keeps each id's first writer: an ANY retry to that stream is
    recognised, every append of the id to another stream is stored again."""
    assert not store.capabilities.idempotent_append
    assert any("reused in another stream is stored again" in line for line in store.capabilities.limitations)
    batch = events(1)
    a, b = stream(), stream()
    for name in (a, b, a, b):
        store.append(name, batch)
    assert [len(store.read_stream(a)), len(store.read_stream(b))] == [1, 2]
    assert {e.event_id for e in store.read_stream(b)} == {batch[0].id}


# -- versions, positions, isolation ---------------------------------------------------------------


def test_conflicts_carry_the_servers_current_version_on_both_rpcs(store: EventStoreDBStore) -> None:
    s = stream()
    store.append(s, events(3))
    for batch in (events(1), events(2)):  # Streams.Append and Streams.BatchAppend answer differently
        for expected in (0, 7, StreamState.NO_STREAM):
            with pytest.raises(ConcurrencyError) as info:
                store.append(s, batch, expected)
            assert (info.value.expected, info.value.actual) == (expected, 2)
        with pytest.raises(ConcurrencyError) as info:
            store.append(stream(), batch, StreamState.EXISTS)
        assert info.value.actual is None


def test_any_and_exists_appends_learn_their_versions_from_the_server(store: EventStoreDBStore) -> None:
    s = stream()
    store.append(s, events(2), StreamState.NO_STREAM)
    result = store.append(s, events(3), StreamState.EXISTS)
    assert (result.first_version, result.last_version) == (2, 4)
    assert result.last_position == store.read_stream(s)[-1].position
    single = store.append(s, events(1))
    assert (single.first_version, single.last_version, single.last_position) == (5, 5, store.read_all()[-1].position)


def test_positions_are_commit_positions_with_gaps(store: EventStoreDBStore) -> None:
    store.append(stream(), events(3))
    store.append(stream(), events(2))
    positions = [e.position for e in store.read_all()]
    offsets = [p for p in positions if isinstance(p, int)]
    assert offsets == positions == sorted(set(offsets))
    assert any(b - a > 1 for a, b in itertools.pairwise(offsets)), "commit positions are byte offsets, not counters"


def test_a_position_inside_a_record_is_refused_as_invalid_input(store: EventStoreDBStore) -> None:
    """The server reads ``$all`` from the position of a record and refuses one inside a record; the
    end of the log, or beyond it, reads nothing."""
    store.append(stream(), events(2))
    first, last = store.read_all()
    assert store.read_all(after=first.position) == [last]
    with pytest.raises(InvalidInput):
        store.read_all(after=first.position + 1)
    assert store.read_all(after=last.position) == []


def test_prefixes_isolate_stores_on_one_server(server: str) -> None:
    a, b = fresh(server), fresh(server)
    try:
        a.append("Order-1", events(2))
        b.append("Order-1", events(1), StreamState.NO_STREAM)  # the same id is another stream under another prefix
        assert [e.version for e in a.read_stream("Order-1")] == [0, 1]
        assert len(b.read_all()) == len(b.read_category("Order")) == 1
        assert len(a.read_all(types=["Happened"])) == 2
    finally:
        a.drop()
        b.drop()


def test_a_type_filter_the_server_cannot_apply_pages_through_other_events(store: EventStoreDBStore) -> None:
    """With a prefix the server filters by stream name, so the adapter filters types and keeps paging."""
    for i in range(12):
        store.append(stream(), [NewEvent("Rare" if i % 4 == 3 else "Common", {"i": i})])
    rare = store.read_all(types=["Rare"])
    assert [e.data["i"] for e in rare] == [3, 7, 11]
    assert store.read_all(types=["Rare"], limit=2) == rare[:2]
    assert store.read_all(after=rare[0].position, types=["Rare"], limit=1) == rare[1:2]


def test_filters_are_regular_expressions_of_literals(store: EventStoreDBStore) -> None:
    odd = "Order.(x)+"  # regex metacharacters in a category name match only themselves
    store.append(f"{odd}-1", events(1))
    store.append("OrderZ(x)xx-1", events(1))
    assert [e.stream_id for e in store.read_category(odd)] == [f"{odd}-1"]
    assert literal("a.b-ü") == "a\\x2eb\\x2dü"


@needs_double
def test_a_store_without_a_prefix_is_the_whole_database_minus_its_own_streams() -> None:
    """Without a prefix no stream-name filter is needed: the type filter is the server's, and the
    store's checkpoint and snapshot streams are left out of read_all."""
    with ESDBDouble() as double:
        whole = EventStoreDBStore.from_url(double.uri)
        whole.append("Order-1", [NewEvent("Placed", {}), NewEvent("Paid", {})])
        whole.append("Customer-1", [NewEvent("Paid", {})])
        whole.save_checkpoint("c", whole.read_all()[0].position)
        whole.save_snapshot(Snapshot("Order-1", 1, {}))
        assert [(e.stream_id, e.type) for e in whole.read_all()] == [("Order-1", "Placed"), ("Order-1", "Paid"), ("Customer-1", "Paid")]
        assert [e.stream_id for e in whole.read_all(types=["Paid"], limit=1)] == ["Order-1"]
        assert [e.type for e in whole.read_category("Order")] == ["Placed", "Paid"]
        with pytest.raises(InvalidInput):
            whole.append("eventstore~checkpoint.c", events(1))
        whole.close()


def test_dollar_names_are_the_servers_and_refused(store: EventStoreDBStore) -> None:
    with pytest.raises(InvalidInput):
        store.append("$all", events(1))
    with pytest.raises(InvalidInput):
        store.append(stream(), [NewEvent("$metadata", {})])
    with pytest.raises(InvalidInput):
        store.read_stream("$$Order-1")


# -- limits -------------------------------------------------------------------------------------


def test_the_size_limit_counts_as_the_server_does(store: EventStoreDBStore) -> None:
    """The server counts 2 bytes per character of the type: an event within the declared
    max_event_bytes by the API's measure can still be too big for the server, and is refused first."""
    long_type = "T" * 200
    pad = 1_048_576 - 200 - 16 - len('{"pad":""}') - 2
    s = stream()
    with pytest.raises(LimitExceeded) as info:
        store.append(s, [NewEvent(long_type, {"pad": "x" * pad})])
    assert info.value.limit == 1_048_576 and info.value.actual > info.value.limit
    assert store.read_stream(s) == []


@needs_double
@pytest.mark.parametrize("count", [1, 3], ids=["Append", "BatchAppend"])
def test_the_servers_own_size_refusal_is_a_limit_error(count: int) -> None:
    """A server configured smaller than the store believes answers with its own error, on both RPCs."""
    with ESDBDouble(max_append_size=1000) as double:
        s = EventStoreDBStore.from_url(f"{double.uri}&prefix=small")
        with pytest.raises(LimitExceeded):
            s.append("Order-1", [NewEvent("T", {"pad": "x" * (1200 // count)}) for _ in range(count)])
        assert s.read_stream("Order-1") == []
        s.close()


# -- checkpoints, snapshots, drop ------------------------------------------------------------------


def test_checkpoints_and_snapshots_live_in_capped_streams(store: EventStoreDBStore) -> None:
    client = store._client
    store.append(stream(), events(3))
    for e in store.read_all():
        store.save_checkpoint("projector", e.position)
    assert len(client.get_stream(store.config.checkpoint_stream("projector"))) == 1
    assert store.load_checkpoint("projector") == store.read_all()[-1].position
    for version in range(12):
        store.save_snapshot(Snapshot("Order-1", version, {"v": version}, schema_version=1 + version % 2))
    assert len(client.get_stream(store.config.snapshot_stream("Order-1"))) == 8
    newest, schema_1 = store.load_snapshot("Order-1"), store.load_snapshot("Order-1", 1)
    assert newest is not None and schema_1 is not None and (newest.version, schema_1.version) == (11, 10)
    store.delete_snapshots()
    assert store.load_snapshot("Order-1") is None
    store.save_snapshot(Snapshot("Order-1", 20, {"v": 20}))  # the stream stays writable, and capped
    assert getattr(store.load_snapshot("Order-1"), "version", None) == 20


def test_drop_tombstones_the_stores_streams_and_nothing_else(server: str) -> None:
    kept, dropped = fresh(server), fresh(server)
    try:
        kept.append("Order-1", events(1))
        dropped.append("Order-1", events(2))
        dropped.save_checkpoint("c", dropped.read_all()[0].position)
        dropped.save_snapshot(Snapshot("Order-1", 1, {}))
        prefix = dropped.config.prefix
        dropped.drop()
        again = EventStoreDBStore.from_url(f"{server}prefix={prefix}")
        assert again.read_stream("Order-1") == [] and again.load_checkpoint("c") is None and again.load_snapshot("Order-1") is None
        with pytest.raises(StreamDeleted):
            again.append("Order-1", events(1))
        again.close()
        assert len(kept.read_stream("Order-1")) == 1
    finally:
        kept.drop()


def test_drop_needs_a_prefix(server: str) -> None:
    whole = EventStoreDBStore.from_url(f"{server}version=x")
    with pytest.raises(UnsupportedOperation):
        whole.drop()


# -- live ----------------------------------------------------------------------------------------


def test_the_server_pushes_new_events_to_a_waiting_subscriber(store: EventStoreDBStore) -> None:
    with store.notifications() as wait:
        time.sleep(0.2)
        threading.Timer(0.3, lambda: store.append(stream(), events(1))).start()
        started = time.monotonic()
        assert wait(10.0) is True
        assert time.monotonic() - started < 5.0
        assert wait(0.2) is False


# -- connection, settings, errors ------------------------------------------------------------------


def test_an_unreachable_server_is_store_unavailable() -> None:
    s = EventStoreDBStore.from_url("esdb://127.0.0.1:9?Tls=false&prefix=gone")
    with pytest.raises(StoreUnavailable):
        s.append("Order-1", events(1))
    with pytest.raises(StoreUnavailable):
        s.read_all()
    s.close()


def test_the_connection_comes_from_the_environment_and_no_secret_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URI_ENV, "esdb://admin:changeit@db.example:2113?Tls=true&TlsVerifyCert=false")
    config = ESDBConfig.from_url("esdb://?prefix=p1&version=24.10.0")
    assert config.uri.startswith("esdb://admin:changeit@db.example:2113") and config.prefix == "p1"
    assert "changeit" not in repr(config.summary()) and config.safe_uri == "esdb://db.example:2113?Tls=true&TlsVerifyCert=false"
    with pytest.raises(InvalidInput):
        ESDBConfig.from_url("esdb://admin:changeit@db.example:2113?prefix=p1")
    with pytest.raises(InvalidInput):
        ESDBConfig.from_url("esdb://db.example:2113?prefix=bad.prefix")
    direct = ESDBConfig.from_url("kurrentdb://db.example:2113?Tls=false&prefix=p2&max_append_size=2048")
    assert (direct.uri, direct.prefix, direct.max_append_size) == ("esdb://db.example:2113?Tls=false", "p2", 2048)
    store = EventStoreDBStore(direct)  # a single-host URI: the client makes no call until used
    assert store.capabilities.max_event_bytes == 2048 and "changeit" not in repr(store.settings_summary())
    store.close()


def test_the_client_seam_names_only_what_both_clients_have() -> None:
    api = load_client()
    assert api.package == CLIENT
    for call in ("append_to_stream", "get_stream", "read_all", "subscribe_to_all", "set_stream_metadata", "tombstone_stream", "close"):
        assert callable(getattr(api.client_class, call))
    with pytest.raises(InvalidInput):
        load_client("someclient")


@pytest.mark.skipif(CLIENT == "kurrentdbclient", reason="kurrentdbclient is the client in use: this whole module runs through it")
@pytest.mark.skipif(
    importlib.util.find_spec("kurrentdbclient") is None,
    reason="kurrentdbclient is not installed (it cannot be installed beside esdbclient, which pins another grpcio; "
    "run this module in a venv with it and EVENTSTORE_ESDB_CLIENT=kurrentdbclient)",
)
def test_kurrentdbclient_drops_in_through_the_seam() -> None:
    """In a process of its own: the two clients cannot be imported into one (duplicate protobuf symbols)."""
    code = (
        "from eventstore.eventstoredb import load_client\n"
        "api = load_client('kurrentdbclient')\n"
        "assert api.client_class.__name__ == 'KurrentDBClient' and api.WrongVersion.__name__ == 'WrongCurrentVersionError'\n"
        "for call in ('append_to_stream', 'get_stream', 'read_all', 'subscribe_to_all', 'set_stream_metadata', 'tombstone_stream'):\n"
        "    assert callable(getattr(api.client_class, call))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


# -- the engine ----------------------------------------------------------------------------------


def test_the_engine_is_external_only_and_says_how_to_measure_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ENGINE.external_only and ENGINE.compose is not None and ENGINE.compose.service == "eventstoredb"
    monkeypatch.setenv(URI_ENV, "esdb://127.0.0.1:9?Tls=false")
    with pytest.raises(ServiceUnavailable) as info, Servers() as servers:
        with ENGINE.deploy(servers):
            pass
    message = str(info.value)
    assert message.startswith("no server reachable at esdb://127.0.0.1:9?Tls=false")
    assert "docker compose up -d --wait eventstoredb" in message and "docker compose up -d --wait kurrentdb" in message and URI_ENV in message


def test_the_engine_deploys_isolated_stores_where_a_server_answers(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not REAL_SERVER:
        monkeypatch.setenv(URI_ENV, server.rstrip("&"))
    assert reachable(ESDBConfig.from_url("esdb://")).endswith("(external server)")
    with Servers() as servers, ENGINE.deploy(servers) as deployment:
        a, b = deployment.new_url("one"), deployment.new_url("two")
        assert "prefix=" in a and a != b and "@" not in a
        first = deployment.connect(a)
        first.append("Order-1", events(1))
        second = deployment.connect(b)
        assert second.read_all() == []
        if REAL_SERVER:  # labelled as the product its release names
            assert first.engine.engine in ("EventStoreDB", "KurrentDB") and not first.engine.emulator
        else:  # the double says what it is, and the records say it too
            assert "protocol double" in first.engine.engine and "protocol double" in first.engine.version and first.engine.emulator
            assert deployment.settings["server"].startswith("protocol double at ")
        first.close()
        second.close()


def test_the_compose_services_run_no_projections_and_kurrentdb_is_current() -> None:
    """The adapter reads no link events: projections would only load the server while it is measured."""
    yaml = pytest.importorskip("yaml", reason="reading docker-compose.yml needs PyYAML (the bench extra)")
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for declared in (ENGINE.compose, *ENGINE.compose_alternatives):
        assert declared is not None
        env = services[declared.service]["environment"]
        assert [v for k, v in env.items() if k.endswith("_RUN_PROJECTIONS")] == ["None"], declared.service
        assert all(str(v).lower() == "false" for k, v in env.items() if k.endswith("_START_STANDARD_PROJECTIONS")), declared.service
    assert re.fullmatch(r"kurrentplatform/kurrentdb:2[56]\.\d+(\.\d+)?", services[KURRENTDB.service]["image"])
    assert services[ENGINE.compose.service]["image"] == "eventstore/eventstore:24.10"


def test_the_release_names_the_product() -> None:
    assert [(i.engine, i.emulator) for i in map(engine_info, ("24.10.0 (external server)", "26.1.0 (external server)", "unknown"))] == [
        ("EventStoreDB", False), ("KurrentDB", False), ("EventStoreDB", False)]
    double = engine_info(f"{DOUBLE_VERSION} (external server)")
    assert double.emulator and "not the product" in double.engine
