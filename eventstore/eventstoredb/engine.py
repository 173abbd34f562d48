"""The EventStoreDB / KurrentDB engine: external only. Nothing here can start the server (it ships as
Docker images), so a run reaches the one ``EVENTSTORE_ESDB_URI`` names, or ``127.0.0.1:2113``, where
``docker compose up -d --wait eventstoredb`` publishes it (``kurrentdb``, the current product, on
2114); with none answering, the engine is "not measured"."""
from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import EventStoreError
from ..plugins import ComposeService, Deployment, Engine, EnvVar, Servers, ServiceUnavailable
from ..store import EventStore
from .capabilities import DOUBLE_MARK
from .client import CLIENT_ENV, ClientAPI, load_client
from .config import DEFAULT_URI, URI_ENV, ESDBConfig

COMPOSE_SERVICE = "eventstoredb"
PORT = 2113
#: The current product beside EventStoreDB 24.10 in docker-compose.yml, on a port of its own.
KURRENTDB = ComposeService("kurrentdb", 2114, {URI_ENV: "esdb://127.0.0.1:2114?Tls=false"})
#: Seconds one call of the reachability probe may take.
PROBE_TIMEOUT_S = 3.0
#: Seconds the probe waits for a server that is there but not ready yet (a container still starting:
#: "Server Is Not Ready", or a published port whose server does not listen yet). Nothing listening at
#: all fails at once.
READY_TIMEOUT_S = 60.0
_READY_PAUSE_S = 0.5
MEASURE = (
    f"docker compose up -d --wait {COMPOSE_SERVICE} && {URI_ENV}='{DEFAULT_URI}' python -m bench run all --engines eventstoredb"
    f" (KurrentDB: docker compose up -d --wait {KURRENTDB.service}, {URI_ENV}='{KURRENTDB.env[URI_ENV]}')"
)


class EventStoreDBEngine(Engine):
    name = "eventstoredb"
    description = "EventStoreDB / KurrentDB, the purpose-built event store, through its gRPC client (an external server: docker compose)"
    schemes = ("esdb", "kurrentdb")
    url_form = f"esdb://host:{PORT}?Tls=false&prefix=NAME[&version=X][&max_append_size=N], or esdb://?prefix=NAME with the server from {URI_ENV}"
    env = (
        EnvVar(URI_ENV, f"client URI of the server with its TLS settings (and credentials if secure); default {DEFAULT_URI}", secret=True),
        EnvVar(CLIENT_ENV, "the Python client: esdbclient (default) or kurrentdbclient"),
    )
    packages = ("esdbclient",)
    docs = Path(__file__).with_name("README.md")
    compose = ComposeService(COMPOSE_SERVICE, PORT, {URI_ENV: DEFAULT_URI})
    #: Other docker-compose services the engine measures the same way (tests/test_compose.py checks them too).
    compose_alternatives = (KURRENTDB,)
    rank = 40
    external_only = True
    conformance = "eventstore.eventstoredb.conformance:EventStoreDBConformance"
    raw_path = "eventstore.eventstoredb.raw:EventStoreDBRawPath"

    def open_store(self, url: str) -> EventStore:
        from .store import EventStoreDBStore

        return EventStoreDBStore.from_url(url)

    @contextmanager
    def deploy(self, servers: Servers) -> Iterator[Deployment]:
        config = ESDBConfig.from_url("esdb://")  # the server the environment names, or the compose default
        version = probe_once(servers, config)
        where = f"protocol double at {config.safe_uri} (a test fixture, not the product)" if DOUBLE_MARK in version else f"external at {config.safe_uri}"
        settings = {"server": where, "version": version}
        settings |= {"process": "external server", "durability": "as configured on the external server"}
        with Deployment(self, lambda label: f"esdb://?prefix={label}&version={quote(version, safe='')}", settings=settings,
                        no_crash_reason="external server: the run did not start it, so it does not crash it") as deployment:
            yield deployment


#: Per run (``Servers``) and server: its release, or why it was not reachable. A run probes once.
_PROBED: weakref.WeakKeyDictionary[Servers, dict[str, str | ServiceUnavailable]] = weakref.WeakKeyDictionary()


def probe_once(servers: Servers, config: ESDBConfig) -> str:
    """``reachable(config)``, remembered for the run: every store of a missing server fails alike, at once."""
    seen = _PROBED.setdefault(servers, {})
    if config.safe_uri not in seen:
        try:
            seen[config.safe_uri] = reachable(config)
        except ServiceUnavailable as exc:
            seen[config.safe_uri] = exc
    found = seen[config.safe_uri]
    if isinstance(found, ServiceUnavailable):
        raise ServiceUnavailable(str(found))
    return found


def reachable(config: ESDBConfig, ready_timeout_s: float = READY_TIMEOUT_S) -> str:
    """The server's release once a server at ``config.uri`` answers, waiting up to ``ready_timeout_s`` for
    one that is starting; ``ServiceUnavailable`` saying how to get one otherwise."""
    unreachable = f"no server reachable at {config.safe_uri}; to measure it: {MEASURE}"
    try:
        api = load_client()
    except EventStoreError as exc:
        raise ServiceUnavailable(f"{unreachable} ({exc})") from None
    client = api.connect(config.uri)
    deadline = time.monotonic() + ready_timeout_s
    try:
        while not _answers(api, client, unreachable):
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"{unreachable} (not ready within {ready_timeout_s:.0f} s)")
            time.sleep(_READY_PAUSE_S)
        return server_version(client)
    finally:
        client.close()


def _answers(api: ClientAPI, client: Any, unreachable: str) -> bool:
    """True when the server answers a read; False while it is there but not ready; ``ServiceUnavailable``
    when nothing listens at the address (or it cannot be resolved), which waiting would not change."""
    try:
        client.get_stream(f"eventstore-probe-{uuid.uuid4()}", limit=1, timeout=PROBE_TIMEOUT_S)
    except api.NotFound:
        return True  # the server answered
    except api.ClientError as exc:
        text = str(exc)
        if "Connection refused" in text or "DNS resolution failed" in text or not isinstance(exc, (api.Unavailable, api.DeadlineExceeded)):
            raise ServiceUnavailable(f"{unreachable} ({type(exc).__name__}: {text[:200]})") from None
        return False
    return True


def server_version(client: Any) -> str:
    """The release the server reports (gRPC ServerFeatures), marked as an external server's."""
    from .features import server_version as reported  # needs grpc, the optional client's dependency

    found = reported(client, PROBE_TIMEOUT_S)
    return f"{found} (external server)" if found else "unknown (external server)"


ENGINE = EventStoreDBEngine()
