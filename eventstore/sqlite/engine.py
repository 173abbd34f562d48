"""The SQLite engine: store files in a temp dir of the run, nothing to start."""
from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..plugins import Deployment, DurabilitySetting, Engine, Servers
from ..store import EventStore


class SQLiteEngine(Engine):
    name = "sqlite"
    description = "SQLite file in a run temp dir: the embedded default"
    schemes = ("sqlite",)
    url_form = "sqlite:///path.db (sqlite:// alone: a private in-memory database); ?synchronous=OFF|NORMAL|FULL|EXTRA"
    docs = Path(__file__).with_name("README.md")
    rank = 0
    conformance = "eventstore.sqlite.conformance:SQLiteConformance"
    raw_path = "eventstore.sqlite.raw:SQLiteRawPath"
    durability_settings = (
        DurabilitySetting("synchronous-full", "synchronous=FULL (the store's default)", True, "synchronous=FULL", (("synchronous", "FULL"),)),
        DurabilitySetting("synchronous-normal", "synchronous=NORMAL", False, "synchronous=NORMAL", (("synchronous", "NORMAL"),)),
        DurabilitySetting("synchronous-off", "synchronous=OFF", False, "synchronous=OFF", (("synchronous", "OFF"),)),
    )

    def open_store(self, url: str) -> EventStore:
        from . import SQLiteStore

        return SQLiteStore.from_url(url)

    @contextmanager
    def deploy(self, servers: Servers) -> Iterator[Deployment]:
        directory = Path(tempfile.mkdtemp(prefix="sqlite-", dir=servers.workdir))
        settings = {"sqlite_library": sqlite3.sqlite_version, "files": "run temp dir, deleted after"}
        settings |= {"process": "in-process library (no server)", "durability": "fsync per commit (WAL, synchronous=FULL)"}
        with Deployment(self, lambda label: f"sqlite:///{directory / label}.db", settings=settings,
                        cleanup=lambda: shutil.rmtree(directory, ignore_errors=True)) as deployment:
            yield deployment


ENGINE = SQLiteEngine()
