"""The EventStoreDB / KurrentDB engine: external only. Nothing here can start the server (it ships as
Docker images), so a run reaches the one ``EVENTSTORE_ESDB_URI`` names, or ``127.0.0.1:2113``, where
``docker compose up -d eventstoredb`` publishes it; with none answering, the engine is "not measured"."""
from __future__ import annotations

import json
import urllib.request
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import EventStoreError
from ..plugins import ComposeService, Deployment, Engine, EnvVar, Servers, ServiceUnavailable
from ..store import EventStore
from .client import CLIENT_ENV, load_client
from .config import DEFAULT_URI, URI_ENV, ESDBConfig

COMPOSE_SERVICE = "eventstoredb"
PORT = 2113
#: Seconds the reachability probe waits for the server.
PROBE_TIMEOUT_S = 3.0
MEASURE = (
    f"docker compose up -d {COMPOSE_SERVICE} && {URI_ENV}='{DEFAULT_URI}' python -m bench run all --engines eventstoredb"
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
        settings = {"server": f"external at {config.safe_uri}", "version": version}
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


def reachable(config: ESDBConfig) -> str:
    """The server's release when a server answers at ``config.uri``; ``ServiceUnavailable`` saying
    how to get one otherwise."""
    unreachable = f"no server reachable at {config.safe_uri}; to measure it: {MEASURE}"
    try:
        api = load_client()
    except EventStoreError as exc:
        raise ServiceUnavailable(f"{unreachable} ({exc})") from None
    client = api.connect(config.uri)
    try:
        client.get_stream(f"eventstore-probe-{uuid.uuid4()}", limit=1, timeout=PROBE_TIMEOUT_S)
    except api.NotFound:
        pass  # the server answered
    except api.ClientError as exc:
        raise ServiceUnavailable(f"{unreachable} ({type(exc).__name__}: {str(exc)[:200]})") from None
    finally:
        client.close()
    return server_version(config)


def server_version(config: ESDBConfig) -> str:
    """The release from the server's HTTP ``/info`` (insecure servers only; the gRPC API does not say)."""
    parts = urlsplit(config.uri)
    if "tls=false" not in parts.query.lower() or not parts.hostname:
        return "unknown (external server)"
    try:
        with urllib.request.urlopen(f"http://{parts.hostname}:{parts.port or PORT}/info", timeout=PROBE_TIMEOUT_S) as response:
            info: dict[str, Any] = json.load(response)
    except Exception:  # best effort: anything but a JSON answer leaves the version unknown
        return "unknown (external server)"
    found = info.get("esVersion") or info.get("dbVersion") or info.get("version")
    return f"{found} (external server)" if found else "unknown (external server)"


ENGINE = EventStoreDBEngine()
