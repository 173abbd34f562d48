"""The eventsourcing library's own reusable test cases (from the installed 9.5.6 wheel) against
``eventstore.eventsourcing_persistence`` on PostgreSQL and on SQLite, its bank-accounts example
application with ``PERSISTENCE_MODULE`` set, and the late-commit follower test.

Overrides, each for a documented difference (README.md of the module):
- PostgreSQL's notification ids are not contiguous (they pack transaction id and position), so there
  ``ApplicationRecorderTestCase.test_insert_select`` and ``ApplicationTestCase.test_save_returns_recording_event``
  check the same calls against the ids the inserts returned, and ``EXPECT_CONTIGUOUS_NOTIFICATION_IDS``
  is False.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DataError,
    InfrastructureFactoryError,
    IntegrityError,
    Notification,
    ProcessRecorder,
    StoredEvent,
    TrackingRecorder,
)
from eventsourcing.tests import application as library_application
from eventsourcing.tests import persistence as library
from eventsourcing.utils import Environment, get_topic

from eventstore import open_store
from eventstore.eventsourcing_persistence import Factory
from eventstore.eventsourcing_persistence.codec import data_state
from eventstore.eventsourcing_persistence.dialects import PostgresDialect
from eventstore.eventsourcing_persistence.recorders import (
    StoreAggregateRecorder,
    StoreApplicationRecorder,
    StoreProcessRecorder,
    StoreTrackingRecorder,
)
from eventstore.postgres import new_schema_name
from eventstore.postgres.store import PostgresStore

MODULE = "eventstore.eventsourcing_persistence"


class OnStore:
    """A fresh store per test, on the engine the subclass names; factories over it closed and the
    store dropped afterwards."""

    __test__ = False  # the concrete Test* classes below set it: the bases are not collected
    engine = "postgres"
    url: str

    @pytest.fixture(autouse=True)
    def _fresh_store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
        if self.engine == "postgres":
            dsn = request.getfixturevalue("pg_dsn")
            self.url = f"{dsn}{'&' if '?' in dsn else '?'}schema={new_schema_name('es')}"
        else:
            self.url = f"sqlite:///{tmp_path / 'es.db'}"
        self._factories: list[Factory] = []
        yield
        for factory in self._factories:
            factory.close()
        open_store(self.url).drop()

    def factory(self, name: str = "TestApp") -> Factory:
        factory = Factory(Environment(name, {"EVENTSTORE_URL": self.url}))
        self._factories.append(factory)
        return factory


class OnSQLite(OnStore):
    engine = "sqlite"


# -- the library's recorder cases ----------------------------------------------------------------


class AggregateCase(OnStore, library.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.factory().aggregate_recorder()


class ApplicationCase(OnStore, library.ApplicationRecorderTestCase[ApplicationRecorder]):
    def create_recorder(self) -> ApplicationRecorder:
        return self.factory().application_recorder()

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TrackingCase(OnStore, library.TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return self.factory().tracking_recorder()


class ProcessCase(OnStore, library.ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return self.factory().process_recorder()


class NonInterleavingCase(OnStore, library.NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> ApplicationRecorder:
        return self.factory().application_recorder()


class FactoryCase(OnStore, library.InfrastructureFactoryTestCase[Factory]):
    def setUp(self) -> None:
        self.env = Environment("TestCase", {"PERSISTENCE_MODULE": MODULE, "EVENTSTORE_URL": self.url})
        super().setUp()

    def expected_factory_class(self) -> type[Factory]:
        return Factory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return StoreAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return StoreApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return StoreTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return CustomTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return StoreProcessRecorder


class CustomTrackingRecorder(StoreTrackingRecorder):
    """The subclass the factory case asks for by class and by topic."""


class EnvironmentCase(OnStore):
    """The library's application cases read PERSISTENCE_MODULE and EVENTSTORE_URL from os.environ."""

    @pytest.fixture(autouse=True)
    def _environment(self, _fresh_store: None, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(os.environ, "PERSISTENCE_MODULE", MODULE)
        monkeypatch.setitem(os.environ, "EVENTSTORE_URL", self.url)


class BankAccountsCase(EnvironmentCase, library_application.ExampleApplicationTestCase):
    expected_factory_topic = get_topic(Factory)


class ApplicationsCase(EnvironmentCase, library_application.ApplicationTestCase):
    pass


# -- on PostgreSQL -------------------------------------------------------------------------------


class TestPostgresAggregateRecorder(AggregateCase):
    __test__ = True


class TestPostgresApplicationRecorder(ApplicationCase):
    __test__ = True
    # Ids pack (transaction id, position): increasing, never contiguous.
    EXPECT_CONTIGUOUS_NOTIFICATION_IDS = False

    def test_insert_select(self) -> None:
        # The library's checks at the ids the inserts returned, not at 1, 2, 3 (ids are not contiguous).
        recorder = self.create_recorder()
        self.assertEqual(recorder.select_notifications(start=None, limit=3), [])
        self.assertIsNone(recorder.max_notification_id())
        o1, o2 = self.new_originator_id(), self.new_originator_id()
        e1 = StoredEvent(o1, self.INITIAL_VERSION, "topic1", b"state1")
        e2 = StoredEvent(o1, self.INITIAL_VERSION + 1, "topic2", b"state2")
        e3 = StoredEvent(o2, self.INITIAL_VERSION, "topic3", b"state3")
        first = recorder.insert_events([e1, e2])
        second = recorder.insert_events([e3])
        assert first is not None and second is not None
        ids = [*first, *second]
        self.assertEqual(ids, sorted(set(ids)))
        with self.assertRaises(IntegrityError):
            recorder.insert_events([e3])

        def read(*args: Any, **kwargs: Any) -> list[tuple[int, str]]:
            return [(n.id, n.topic) for n in recorder.select_notifications(*args, **kwargs)]

        everything = list(zip(ids, ["topic1", "topic2", "topic3"], strict=True))
        self.assertEqual(read(start=None, limit=10), everything)
        self.assertEqual(read(start=ids[0], limit=10), everything)
        self.assertEqual(read(start=None, stop=ids[1], limit=10), everything[:2])
        self.assertEqual(read(start=ids[0], limit=10, inclusive_of_start=False), everything[1:])
        self.assertEqual(read(start=ids[1], limit=10, inclusive_of_start=False), everything[2:])
        self.assertEqual(read(start=None, limit=10, topics=["topic1", "topic2", "topic3"]), everything)
        self.assertEqual(read(ids[0], 10, topics=["topic2"]), everything[1:2])
        self.assertEqual(read(ids[0], 3, topics=["topic1", "topic3"]), [everything[0], everything[2]])
        self.assertEqual(recorder.max_notification_id(), ids[2])
        self.assertEqual(read(None, 1), everything[:1])
        self.assertEqual(read(ids[1], 2), everything[1:])
        self.assertEqual(read(ids[2], 1, inclusive_of_start=False), [])
        self.assertEqual(read(start=ids[1], limit=10, stop=ids[1]), everything[1:2])
        self.assertEqual(read(start=ids[0], limit=10, stop=ids[1], inclusive_of_start=False), everything[1:2])
        n = recorder.select_notifications(start=None, limit=1)[0]
        self.assertEqual((n.originator_id, n.originator_version, n.state), (o1, self.INITIAL_VERSION, b"state1"))


class TestPostgresTrackingRecorder(TrackingCase):
    __test__ = True


class TestPostgresProcessRecorder(ProcessCase):
    __test__ = True


class TestPostgresNonInterleavingNotificationIDs(NonInterleavingCase):
    __test__ = True


class TestPostgresFactory(FactoryCase):
    __test__ = True


class TestPostgresBankAccounts(BankAccountsCase):
    __test__ = True


class TestPostgresApplications(ApplicationsCase):
    __test__ = True

    def test_save_returns_recording_event(self) -> None:
        # The library's checks with increasing ids where it expects 1, 2, 3, 4 (ids are not contiguous).
        app = Application[uuid.UUID]()
        self.assertEqual(app.save(), [])
        self.assertEqual(app.save(None), [])
        ids = [r.notification.id for r in app.save(Aggregate())]
        ids += [r.notification.id for r in app.save(Aggregate())]
        self.assertEqual(len(ids), 2)
        pair = app.save(Aggregate(), Aggregate())
        self.assertEqual(len(pair), 2)
        ids += [r.notification.id for r in pair]
        self.assertEqual(ids, sorted(set(ids)))
        self.assertEqual([n.id for n in app.notification_log.select(start=None, limit=10)], ids)


# -- on SQLite: the library's cases unchanged ----------------------------------------------------


class TestSQLiteAggregateRecorder(OnSQLite, AggregateCase):
    __test__ = True


class TestSQLiteApplicationRecorder(OnSQLite, ApplicationCase):
    __test__ = True


class TestSQLiteTrackingRecorder(OnSQLite, TrackingCase):
    __test__ = True


class TestSQLiteProcessRecorder(OnSQLite, ProcessCase):
    __test__ = True


class TestSQLiteNonInterleavingNotificationIDs(OnSQLite, NonInterleavingCase):
    __test__ = True


class TestSQLiteFactory(OnSQLite, FactoryCase):
    __test__ = True


class TestSQLiteBankAccounts(OnSQLite, BankAccountsCase):
    __test__ = True


class TestSQLiteApplications(OnSQLite, ApplicationsCase):
    __test__ = True


# -- gap safety: a follower reading by id through a late commit ----------------------------------


class GlobalPositionIds(StoreApplicationRecorder):
    """The broken variant: notification ids are the reference's global_position alone, read in that
    order under the reference's own visibility rule (only transactions older than every running
    one). It looks gap-safe, but a transaction that took its id later can hold the lower position."""

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None, topics: Any = (), *, inclusive_of_start: bool = True) -> list[Notification]:
        store = self.store
        assert isinstance(store, PostgresStore)
        with store.transaction() as tx:
            rows = tx.execute(
                "SELECT global_position, stream_id, version, event_type, data FROM events WHERE category = %s"
                " AND global_position > %s AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())"
                " ORDER BY global_position LIMIT %s",
                (self.codec.category, start or 0, limit),
            ).fetchall()
        return [Notification(self.codec.originator_id(s), v, t, data_state(d), id=g) for g, s, v, t, d in rows]


def follow(recorder: ApplicationRecorder, last: int | None) -> tuple[list[bytes], int | None]:
    """One read of a follower at ``last`` (``gt=``, as the library's followers read): the states it
    got, and where it resumes next."""
    page = recorder.select_notifications(last, 10, inclusive_of_start=False)
    return [n.state for n in page], (page[-1].id if page else last)


def late_commit(pg_dsn: str, recorder: StoreApplicationRecorder, inverted: bool) -> list[bytes]:
    """Two writers, each in an open transaction of its own, and a follower reading between their
    commits; returns every state the follower got. ``early`` holds the lower position and commits
    last. With ``inverted``, ``late`` takes its transaction id first, so the transaction-id order
    is the opposite of the position order."""
    dialect = recorder.dialect
    assert isinstance(dialect, PostgresDialect)
    store = recorder.store
    assert isinstance(store, PostgresStore)

    def row(state: bytes) -> tuple[str, int, str, str]:
        return recorder.codec.row(uuid.uuid4(), 1, "Happened", state)

    recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "Happened", b"before")])
    seen, last = follow(recorder, None)  # a fresh store: the follower starts at the beginning
    with psycopg.connect(pg_dsn) as early_tx, psycopg.connect(pg_dsn) as late_tx:
        for tx in (early_tx, late_tx):
            tx.execute(f'SET search_path TO "{store.schema}"')
        if inverted:
            late_tx.execute("SELECT pg_current_xact_id()")
        early = dialect.write(early_tx, [row(b"early")], None)
        late = dialect.write(late_tx, [row(b"late")], None)
        assert early[0][1] < late[0][1]  # global positions: early holds the lower one
        late_tx.commit()
        got, last = follow(recorder, last)
        seen += got
        early_tx.commit()
    for _ in range(3):
        got, last = follow(recorder, last)
        seen += got
    return seen


@pytest.fixture
def pg_recorder(pg_dsn: str) -> Iterator[StoreApplicationRecorder]:
    factory = Factory(Environment("Follow", {"EVENTSTORE_URL": f"{pg_dsn}{'&' if '?' in pg_dsn else '?'}schema={new_schema_name('es')}"}))
    recorder = factory.application_recorder()
    assert isinstance(recorder, StoreApplicationRecorder)
    yield recorder
    factory.store.drop()


@pytest.mark.parametrize("inverted", [False, True], ids=["ids-in-position-order", "ids-against-position-order"])
def test_a_follower_reads_through_a_late_commit(pg_dsn: str, pg_recorder: StoreApplicationRecorder, inverted: bool) -> None:
    # Never skipped: "early" arrives once its transaction commits, in (transaction id, position) order.
    expected = [b"before", b"late", b"early"] if inverted else [b"before", b"early", b"late"]
    assert late_commit(pg_dsn, pg_recorder, inverted) == expected


def test_ids_without_the_gap_rule_skip_the_late_commit(pg_dsn: str, pg_recorder: StoreApplicationRecorder) -> None:
    """The same test fails on ids that are global positions: the follower never gets ``early``."""
    broken = GlobalPositionIds(pg_recorder.store, pg_recorder.dialect, pg_recorder.codec)
    seen = late_commit(pg_dsn, broken, inverted=True)
    assert seen == [b"before", b"late"], seen


# -- what the module refuses, and what it keeps exact --------------------------------------------


@pytest.mark.parametrize("url", ["memory://", "postgresql://nobody@127.0.0.1:1/x?mode=naive"])
def test_an_engine_without_the_capabilities_is_refused_with_the_reason(url: str, pg_dsn: str) -> None:
    if "naive" in url:
        url = f"{pg_dsn}{'&' if '?' in pg_dsn else '?'}schema={new_schema_name('es')}&mode=naive"
    with pytest.raises(InfrastructureFactoryError, match="declares no .*gap_safe_global_order|declares no .*transactional_checkpoints"):
        Factory(Environment("App", {"EVENTSTORE_URL": url}))
    if "naive" in url:
        open_store(url).drop()


def test_a_missing_url_and_a_bad_application_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InfrastructureFactoryError, match="EVENTSTORE_URL"):
        Factory(Environment("App", {}))
    factory = Factory(Environment("My-App", {"EVENTSTORE_URL": f"sqlite:///{tmp_path / 'a.db'}"}))
    with pytest.raises(InfrastructureFactoryError, match="contains '-'"):
        factory.application_recorder()
    factory.close()


@pytest.mark.parametrize("engine", ["postgres", "sqlite"])
def test_any_state_bytes_round_trip_and_bad_values_write_nothing(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if engine == "postgres":
        dsn = request.getfixturevalue("pg_dsn")
        url = f"{dsn}{'&' if '?' in dsn else '?'}schema={new_schema_name('es')}"
    else:
        url = f"sqlite:///{tmp_path / 'b.db'}"
    factory = Factory(Environment("Bytes", {"EVENTSTORE_URL": url, "EVENTSTORE_ORIGINATOR_ID_TYPE": "text"}))
    recorder = factory.application_recorder()
    states = [b"", b'{"a": 1}', b"\x00nul", bytes(range(256)), "caf\u00e9 \U0001f408".encode(), b"\xff\xfe"]
    recorder.insert_events([StoredEvent("order-1", v, "T", s) for v, s in enumerate(states)])
    assert [e.state for e in recorder.select_events("order-1")] == states
    assert [n.originator_id for n in recorder.select_notifications(None, 10)] == ["order-1"] * len(states)
    for bad in (StoredEvent("order-2", -1, "T", b""), StoredEvent("order-2", 0, "", b""), StoredEvent("order-2", 0, "T\x00", b"")):
        with pytest.raises(DataError):
            recorder.insert_events([StoredEvent("order-2", 1, "T", b"ok"), bad])
    assert recorder.select_events("order-2") == []
    factory.store.drop()
