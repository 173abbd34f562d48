"""The PostgreSQL engines: the reference and the naive mode, sharing one server and one schema layout."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..plugins import ComposeService, Deployment, DurabilitySetting, Engine, EnvVar, Servers
from ..store import EventStore
from .config import PostgresConfig
from .naive import NaivePostgresStore
from .server import DSN_ENV, PostgresServer
from .store import PostgresStore

#: The store class each ``mode=`` of a URL opens: both engines' URLs share the scheme.
STORES: dict[str, type[PostgresStore]] = {"reference": PostgresStore, "naive": NaivePostgresStore}


class PostgresEngine(Engine):
    schemes: tuple[str, ...] = ("postgresql", "postgres")
    url_form = "postgresql://user@host:port/db?schema=NAME&mode=reference|naive&pool_size=N (other parameters go to libpq)"
    env = (EnvVar(DSN_ENV, "use this PostgreSQL server (a libpq URL) instead of starting a throwaway one", secret=True),)
    packages = ("psycopg", "psycopg-binary", "psycopg-pool")
    docs = Path(__file__).with_name("README.md")
    compose = ComposeService("postgres", 5432, {DSN_ENV: "postgresql://postgres:postgres@127.0.0.1:5432/postgres"})
    conformance = "eventstore.postgres.conformance:PostgresConformance"
    raw_path = "eventstore.postgres.raw:PostgresRawPath"  # the naive mode too: same table, same raw path
    durability_settings: tuple[DurabilitySetting, ...] = (
        DurabilitySetting("defaults", "defaults", True, "", (("synchronous_commit", "on"), ("fsync", "on"))),
        DurabilitySetting("synchronous-commit-off", "synchronous_commit=off", False, "options=-csynchronous_commit%3Doff", (("synchronous_commit", "off"),)),
        # A server setting: only a server of its own takes it (the faults workload's power-loss run starts one).
        DurabilitySetting("fsync-off", "fsync=off", False, "", (("fsync", "off"),), server=(("fsync", "off"),)),
    )

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.name = "postgres" if mode == "reference" else f"postgres-{mode}"
        self.rank = 10 if mode == "reference" else 11
        if mode == "reference":
            self.description = "PostgreSQL reference design (gap-safe), throwaway durable server"
        else:
            self.description = "PostgreSQL textbook sequence-position design: loses events under concurrent writers"
            self.schemes = ()  # its URLs are postgresql://...&mode=naive, opened by the same factory
            self.durability_settings = self.durability_settings[:1]  # it exists to show the naive read path, not settings

    def open_store(self, url: str) -> EventStore:
        """The store ``url`` names, of the class its ``mode=`` chooses (the reference without one)."""
        config = PostgresConfig.from_url(url)
        if config.mode not in STORES:
            raise InvalidInput(f"mode must be one of {sorted(STORES)}, not {config.mode!r}")
        return STORES[config.mode](config.conninfo, schema=config.schema, pool_size=config.pool_size)

    def server(self, servers: Servers) -> tuple[str, dict[str, Any]]:
        """DSN and settings of the run's PostgreSQL: ``$EVENTSTORE_POSTGRES_DSN`` or a throwaway server
        (durable unless ``servers`` says otherwise), started once per run."""
        dsn = os.environ.get(DSN_ENV)
        if dsn:
            return dsn, {"server": f"external ({DSN_ENV})"}
        server = self.throwaway(servers)
        kind = "durable" if _fsyncs(servers) else "non-durable: fsync off"
        return server.dsn, {"server": f"throwaway {server.version} ({kind})", **server.settings_summary()}

    def throwaway(self, servers: Servers) -> PostgresServer:
        """The run's throwaway PostgreSQL, started on first use (with ``servers.server_settings``)."""
        # Its own temp dir unless the run names one (``data_in_workdir``): the server's OS user must
        # be able to reach it, which a run's private temp dir does not let it.
        base = servers.workdir if servers.data_in_workdir else None
        options = ",".join(f"{k}={v}" for k, v in sorted(servers.server_settings.items()))
        return servers.get(f"postgres-durable={servers.durable}-{options}",
                           lambda: PostgresServer(durable=servers.durable, base_dir=base, settings=servers.server_settings).start())

    @contextmanager
    def deploy(self, servers: Servers) -> Iterator[Deployment]:
        dsn, settings = self.server(servers)
        separator = "&" if "?" in dsn else "?"
        external = bool(os.environ.get(DSN_ENV))
        settings |= {"process": "external server", "durability": "as configured"} if external else {"process": "local server", "durability": "fsync per commit" if _fsyncs(servers) else "no fsync"}
        with Deployment(
            self, lambda label: f"{dsn}{separator}schema={label}&mode={self.mode}", settings={**settings, "mode": self.mode},
            server=None if external else self.throwaway(servers),
            no_crash_reason=f"external server ({DSN_ENV}): the run did not start it, so it does not crash it" if external else None,
        ) as deployment:
            yield deployment


def _fsyncs(servers: Servers) -> bool:
    """Whether the throwaway server of ``servers`` fsyncs its commits."""
    return servers.durable and servers.server_settings.get("fsync", "on") != "off"


REFERENCE = PostgresEngine("reference")
NAIVE = PostgresEngine("naive")
