"""The power-loss filesystem's daemon: a FUSE passthrough over ``model.Durability``, in its own process.

``python -m bench.powerloss.daemon ROOT TRASH MOUNTPOINT [--keep-everything]`` mounts ROOT at
MOUNTPOINT and serves it until told to stop. It takes one command a line on stdin and answers each
with one JSON line on stdout:

- ``stats``: the counts so far (``model.Stats``).
- ``sync``: everything written so far becomes durable (what ``sync`` would do, were it forwarded).
- ``cut``: unmount (refused while any process still uses the mount), apply the power cut to the
  backing tree, mount again; the answer (sent once the new mount is live) carries the cut's counts.
- ``stop``: unmount and exit. End of stdin (the library's process died) does the same.

It also announces ``{"event": "mounted"}`` when the first mount is live. A mount that fails prints
its reason on stderr and exits non-zero. Its own process because a GIL-bound daemon must never serve
its own caller: a test that wrote through the mount from the daemon's interpreter could deadlock.
"""
from __future__ import annotations

import argparse
import ctypes
import errno
import json
import logging
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import mfusepy  # type: ignore[import-untyped]  # ships no type information

from .model import Durability

# libfuse 3's FUSE_CAP_WRITEBACK_CACHE: off, so every write(2) reaches the daemon when it is made.
_WRITEBACK_CACHE = 1 << 16
_STAT_FIELDS = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_rdev", "st_size", "st_blksize", "st_blocks")
# Flags the backing file is not opened with: the model handles truncation and synchronous writes,
# the kernel computes append offsets, and O_DIRECT would demand aligned buffers from Python.
_BACKING_FLAGS = os.O_RDWR | os.O_CLOEXEC
_AT_FDCWD, _AT_SYMLINK_NOFOLLOW = -100, 0x100
_libc = ctypes.CDLL(None, use_errno=True)


class PowerLossFS(mfusepy.Operations):
    """Passthrough: reads go straight to the backing files, changes through the model. A call that
    comes with a handle is served by it and gets no path (libfuse's nullpath_ok): a file unlinked
    while open is still served."""

    use_ns = True

    def __init__(self, model: Durability, mounted: Callable[[], None]) -> None:
        self.model = model
        self._mounted = mounted
        self._sync_handles: set[int] = set()  # opened O_SYNC or O_DSYNC: every write is synced

    def init_with_config(self, conn_info: Any, config_3: Any) -> None:
        config_3.hard_remove = 1  # an unlinked open file is unlinked, not renamed to .fuse_hidden*
        config_3.nullpath_ok = 1  # ... and still served: every call with a handle is served by handle, without a path
        config_3.use_ino = 1
        config_3.kernel_cache = 1  # every change comes through this mount, and a cut remounts
        conn_info.want &= ~_WRITEBACK_CACHE
        self._mounted()

    # -- reading -----------------------------------------------------------------------------------

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        st = os.fstat(fh) if fh is not None else os.lstat(self.model.full(path))
        attrs = {name: getattr(st, name) for name in _STAT_FIELDS}
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        return attrs

    def opendir(self, path: str) -> int:
        return os.open(self.model.full(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def readdir(self, path: str | None, fh: int) -> list[tuple[str, dict[str, int], int]]:
        # Entries carry their inode numbers: with use_ino a zero one would make readdir(3) skip them.
        here, parent = os.fstat(fh), os.stat("..", dir_fd=fh)
        entries = [(".", {"st_ino": here.st_ino, "st_mode": here.st_mode}, 0), ("..", {"st_ino": parent.st_ino, "st_mode": parent.st_mode}, 0)]
        with os.scandir(fh) as found:
            entries += [(entry.name, {"st_ino": entry.inode(), "st_mode": entry.stat(follow_symlinks=False).st_mode}, 0) for entry in found]
        return entries

    def releasedir(self, path: str | None, fh: int) -> int:
        os.close(fh)
        return 0

    def readlink(self, path: str) -> str:
        return os.readlink(self.model.full(path))

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        return os.pread(fh, size, offset)

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self.model.full(path))
        return {name: getattr(st, name) for name in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax")}

    # -- file data -------------------------------------------------------------------------------

    def open(self, path: str, flags: int) -> int:
        try:
            fd = os.open(self.model.full(path), _BACKING_FLAGS)
        except PermissionError:  # a daemon that is not root, on a file it may not write: neither may the caller
            fd = os.open(self.model.full(path), (flags & os.O_ACCMODE) | os.O_CLOEXEC)
        return self._opened(fd, flags)

    def create(self, path: str, mode: int, flags: int) -> int:
        fd = self.model.create(path, lambda full: os.open(full, _BACKING_FLAGS | os.O_CREAT | os.O_EXCL, mode))
        self._own(lambda uid, gid: os.fchown(fd, uid, gid))
        return self._opened(fd, flags)

    def _opened(self, fd: int, flags: int) -> int:
        if flags & os.O_TRUNC:
            self.model.truncate(fd, 0)
        if flags & os.O_DSYNC:  # O_SYNC includes the O_DSYNC bit
            self._sync_handles.add(fd)
        return fd

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        written = self.model.write(fh, data, offset)
        if fh in self._sync_handles:
            self.model.sync_file(fh)
        return written

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        if fh is not None:
            self.model.truncate(fh, length)
            return 0
        fd = os.open(self.model.full(path), os.O_RDWR | os.O_CLOEXEC)
        try:
            self.model.truncate(fd, length)
        finally:
            os.close(fd)
        return 0

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        self.model.sync_file(fh)
        return 0

    def release(self, path: str | None, fh: int) -> int:
        self._sync_handles.discard(fh)
        os.close(fh)
        return 0

    # -- namespace -------------------------------------------------------------------------------

    def mkdir(self, path: str, mode: int) -> int:
        self.model.create(path, lambda full: os.mkdir(full, mode))
        self._own(lambda uid, gid: os.chown(self.model.full(path), uid, gid))
        return 0

    def mknod(self, path: str, mode: int, dev: int) -> int:
        self.model.create(path, lambda full: os.mknod(full, mode, dev))
        self._own(lambda uid, gid: os.chown(self.model.full(path), uid, gid))
        return 0

    def symlink(self, target: str, source: str) -> int:
        """The new link ``target`` (in the mount) pointing at ``source``."""
        self.model.create(target, lambda full: os.symlink(source, full))
        self._own(lambda uid, gid: os.lchown(self.model.full(target), uid, gid))
        return 0

    def link(self, target: str, source: str) -> int:
        """A new name ``target`` for the existing ``source``."""
        self.model.create(target, lambda full: os.link(self.model.full(source), full, follow_symlinks=False))
        return 0

    def unlink(self, path: str) -> int:
        self.model.remove(path)
        return 0

    def rmdir(self, path: str) -> int:
        self.model.remove(path)
        return 0

    def rename(self, old: str, new: str) -> int:
        self.model.rename(old, new)
        return 0

    def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
        self.model.sync_dir(fh)
        return 0

    # -- attributes (kept as they are made: the model does not undo them) -------------------------

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self.model.full(path), mode)
        return 0

    def utimens(self, path: str, times: Any, fh: int | None = None) -> int:
        """utimensat(2) itself with the kernel's two timespecs, so UTIME_NOW and UTIME_OMIT keep their
        meaning; by handle when there is one (futimens on an unlinked open file has no path)."""
        if fh is not None:
            done = _libc.futimens(fh, times)
        else:
            done = _libc.utimensat(_AT_FDCWD, self.model.full(path).encode(), times, _AT_SYMLINK_NOFOLLOW)
        return -ctypes.get_errno() if done != 0 else 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self.model.full(path), uid, gid, follow_symlinks=False)
        return 0

    @staticmethod
    def _own(chown: Callable[[int, int], None]) -> None:
        """Give a new entry to the process that made it, as a kernel filesystem does."""
        if os.geteuid() == 0:
            uid, gid, _pid = mfusepy.fuse_get_context()
            chown(uid, gid)


class _FUSE(mfusepy.FUSE):
    """mfusepy's bridge, mending three FUSE 3 callbacks it simplifies too far."""

    def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
        # RENAME_NOREPLACE and RENAME_EXCHANGE are not modelled: refuse them, as LazyFS does (callers
        # such as mv fall back to a plain rename), instead of silently renaming without them.
        return -errno.EINVAL if flags else super().rename_fuse_3(old, new, flags)

    def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
        # ftruncate on an unlinked open file comes without a path: use the handle when there is one.
        return self.ftruncate(path, length, fip) if fip else super().truncate_fuse_3(path, length, fip)

    def utimens_fuse_3(self, path: bytes | None, buf: Any, fip: Any) -> int:
        # The raw timespecs (mfusepy turns UTIME_NOW and UTIME_OMIT into times), and the handle.
        decoded = None if path is None else path.decode(self.encoding, self.errors)
        return int(self.operations.utimens(decoded, buf, fip.contents.fh if fip else None))


class Daemon:
    """Mounts, serves, and obeys the control commands; see the module docstring."""

    def __init__(self, model: Durability, mountpoint: str) -> None:
        self.model, self.mountpoint = model, mountpoint
        self._out = threading.Lock()
        self._pending = ""  # "cut" or "stop" once the control thread has unmounted for it
        self._on_mount: dict[str, Any] = {"event": "mounted"}

    def run(self) -> None:
        threading.Thread(target=self._control, name="control", daemon=True).start()
        while True:
            _FUSE(PowerLossFS(self.model, self._mounted), self.mountpoint, foreground=True, fsname="powerloss",
                  allow_other=os.geteuid() == 0, default_permissions=True)
            action, self._pending = self._pending, ""
            if action != "cut":  # stop, end of input, a signal or an unmount from outside
                return
            self._on_mount = {"ok": True, "cut": asdict(self.model.cut())}

    def _mounted(self) -> None:
        self._reply(self._on_mount)

    def _reply(self, message: dict[str, Any]) -> None:
        with self._out:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    def _control(self) -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                self._reply({"ok": True, "stats": asdict(self.model.stats())})
            elif command == "sync":
                self.model.sync_all()
                self._reply({"ok": True})
            elif command in ("cut", "stop"):
                self._pending = command
                error = self._unmount()
                if error:
                    self._pending = ""
                    self._reply({"ok": False, "error": error})
            else:
                self._reply({"ok": False, "error": f"unknown command {command!r}"})
        self._pending = "stop"
        self._unmount(lazy=True)

    def _unmount(self, *, lazy: bool = False) -> str:
        """Unmount, which ends the serving loop; a refusal (the mount is busy) comes back as text."""
        done = subprocess.run(["fusermount3", "-u", *(["-z"] if lazy else []), self.mountpoint], capture_output=True, text=True)
        return done.stderr.strip() or f"fusermount3 exited with {done.returncode}" if done.returncode else ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="the backing directory: the files the mount shows")
    parser.add_argument("trash", help="an empty directory on the same filesystem, for removals not yet synced")
    parser.add_argument("mountpoint")
    parser.add_argument("--keep-everything", action="store_true", help="a cut keeps every change (a plain passthrough)")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="powerloss daemon: %(message)s")
    os.umask(0)  # the kernel has applied the caller's umask already
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a handle per open file, and per file changed since its sync
    Daemon(Durability(args.root, args.trash, keep_everything=args.keep_everything), args.mountpoint).run()


if __name__ == "__main__":
    main()
