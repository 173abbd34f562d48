"""The engines a run can measure, and how each one starts, hands out fresh stores, and stops.

An engine is an entry in ``ENGINES``: a name, a line of description, and a context manager that
starts what the engine needs and yields an ``EngineHandle``. Workloads and notebooks only see the
handle (``new_url``, ``connect``), so adding an engine is one new entry here and nothing else.

Servers are shared through ``Services`` for the length of one run: ``postgres`` and
``postgres-naive`` use the same throwaway PostgreSQL server, each store in its own schema, and
``kafka`` and ``kafka-naive`` the same broker, each store under its own topic prefix.
An engine that cannot start becomes a ``NotMeasured`` with the reason; it is never dropped.
Environment variables point an engine at an existing server instead of starting one:
``EVENTSTORE_POSTGRES_DSN``, ``EVENTSTORE_DYNAMODB_ENDPOINT``, ``EVENTSTORE_KAFKA_BOOTSTRAP``.
"""
from __future__ import annotations

import itertools
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ContextManager
from urllib.parse import quote

from eventstore import EventStore, open_store

POSTGRES_DSN_ENV = "EVENTSTORE_POSTGRES_DSN"
DYNAMODB_ENDPOINT_ENV = "EVENTSTORE_DYNAMODB_ENDPOINT"
KAFKA_BOOTSTRAP_ENV = "EVENTSTORE_KAFKA_BOOTSTRAP"


class NotMeasured(Exception):
    """An engine could not be used; ``str(exc)`` is the reason the report shows."""


class EngineHandle:
    """A started engine: fresh isolated stores on demand.

    Parameters:
        name: the engine's registry name.
        make_url: builds a store URL from a unique, sanitised label.
        settings: the engine's settings for the environment record (fsync, versions, endpoints).
        cross_process: whether a URL can be opened by another process (``memory://`` cannot).
    """

    def __init__(self, name: str, make_url: Callable[[str], str], *, settings: dict[str, Any] | None = None, cross_process: bool = True) -> None:
        self.name = name
        self._make_url = make_url
        self.settings: dict[str, Any] = dict(settings or {})
        self.cross_process = cross_process
        self._counter = itertools.count(1)
        self._token = secrets.token_hex(2)
        self._shared: dict[str, EventStore] = {}

    def new_url(self, label: str) -> str:
        """The URL of a new, empty, isolated store (file, schema, table or topic prefix)."""
        safe = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:24] or "store"
        return self._make_url(f"b{self._token}_{safe}_{next(self._counter)}")

    def connect(self, url: str) -> EventStore:
        """Open ``url``. In-process engines hand every caller the same store (whose ``close`` is a
        no-op), so that writers in several threads see one store, as they would with a server."""
        if self.cross_process:
            return open_store(url)
        if url not in self._shared:
            self._shared[url] = open_store(url)
        return self._shared[url]

    def close(self) -> None:
        for store in self._shared.values():
            store.close()
        self._shared.clear()


class Services:
    """Servers started at most once per run and stopped when the run ends."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._started: dict[str, Any] = {}
        self._stack = ExitStack()

    def get(self, key: str, start: Callable[[], Any], stop: Callable[[Any], None]) -> Any:
        """The server ``key``, started on first use; a failure to start is remembered and re-raised."""
        if key not in self._started:
            try:
                server = start()
            except Exception as exc:
                self._started[key] = exc
                raise
            self._stack.callback(stop, server)
            self._started[key] = server
        if isinstance(self._started[key], Exception):
            raise self._started[key]
        return self._started[key]

    def close(self) -> None:
        self._stack.close()
        self._started.clear()


@dataclass(frozen=True)
class Engine:
    """One registry entry; ``open(services)`` is a context manager yielding an ``EngineHandle``."""

    name: str
    description: str
    open: Callable[[Services], ContextManager[EngineHandle]]
    #: Included when a run asks for the default engines (``memory`` is for quick experiments only).
    default: bool = True
    tags: tuple[str, ...] = field(default_factory=tuple)


# -- the engines ------------------------------------------------------------------------------------


@contextmanager
def _memory(services: Services) -> Iterator[EngineHandle]:
    handle = EngineHandle("memory", lambda label: f"memory://{label}", settings={"process": "in-process"}, cross_process=False)
    try:
        yield handle
    finally:
        handle.close()


@contextmanager
def _sqlite(services: Services) -> Iterator[EngineHandle]:
    directory = Path(tempfile.mkdtemp(prefix="sqlite-", dir=services.workdir))
    handle = EngineHandle("sqlite", lambda label: f"sqlite:///{directory / label}.db", settings={"sqlite_library": sqlite3.sqlite_version, "files": "run temp dir, deleted after"})
    try:
        yield handle
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _postgres_server(services: Services) -> tuple[str, dict[str, Any]]:
    """DSN and settings of the run's PostgreSQL: ``$EVENTSTORE_POSTGRES_DSN`` or a durable throwaway server."""
    dsn = os.environ.get(POSTGRES_DSN_ENV)
    if dsn:
        return dsn, {"server": f"external ({POSTGRES_DSN_ENV})"}

    def start() -> Any:
        from services.postgres import PostgresServer

        return PostgresServer(durable=True).start()  # its own temp dir: the server's OS user must reach it

    server = services.get("postgres", start, lambda s: s.stop())
    return server.dsn, {"server": f"throwaway {server.version} (durable)", **server.settings_summary()}


def _postgres(mode: str) -> Callable[[Services], ContextManager[EngineHandle]]:
    @contextmanager
    def open_postgres(services: Services) -> Iterator[EngineHandle]:
        dsn, settings = _postgres_server(services)
        separator = "&" if "?" in dsn else "?"
        name = "postgres" if mode == "reference" else f"postgres-{mode}"
        yield EngineHandle(name, lambda label: f"{dsn}{separator}schema={label}&mode={mode}", settings={**settings, "mode": mode})

    return open_postgres


@contextmanager
def _dynamodb(services: Services) -> Iterator[EngineHandle]:
    endpoint = os.environ.get(DYNAMODB_ENDPOINT_ENV)
    settings: dict[str, Any]
    if endpoint:
        settings = {"endpoint": f"external ({DYNAMODB_ENDPOINT_ENV})"}
    else:
        from services.moto import MotoServer

        server = services.get("moto", lambda: MotoServer().start(), lambda s: s.stop())
        endpoint = server.endpoint_url
        for key, value in server.env().items():  # dummy credentials and region for the emulator only
            if key.startswith("AWS_"):
                os.environ.setdefault(key, value)
        settings = {"endpoint": "local moto server (DynamoDB emulator)", "server": server.version}
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    yield EngineHandle(
        "dynamodb",
        lambda label: f"dynamodb://{label}?endpoint_url={quote(endpoint, safe='')}&region={region}",
        settings=settings,
    )


#: What the harness can say about an external broker's release: the Kafka protocol does not reveal it
#: (ApiVersions lists protocol versions, and no broker config names the release).
KAFKA_EXTERNAL_VERSION = "unknown (external broker)"


def _kafka_broker(services: Services) -> tuple[str, str, dict[str, Any]]:
    """Bootstrap servers, release and settings of the run's Kafka broker: ``$EVENTSTORE_KAFKA_BOOTSTRAP``
    or a throwaway broker, started once per run and shared by ``kafka`` and ``kafka-naive``."""
    bootstrap = os.environ.get(KAFKA_BOOTSTRAP_ENV)
    if bootstrap:
        return bootstrap, KAFKA_EXTERNAL_VERSION, {"broker": f"external ({KAFKA_BOOTSTRAP_ENV})"}
    from services.kafka import KafkaBroker

    broker = services.get("kafka", lambda: KafkaBroker(base_dir=services.workdir).start(), lambda b: b.stop())
    return broker.bootstrap_servers, broker.version, {"broker": f"throwaway single-node {broker.version} (KRaft)"}


def _kafka(mode: str) -> Callable[[Services], ContextManager[EngineHandle]]:
    @contextmanager
    def open_kafka(services: Services) -> Iterator[EngineHandle]:
        bootstrap, version, settings = _kafka_broker(services)
        name = "kafka" if mode == "fenced" else f"kafka-{mode}"
        options = f"mode={mode}&version={quote(version, safe='')}"
        yield EngineHandle(name, lambda label: f"kafka://{bootstrap}?prefix={label}&{options}", settings={**settings, "mode": mode})

    return open_kafka


ENGINES: dict[str, Engine] = {
    e.name: e
    for e in [
        Engine("sqlite", "SQLite file in a run temp dir: the embedded default", _sqlite),
        Engine("postgres", "PostgreSQL reference design (gap-safe), throwaway durable server", _postgres("reference")),
        Engine("postgres-naive", "PostgreSQL textbook sequence-position design: loses events under concurrent writers", _postgres("naive")),
        Engine("dynamodb", "DynamoDB adapter against a local moto server (an emulator: not DynamoDB's speed)", _dynamodb),
        Engine("kafka", "Kafka adapter against a throwaway single-node broker (fenced writers: one at a time per prefix)", _kafka("fenced")),
        Engine("kafka-naive", "Kafka adapter without the writer fence (check-then-append): loses updates under concurrent writers", _kafka("naive")),
        Engine("memory", "In-process Python store, for quick experiments", _memory, default=False),
    ]
}


def default_engines() -> list[str]:
    return [name for name, engine in ENGINES.items() if engine.default]


def resolve(names: str | list[str] | None) -> list[str]:
    """Engine names from ``"default"``, ``"all"``, a comma-separated string or a list; unknown names raise."""
    if names is None or names == "default" or names == ["default"]:
        return default_engines()
    if names == "all" or names == ["all"]:
        return list(ENGINES)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise ValueError(f"unknown engine(s) {unknown}; known: {', '.join(ENGINES)}")
    return list(dict.fromkeys(names))


@contextmanager
def started(name: str, services: Services) -> Iterator[EngineHandle]:
    """Start engine ``name``; a failure to start raises ``NotMeasured`` with the reason."""
    with ExitStack() as stack:
        try:
            handle = stack.enter_context(ENGINES[name].open(services))
        except NotMeasured:
            raise
        except Exception as exc:  # ServiceUnavailable, ImportError, a server that would not start ...
            raise NotMeasured(_reason(exc)) from exc
        yield handle


def probe(handle: EngineHandle) -> tuple[Any, Any, dict[str, Any]]:
    """Open one store to learn (EngineInfo, Capabilities, extra settings); failures raise ``NotMeasured``."""
    try:
        store = handle.connect(handle.new_url("probe"))
    except Exception as exc:
        raise NotMeasured(_reason(exc)) from exc
    try:
        extra: dict[str, Any] = {}
        describe = getattr(store, "settings_summary", None)
        if callable(describe):
            try:
                extra = dict(describe())
            except Exception:  # a description is optional
                extra = {}
        return store.engine, store.capabilities, extra
    finally:
        store.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError):
        return f"backend or dependency not installed: {exc}"
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()] or [type(exc).__name__]
    return f"{type(exc).__name__}: {' | '.join(lines[:4])}"[:600]
