"""Throwaway engine servers: one child process in a temp dir, gone when the run that started it ends.

A subclass says how to prepare its data directory, which command runs the server in the foreground
and how to tell that it answers. This base owns what every server shares: the temp dir and the log,
the start-up deadline, stopping (the server's own shutdown signal, SIGKILL after a timeout),
``atexit``, and the kernel's parent-death signal, so a killed test run or benchmark leaves no
server behind. ``kill()`` and ``restart()`` crash a server and bring it back on the same data
directory, for fault injection; ``advertise()`` makes a server whose clients connect to the addresses
it advertises (Kafka) send them through a proxy, for cutting their connections.
"""
from __future__ import annotations

import atexit
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Self


class ServiceUnavailable(RuntimeError):
    """An engine cannot be started or reached here; the message says why (with its log tail)."""


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port. It is released before the server binds it; another process could take it
    in between, which on a test machine is rare enough (start-up then fails with a clear message)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages; never raises."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<no log at {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty log>"


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """``preexec_fn`` of every server: the kernel sends ``sig`` when the thread that started it dies.

    It runs after the child has switched user (``Popen(user=...)``), which would otherwise clear it.
    Start servers from a long-lived thread."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: atexit still stops the server on a normal exit
        pass


class Server(ABC):
    """One engine server process. Subclasses implement ``prepare``, ``command`` and ``ready``."""

    #: Short name for temp dirs and messages ("postgres", "kafka", "moto").
    name: ClassVar[str]
    #: An emulator stands in for the real service: its timings are not the service's.
    emulator: ClassVar[bool] = False
    #: The signal that makes the server shut down cleanly (and the one it gets if we die).
    stop_signal: ClassVar[int] = signal.SIGTERM
    start_timeout_s: ClassVar[float] = 60.0
    stop_timeout_s: ClassVar[float] = 20.0

    def __init__(self, *, base_dir: str | Path | None = None) -> None:
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.tmp_dir: Path | None = None
        #: The product and version, e.g. "PostgreSQL 15.18"; set by ``start``.
        self.version = ""
        self._process: subprocess.Popen[bytes] | None = None

    # -- what a server says about itself --------------------------------------------------------

    @abstractmethod
    def prepare(self) -> None:
        """Set up the data directory under ``tmp_dir`` (ports, config, formatting) before the first launch."""

    @abstractmethod
    def command(self) -> list[str]:
        """The argv that runs the server in the foreground."""

    @abstractmethod
    def ready(self) -> bool:
        """True once the server answers requests (called repeatedly during start-up)."""

    def popen_options(self) -> dict[str, Any]:
        """Extra ``subprocess.Popen`` arguments (another OS user, environment)."""
        return {}

    def started(self) -> None:  # noqa: B027  an optional hook: most servers have nothing to learn
        """Called once the server is ready after ``start``; learn the version here."""

    def settings_summary(self) -> dict[str, str]:
        """Settings that change what a benchmark means (durability above all)."""
        return {}

    def advertise(self, routes: Mapping[str, str]) -> dict[str, str] | None:
        """Keep clients that reach this server through a proxy on the proxy.

        ``routes`` maps addresses of this server (``host:port``, as its store URLs name them) to the
        address of a TCP proxy in front of each. A server that tells its clients where to connect
        next (Kafka's metadata names the brokers' advertised listeners) can be made to name the
        proxy instead: it returns, for each route it took, the address the proxy must forward to
        from now on (a listener that advertises the proxy); the proxy's own address is unchanged.
        None: this server cannot do that (the default), so its clients bypass any proxy."""
        return None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.require_started() / "server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def require_started(self) -> Path:
        if self.tmp_dir is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return self.tmp_dir

    def start(self) -> Self:
        """Prepare a fresh temp dir, launch the server and return once it answers."""
        if self.tmp_dir is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self.tmp_dir = Path(tempfile.mkdtemp(prefix=f"eventstore-{self.name}-", dir=self.base_dir))
        atexit.register(self.stop)
        try:
            self.prepare()
            self._launch()
            self.started()
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """Crash the server (SIGKILL): its data directory stays, as after a power-on restart."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Launch the server again on the same data directory (after ``kill`` or a clean stop)."""
        self.require_started()
        if self.running:
            self._terminate()
        self._launch()
        self.started()

    def stop(self) -> None:
        """Shut the server down (SIGKILL after ``stop_timeout_s``) and delete its temp dir; idempotent."""
        atexit.unregister(self.stop)
        self._terminate()
        tmp_dir, self.tmp_dir = self.tmp_dir, None
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self if self.tmp_dir is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _launch(self) -> None:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.command(), cwd=self.tmp_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=partial(die_with_parent, self.stop_signal), **self.popen_options(),
            )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceUnavailable(
                    f"{self.name} exited with code {self._process.returncode} during start-up\n"
                    f"--- {self.log_path} (tail) ---\n{log_tail(self.log_path)}"
                )
            if self.ready():
                return
            time.sleep(0.05)
        raise ServiceUnavailable(
            f"{self.name} did not answer within {self.start_timeout_s:.0f} s\n--- {self.log_path} (tail) ---\n{log_tail(self.log_path)}"
        )

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            process.wait(self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
