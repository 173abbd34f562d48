"""The ``eventsourcing-postgres`` engine: the library's recorder on the run's PostgreSQL, the same
server the ``postgres`` engine starts (``Servers.get`` shares it)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..plugins import Deployment, Engine, Servers
from ..postgres.engine import REFERENCE
from ..postgres.server import DSN_ENV
from ..store import EventStore


class EventsourcingPostgresEngine(Engine):
    name = "eventsourcing-postgres"
    description = "the eventsourcing library's PostgreSQL recorder (table lock per append), on the reference's server"
    schemes = ("eventsourcing",)
    url_form = "eventsourcing+postgresql://user@host:port/db?schema=NAME&pool_size=N (other parameters go to libpq)"
    env = REFERENCE.env
    packages = ("eventsourcing", "psycopg", "psycopg-pool")
    docs = Path(__file__).with_name("README.md")
    rank = 12

    def open_store(self, url: str) -> EventStore:
        from .store import EventsourcingPostgresStore

        return EventsourcingPostgresStore.from_url(url)

    @contextmanager
    def deploy(self, servers: Servers) -> Iterator[Deployment]:
        dsn, settings = REFERENCE.server(servers)
        separator = "&" if "?" in dsn else "?"
        external = bool(os.environ.get(DSN_ENV))
        settings |= {"process": "external server", "durability": "as configured"} if external else {"process": "local server", "durability": "fsync per commit" if servers.durable else "no fsync"}
        with Deployment(
            self, lambda label: f"eventsourcing+{dsn}{separator}schema={label}", settings={**settings, "recorder": "eventsourcing.postgres.PostgresApplicationRecorder"},
            server=None if external else REFERENCE.throwaway(servers),
            no_crash_reason=f"external server ({DSN_ENV}): the run did not start it, so it does not crash it" if external else None,
        ) as deployment:
            yield deployment


ENGINE = EventsourcingPostgresEngine()
