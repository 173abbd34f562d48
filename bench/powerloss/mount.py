"""A power-loss mount as a context manager: the daemon's process, its commands, and whether FUSE is here.

``PowerLossMount`` starts ``daemon.py`` in a child process (the kernel stops it when the thread that
started it dies, and ``atexit`` when the interpreter ends), talks to it over its stdin and stdout,
and turns its answers into ``Stats`` and ``CutStats``. ``unavailable_reason`` says why FUSE cannot
be used here, with the command that would fix it; ``install_fuse`` runs that command where it can.
"""
from __future__ import annotations

import atexit
import ctypes.util
import importlib.util
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from eventstore.servers import die_with_parent, log_tail

from .model import CutStats, Stats

INSTALL_COMMAND = "apt-get install fuse3"
_FUSE_DEVICE = "/dev/fuse"


class PowerLossUnavailable(RuntimeError):
    """FUSE cannot be used here; the message says why and how to install what is missing."""


class PowerLossError(RuntimeError):
    """The mount refused a command (a cut while a process still uses it) or its daemon died."""


def unavailable_reason(device: str = _FUSE_DEVICE) -> str | None:
    """None where a power-loss mount can run, else a sentence saying what is missing and how to get it."""
    if not sys.platform.startswith("linux"):
        return f"power loss needs Linux's FUSE; this is {sys.platform}"
    if not os.path.exists(device):
        return (f"no {device}: load the fuse kernel module (modprobe fuse), or give the container the device "
                f"(docker run --device {device} --cap-add SYS_ADMIN)")
    try:
        os.close(os.open(device, os.O_RDWR))
    except OSError as exc:
        return f"cannot open {device} ({exc.strerror}): FUSE mounts need access to it (root, or the fuse group)"
    if not ctypes.util.find_library("fuse3") or not shutil.which("fusermount3"):
        return f"libfuse 3 is not installed (no libfuse3 or no fusermount3): {INSTALL_COMMAND}, as root"
    if importlib.util.find_spec("mfusepy") is None:
        return "the Python binding mfusepy is not installed: pip install -e '.[bench]' (or pip install mfusepy)"
    return None


def install_fuse() -> str | None:
    """Install Debian's fuse3 with apt-get where FUSE's library is missing and this is root with apt-get;
    then return ``unavailable_reason()`` (None: usable)."""
    reason = unavailable_reason()
    if reason is None or "libfuse 3" not in reason or os.geteuid() != 0 or not shutil.which("apt-get"):
        return reason
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "fuse3"]):
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            return f"{reason}; `{' '.join(command)}` failed: {done.stderr.strip()[-300:]}"
    return unavailable_reason()


@dataclass(frozen=True)
class MountUser:
    pid: int
    name: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.name})"


def mount_users(path: Path) -> list[MountUser]:
    """Processes holding a file, a mapping or a working directory under ``path``."""
    inside = str(path.resolve())
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and any(link == inside or link.startswith(inside + "/") for link in _links(proc)):
            try:
                found.append(MountUser(int(proc.name), (proc / "comm").read_text().strip()))
            except OSError:  # it exited meanwhile
                continue
    return found


def _links(proc: Path) -> list[str]:
    """The paths a process holds: working directory, open files, mapped files (those that can be read)."""
    links = []
    try:
        for link in [proc / "cwd", *(proc / "fd").iterdir()]:
            try:
                links.append(os.readlink(link))
            except OSError:  # closed meanwhile (the directory listing's own descriptor, say)
                continue
        links += [line.split(maxsplit=5)[5] for line in (proc / "maps").read_text().splitlines() if len(line.split(maxsplit=5)) == 6]
    except OSError:  # gone, or not ours to read: what it holds cannot be known, so it is not listed
        pass
    return links


class PowerLossMount:
    """A FUSE mount at ``path`` whose ``power_cut()`` leaves exactly what a machine would find after a
    power failure (README.md states the model). ``keep_everything=True`` makes it a plain passthrough
    whose cuts keep everything, for showing that a test of the model can fail.

    ``work_dir`` holds the backing tree, the trash, the mount point and the daemon's log; without one a
    temp dir is made (readable by other users, for an engine running as its own OS user) and removed by
    ``stop``. Start it from a long-lived thread: the daemon dies with that thread."""

    def __init__(self, work_dir: str | Path | None = None, *, keep_everything: bool = False, start_timeout_s: float = 30.0) -> None:
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="eventstore-powerloss-"))
        if self._own_dir:
            self.work_dir.chmod(0o755)
        self.keep_everything = keep_everything
        self.start_timeout_s = start_timeout_s
        self.path = self.work_dir / "mnt"
        self.backing = self.work_dir / "backing"
        self.log_path = self.work_dir / "daemon.log"
        self._trash = self.work_dir / "trash"
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._lock = threading.Lock()

    def start(self) -> Self:
        """Mount; PowerLossUnavailable if FUSE is missing here or the mount is refused."""
        if self._process is not None:
            raise RuntimeError("PowerLossMount already started")
        reason = unavailable_reason()
        if reason is not None:
            raise PowerLossUnavailable(reason)
        for directory in (self.backing, self.path):
            directory.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self._trash, ignore_errors=True)  # what a previous daemon left is no longer undoable
        self._trash.mkdir()
        argv = [sys.executable, "-m", "bench.powerloss.daemon", str(self.backing), str(self._trash), str(self.path)]
        env = {**os.environ, "FUSE_LIBRARY_PATH": ctypes.util.find_library("fuse3") or "libfuse3.so.3"}  # mfusepy would take libfuse 2 first
        atexit.register(self.stop)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                argv + (["--keep-everything"] if self.keep_everything else []), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, bufsize=0, env=env, preexec_fn=die_with_parent,
            )
        try:
            self._answer(self.start_timeout_s)
        except PowerLossError as exc:
            self.stop()
            raise PowerLossUnavailable(f"the power-loss mount did not start: {exc}") from None
        return self

    def power_cut(self, *, busy_wait_s: float = 5.0) -> CutStats:
        """Drop everything not durable, as a power failure would, and mount again on the same path.

        Every process using the mount must have been killed first (SIGKILL, then waited for): the cut
        unmounts, which the kernel refuses while a file is open there. It retries for ``busy_wait_s``
        (a killed process takes a moment to release its files), then raises PowerLossError naming them."""
        deadline = time.monotonic() + busy_wait_s
        while True:
            try:
                return CutStats(**self._command("cut", 120.0)["cut"])
            except PowerLossError as exc:
                if "busy" not in str(exc) or time.monotonic() > deadline:
                    users = ", ".join(map(str, mount_users(self.path))) or "none found"
                    raise PowerLossError(f"power cut refused: {exc} (processes using {self.path}: {users})") from None
                time.sleep(0.1)

    def sync(self) -> None:
        """Make everything written so far durable, as sync(1) would on a disk (which FUSE does not pass
        on): for a harness's own set-up files, such as a configuration it wrote without fsync."""
        self._command("sync", 30.0)

    def kill_users(self) -> list[str]:
        """SIGKILL every process using the mount (an open file, a mapping or its working directory under
        ``path``), as a power failure stops them all at once; repeated until none is left, so that a
        child forked meanwhile goes too. Returns the processes killed. Callers still reap their own
        children (``Server.kill()``). The calling process is never killed: a cut names it instead."""
        killed: list[str] = []
        spared = {os.getpid(), self._process.pid if self._process else 0}
        while users := [user for user in mount_users(self.path) if user.pid not in spared]:
            for user in users:
                try:
                    os.kill(user.pid, signal.SIGKILL)
                except ProcessLookupError:  # exited meanwhile
                    pass
            killed += [str(user) for user in users]
            time.sleep(0.05)
        return killed

    def stats(self) -> Stats:
        """Counts since the mount started, and what the last cut dropped."""
        answer = self._command("stats", 30.0)["stats"]
        last = answer.pop("last_cut")
        return Stats(**answer, last_cut=CutStats(**last) if last else None)

    def stop(self) -> None:
        """Unmount and end the daemon (killing it and detaching the mount if it will not go); idempotent.
        The backing tree stays unless the work dir was the mount's own."""
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is not None:
            try:
                if process.stdin is not None:
                    process.stdin.write(b"stop\n")
                    process.stdin.close()
                process.wait(20.0)
            except (OSError, subprocess.TimeoutExpired):  # dead already, or stuck on a busy mount: force it below
                process.send_signal(signal.SIGKILL)
                process.wait()
                subprocess.run(["fusermount3", "-u", "-z", str(self.path)], capture_output=True)
            if process.stdout is not None:
                process.stdout.close()
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _command(self, command: str, timeout_s: float) -> dict[str, Any]:
        with self._lock:
            process = self._require()
            assert process.stdin is not None
            try:
                process.stdin.write(command.encode() + b"\n")
            except OSError as exc:
                raise PowerLossError(f"the power-loss daemon is gone ({exc})\n{log_tail(self.log_path)}") from None
            answer = self._answer(timeout_s)
        if not answer.get("ok"):
            raise PowerLossError(answer.get("error", str(answer)))
        return answer

    def _answer(self, timeout_s: float) -> dict[str, Any]:
        """The daemon's next line, parsed; PowerLossError if it dies or stays silent."""
        process = self._require()
        assert process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([process.stdout], [], [], remaining)[0]:
                raise PowerLossError(f"no answer from the power-loss daemon within {timeout_s:.0f} s\n{log_tail(self.log_path)}")
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                raise PowerLossError(f"the power-loss daemon exited ({process.wait()})\n{log_tail(self.log_path)}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _require(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("PowerLossMount is not running; call start() first")
        return self._process
