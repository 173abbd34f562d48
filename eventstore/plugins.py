"""Engines are plugins: one package each, found through the ``eventstore.engines`` entry point group.

An engine package holds its store, its capabilities, its server lifecycle (or says that it only
reaches an external server), its connection settings with their environment variable names, how
to make a fresh isolated store and remove it again, its conformance test class and its docs page.
This project registers its own engines exactly as a third party would, in ``pyproject.toml``::

    [project.entry-points."eventstore.engines"]
    mystore = "mypackage.engine:ENGINE"     # an Engine instance whose name is "mystore"

``open_store(url)`` routes a URL to the engine that declares its scheme; the harness, the notebooks
and the conformance suite list engines from ``engines()``. Nothing else names a particular engine.
"""
from __future__ import annotations

import functools
import importlib
import itertools
import re
import secrets
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast
from urllib.parse import urlsplit

from .errors import InvalidInput, UnsupportedOperation
from .events import NewEvent
from .servers import Server, ServiceUnavailable
from .store import EventStore

ENTRY_POINT_GROUP = "eventstore.engines"

__all__ = [
    "DEFAULTS", "ComposeService", "CostModel", "Deployment", "DurabilitySetting", "ENTRY_POINT_GROUP", "Engine", "EnvVar", "NoLivePath", "RawListener", "RawPath", "RawRow", "Servers",
    "ServiceUnavailable", "engine_for_url", "engine_modules", "engine_names", "engines", "get_engine", "open_store", "row_setting",
]


@dataclass(frozen=True)
class EnvVar:
    """An environment variable an engine reads; ``secret`` ones are never recorded or printed."""

    name: str
    meaning: str
    secret: bool = False


@dataclass(frozen=True)
class ComposeService:
    """How ``docker-compose.yml`` runs the engine: the service, the port it publishes on
    127.0.0.1, and what a user exports to point the workbench at it."""

    service: str
    port: int
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DurabilitySetting:
    """A setting of an engine that changes what a crash or a power loss can lose, for the faults
    workload to measure.

    ``query`` is added to a store URL of the engine; the store's ``settings_summary()`` must then
    report each ``expect`` entry (case-insensitive), or the setting is not measured: one the store
    silently ignored would otherwise be measured under a false label. ``server``: settings only a
    server of its own can take (PostgreSQL's ``fsync``), as ``Servers(server_settings=...)`` passes
    them to the engine's server; such a setting is never applied to a run's shared server, so only a
    test that starts a server for it (the faults workload's power cuts) measures it.

    ``durable``: the setting keeps every acknowledged append through a power loss (every write it
    acknowledged was fsynced). The faults workload checks this claim on a filesystem that drops
    unsynced writes, never takes it on trust: a durable setting that loses an acknowledged append
    there is a broken promise."""

    name: str
    label: str
    durable: bool
    query: str = ""
    expect: tuple[tuple[str, str], ...] = ()
    server: tuple[tuple[str, str], ...] = ()

    def url(self, base: str) -> str:
        return f"{base}{'&' if '?' in base else '?'}{self.query}" if self.query else base


#: An engine that declares no durability settings runs this one: its defaults, taken as durable, unchecked.
DEFAULTS = DurabilitySetting("defaults", "defaults", True)


def row_setting(engine: Engine) -> DurabilitySetting:
    """The setting ``engine``'s row is measured under: its first declared one (its stores' default
    URL configuration), or ``DEFAULTS`` for an engine that declares none."""
    return engine.durability_settings[0] if engine.durability_settings else DEFAULTS


S = TypeVar("S", bound=Server)


class Servers:
    """The servers of one run, each started at most once and shared by the engines that use it
    (``postgres`` and ``postgres-naive`` use one PostgreSQL), all stopped by ``close``.

    ``durable=False`` lets engines trade crash safety for speed (tests); benchmarks keep the default.
    ``data_in_workdir``: every server keeps its data directory under ``workdir`` (a power-loss test
    puts ``workdir`` on its mount), where a server would otherwise choose its own temp dir.
    ``server_settings``: settings every server started here takes (a ``DurabilitySetting.server``),
    for a ``Servers`` of its own, never a run's shared one.
    """

    def __init__(self, workdir: str | Path | None = None, *, durable: bool = True, data_in_workdir: bool = False,
                 server_settings: Mapping[str, str] | None = None) -> None:
        self._own_dir: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="eventstore-run-")
            workdir = self._own_dir.name
        self.workdir = Path(workdir)
        self.durable = durable
        self.data_in_workdir = data_in_workdir
        self.server_settings: dict[str, str] = dict(server_settings or {})
        self._started: dict[str, Server | ServiceUnavailable] = {}
        self._stack = ExitStack()

    def get(self, key: str, start: Callable[[], S]) -> S:
        """The server ``key``, started by ``start()`` on first use; a failure to start is remembered."""
        if key not in self._started:
            try:
                server = start()
            except ServiceUnavailable as exc:
                self._started[key] = exc
                raise
            self._stack.callback(server.stop)
            self._started[key] = server
        found = self._started[key]
        if isinstance(found, ServiceUnavailable):
            raise found
        return cast(S, found)  # a key always names the server its ``start`` makes

    def close(self) -> None:
        self._stack.close()
        self._started.clear()
        if self._own_dir is not None:
            self._own_dir.cleanup()

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Deployment:
    """A started (or reached) engine: fresh isolated stores on demand, every one removed at ``close``.

    Parameters:
        engine: the engine deployed.
        make_url: the URL of a new store from a unique label of ``[a-z0-9_]`` (a file, schema,
            table or topic prefix named after it).
        settings: what the environment record says about this deployment (no secrets).
        cleanup: called after every store is dropped (removing a temp dir, say).
        server: the server process this deployment started, which a fault-injection workload may
            crash and restart on the same data directory (``Server.kill``/``restart``). None when
            the engine runs inside its client's process (embedded: a crash is the client's), or when
            ``no_crash_reason`` says why there is nothing the run may crash.
        no_crash_reason: why this engine cannot be crashed here (a server the run did not start, an
            emulator that keeps its data in memory), or None.
    """

    def __init__(
        self, engine: Engine, make_url: Callable[[str], str], *, settings: Mapping[str, Any] | None = None,
        cleanup: Callable[[], None] | None = None, server: Server | None = None, no_crash_reason: str | None = None,
    ) -> None:
        self.engine = engine
        self.server = server
        self.no_crash_reason = no_crash_reason
        self.settings: dict[str, Any] = dict(settings or {})
        self._make_url = make_url
        self._cleanup = cleanup
        self._counter = itertools.count(1)
        self._token = secrets.token_hex(2)
        self._created: list[str] = []
        self._shared: dict[str, EventStore] = {}

    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def cross_process(self) -> bool:
        """Whether another process can open this deployment's URLs (``memory://`` cannot)."""
        return self.engine.cross_process

    def new_url(self, label: str) -> str:
        """The URL of a new, empty, isolated store; ``close`` removes it."""
        safe = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:24] or "store"
        url = self._make_url(f"b{self._token}_{safe}_{next(self._counter)}")
        self._created.append(url)
        return url

    def release(self, url: str) -> None:
        """The caller removed the store at ``url`` itself: ``close`` need not drop it."""
        self._created.remove(url)
        self._shared.pop(url, None)

    def connect(self, url: str) -> EventStore:
        """Open ``url``. In-process engines hand every caller the same store (closed here, at
        ``close``), so writers in several threads see one store, as they would with a server."""
        if self.cross_process:
            return self.engine.open_store(url)
        if url not in self._shared:
            self._shared[url] = self.engine.open_store(url)
        return self._shared[url]

    def close(self) -> None:
        """Drop every store this deployment handed out, then release what it holds.

        Every drop is tried; the first failure is raised afterwards, naming the stores left behind."""
        failures: list[str] = []
        created, self._created = self._created, []
        for url in created:
            try:
                store = self._shared.pop(url, None) or self.engine.open_store(url)
                store.drop()
            except Exception as exc:  # keep dropping the others; reported below
                failures.append(f"{_redact(url)}: {type(exc).__name__}: {exc}")
        for store in self._shared.values():
            store.close()
        self._shared.clear()
        if self._cleanup is not None:
            self._cleanup()
        if failures:
            raise ServiceUnavailable(f"{self.name}: {len(failures)} store(s) could not be removed: " + "; ".join(failures))

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: One event as a raw path reads it: (position, stream id, version, event type, data, event id,
#: metadata, recorded at), the fields of a ``RecordedEvent``, decoded to the same Python types (so a
#: read's ratio prices the API, not a decoding the raw side skipped). The position is the raw path's
#: own cursor, opaque to its caller, passed back as ``after`` for the next page.
RawRow = tuple[Any, str, int, str, Any, uuid.UUID, Any, datetime]


class RawPath(ABC):
    """An engine's raw path: the same work as its store's append and ``read_all``, written directly
    against the engine's client, without the API's guarantees (no optimistic-concurrency check, no
    idempotency lookup, no gap-safe filter), with the same durability settings and payload encoding.
    The overhead workload measures each store against it, so the ratio is the price of the API.

    It opens on a store URL of its engine (the same server, file, schema, table or topic prefix the
    store uses there; it creates them as opening the store would, if missing) and reads and writes
    where the store does: ``read_page`` returns the events the store appended at that URL.
    """

    #: One line: what the raw path is ("single-row INSERT, COPY, keyset SELECT, psycopg defaults").
    describe: ClassVar[str]

    @abstractmethod
    def __init__(self, url: str) -> None:
        """Open on ``url``, a store URL of this engine."""

    @abstractmethod
    def append_one(self, stream_id: str, event: NewEvent) -> None:
        """Write one event, at the next version of ``stream_id`` (one commit or request)."""

    @abstractmethod
    def append_batch(self, stream_id: str, events: Sequence[NewEvent]) -> None:
        """Write ``events`` to the new stream ``stream_id`` in as few commits or requests as the engine allows."""

    @abstractmethod
    def read_page(self, after: Any, limit: int) -> list[RawRow]:
        """Up to ``limit`` events of everything in the store after ``after`` (None: from the start),
        in the engine's own order, their data decoded as the store decodes it; an empty list at the end."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and clients (the store's data stays)."""

    # -- live: optional; the default is "no live path" ------------------------------------------

    def append_live(self, stream_id: str, event: NewEvent) -> None:
        """``append_one``, written so that ``listen`` learns of it (the default: ``append_one`` as is)."""
        self.append_one(stream_id, event)

    def listen(self, poll_interval: float) -> RawListener:
        """The engine's own cheapest way to learn of each event ``append_live`` commits from now on,
        on a connection or client of its own. ``poll_interval``: how often a listener that can only
        poll looks (the store's subscribers were given the same); one the engine wakes ignores it.

        The default raises ``NoLivePath``: this raw path has no live path, and the overhead workload
        records its live delivery as not measured with the message as the reason."""
        raise NoLivePath(f"{type(self).__name__} has no live path")


class NoLivePath(UnsupportedOperation):
    """A raw path that cannot learn of new events as they are committed; the message says why."""


class RawListener(ABC):
    """A raw path's live end (``RawPath.listen``): the ids of new events, as the engine tells of them."""

    #: One line: how it learns of a new event ("LISTEN on another connection, NOTIFY in the INSERT's transaction").
    describe: ClassVar[str]

    @abstractmethod
    def poll(self, timeout: float) -> list[uuid.UUID]:
        """The ids of events committed since ``listen`` that this listener has not returned yet, in the
        order it learnt of them; waits up to ``timeout`` seconds for the first, then returns ``[]``."""

    @abstractmethod
    def close(self) -> None:
        """Stop listening and release the connection or client."""


@dataclass(frozen=True)
class CostModel:
    """What a million events cost on a billed service, as its engine's model prices them.

    ``rows``: one mapping per operation (the same keys in each; numbers or short words), ``notes``:
    the assumptions a reader needs (event size, prices and when they were read)."""

    title: str
    rows: list[dict[str, Any]]
    notes: list[str]


class Engine(ABC):
    """One engine. Subclass it in the engine's package and register an instance as an entry point."""

    #: The registry name (``python -m bench run --engines NAME``); the entry point's name.
    name: str
    #: One line for listings and the report.
    description: str
    #: URL schemes ``open_store`` routes to this engine (a variant such as a naive mode may declare none).
    schemes: tuple[str, ...] = ()
    #: The URL forms, for listings and docs.
    url_form: ClassVar[str] = ""
    #: The environment variables the engine reads (connection settings).
    env: ClassVar[tuple[EnvVar, ...]] = ()
    #: Distributions whose versions the environment record names (clients, emulators).
    packages: ClassVar[tuple[str, ...]] = ()
    #: The engine's docs page.
    docs: ClassVar[Path | None] = None
    #: Settings that change what a crash or a power loss can lose; none: its defaults only. By convention
    #: the FIRST is the engine's own configuration, the one its stores' default URLs get and its row in
    #: the report is measured and judged under (``row_setting``); the others are measured beside it.
    durability_settings: tuple[DurabilitySetting, ...] = ()
    #: The docker-compose service that runs the real engine, if any.
    compose: ClassVar[ComposeService | None] = None
    #: Other docker-compose services the engine measures the same way (a successor product beside it).
    compose_alternatives: ClassVar[tuple[ComposeService, ...]] = ()
    #: Part of a run that asks for the default engines.
    default: ClassVar[bool] = True
    #: Its stores can be opened from another process.
    cross_process: ClassVar[bool] = True
    #: Listing order (lower first), then the name.
    rank: int = 50
    #: The engine only reaches a server someone else runs (nothing it can start here): where none is
    #: configured it is "not measured" rather than broken, and its tests skip with the reason.
    external_only: ClassVar[bool] = False
    #: ``module:Class`` of the conformance test class (a subclass of ``EventStoreConformance``
    #: holding the engine's test hooks); the generic test module provides ``make_store``.
    conformance: ClassVar[str] = "eventstore.testing:EventStoreConformance"
    #: ``module:Class`` of the engine's raw path (a ``RawPath``) the overhead workload compares the
    #: store with; None: the engine declares none, and that workload records it as not measured.
    raw_path: ClassVar[str | None] = None

    @abstractmethod
    def open_store(self, url: str) -> EventStore:
        """Open the store ``url`` names (one of ``schemes``)."""

    @abstractmethod
    def deploy(self, servers: Servers) -> AbstractContextManager[Deployment]:
        """Start the engine's server through ``servers`` (or reach the configured external one) and
        yield a ``Deployment``; raise ``ServiceUnavailable`` with the reason when that cannot be done."""

    def cost_model(self, event_bytes: int | None) -> CostModel | None:
        """What a million events of ``event_bytes`` bytes of data (None: the model's own default)
        cost on the service this engine stands for, for a billed service; None for an engine
        whose cost is a machine's, not a bill's (the default)."""
        return None

    def conformance_class(self) -> type:
        module, _, name = self.conformance.partition(":")
        return getattr(importlib.import_module(module), name)

    def raw_path_class(self) -> type[RawPath] | None:
        """The class ``raw_path`` names (imported now, not with the engine), or None if it names none."""
        if self.raw_path is None:
            return None
        module, _, name = self.raw_path.partition(":")
        found = getattr(importlib.import_module(module), name)
        if not (isinstance(found, type) and issubclass(found, RawPath)):
            raise TypeError(f"{self.name}: raw_path {self.raw_path} is not a RawPath subclass")
        return found

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


@functools.cache
def engines() -> dict[str, Engine]:
    """Every registered engine by name, in listing order."""
    found: dict[str, Engine] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        engine = _load(entry)
        if entry.name in found and type(found[entry.name]) is not type(engine):
            raise ValueError(f"two packages register an engine named {entry.name!r}")
        found[entry.name] = engine
    return dict(sorted(found.items(), key=lambda item: (item[1].rank, item[0])))


def get_engine(name: str) -> Engine:
    """The engine registered as ``name``, loading only its own entry point (and so only its own
    client library: a process that restarts often, such as a crashed writer, starts faster)."""
    found = [_load(entry) for entry in entry_points(group=ENTRY_POINT_GROUP, name=name)]
    if not found:
        raise InvalidInput(f"no engine registered as {name!r}; registered: {', '.join(engine_names())}")
    if any(type(engine) is not type(found[0]) for engine in found[1:]):
        raise ValueError(f"two packages register an engine named {name!r}")
    return found[0]


def engine_names() -> list[str]:
    """Every registered engine's name, without loading any engine."""
    return sorted({entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})


def engine_modules() -> list[str]:
    """The modules the registered engines live in, without loading them (what a fork server preloads)."""
    return sorted({entry.module for entry in entry_points(group=ENTRY_POINT_GROUP)})


def _load(entry: EntryPoint) -> Engine:
    engine = entry.load()
    if not isinstance(engine, Engine):
        raise TypeError(f"entry point {entry.name} = {entry.value} is a {type(engine).__name__}, not an eventstore Engine")
    if engine.name != entry.name:
        raise ValueError(f"entry point {entry.name} = {entry.value} names an engine called {engine.name!r}")
    return engine


def engine_for_url(url: str) -> Engine:
    """The engine whose declared scheme ``url`` has."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInput(f"store URL must look like scheme://..., not {url!r}")
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    for engine in engines().values():
        if scheme in engine.schemes:
            return engine
    known = sorted({s for e in engines().values() for s in e.schemes})
    raise InvalidInput(f"unknown store URL scheme {scheme!r}; known: {', '.join(known)}")


def open_store(url: str) -> EventStore:
    """Open the store a URL names, through the engine that declares its scheme."""
    return engine_for_url(url).open_store(url)


def _redact(url: str) -> str:
    """A URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)
