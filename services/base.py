"""Shared helpers for the local engine launchers (PostgreSQL, moto)."""

from __future__ import annotations

import socket
from pathlib import Path


class ServiceUnavailable(RuntimeError):
    """An engine cannot be started here; the message says why (and shows its log tail)."""


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for an unused TCP port.

    The port is released before the engine binds it, so another process could
    grab it in between; on a test/benchmark box that race is rare enough.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 30) -> str:
    """Last lines of a log file, for error messages; never raises."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<no log at {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:]) or "<empty log>"


def die_with_parent() -> None:
    """``preexec_fn`` for servers we start: the kernel sends SIGTERM when our process dies, so a
    killed test run or benchmark (SIGKILL, a CI timeout) leaves no broker or emulator behind.
    The signal follows the thread that started the server: start servers from a long-lived one."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: atexit still stops the server on a normal exit
        pass
