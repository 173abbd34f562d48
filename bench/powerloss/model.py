"""What a power cut keeps: the durability bookkeeping of the power-loss filesystem, without FUSE.

Every change goes to the backing directory at once, so reads need no merging and a crashed daemon
leaves everything kept. Beside it, in memory, is what a power cut must undo: for each file changed
since its last sync, its synced size and the original bytes of every synced range since overwritten
(appends cost nothing); for namespace changes (create, link, mkdir, unlink, rmdir, rename) not yet
covered by a directory sync, an undo log. A removed entry waits in a trash directory on the same
filesystem until its removal is synced. README.md states the model this implements.
"""
from __future__ import annotations

import errno
import os
import stat
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

T = TypeVar("T")


class Ranges:
    """Disjoint half-open byte ranges, merged and sorted, with their total length."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self.total = 0

    def add(self, start: int, end: int) -> list[tuple[int, int]]:
        """Cover [start, end); return the parts of it that were not covered before."""
        if start >= end:
            return []
        first = bisect_left(self._ends, start)  # ranges ending at or after start touch it
        last = bisect_right(self._starts, end)  # ranges starting at or before end touch it
        gaps: list[tuple[int, int]] = []
        cursor = start
        for k in range(first, last):
            if self._starts[k] > cursor:
                gaps.append((cursor, min(self._starts[k], end)))
            cursor = max(cursor, self._ends[k])
        if cursor < end:
            gaps.append((cursor, end))
        if first < last:
            start, end = min(start, self._starts[first]), max(end, self._ends[last - 1])
        self._starts[first:last] = [start]
        self._ends[first:last] = [end]
        self.total += sum(b - a for a, b in gaps)
        return gaps


@dataclass
class _File:
    """A file changed since its last sync: what a cut restores it to."""

    fd: int  # the daemon's own handle on the inode: a restore reaches it whatever its name now
    synced_size: int
    saved: Ranges = field(default_factory=Ranges)  # parts of the synced region whose originals are kept
    originals: list[tuple[int, bytes]] = field(default_factory=list)
    written: Ranges = field(default_factory=Ranges)  # every byte written since the sync, for the counts
    resized: bool = False  # truncated or extended since the sync

    @property
    def unsynced(self) -> bool:
        return self.resized or self.written.total > 0


class Kind(Enum):
    CREATE = "create"  # path appeared (file, directory, link, symlink, node)
    REMOVE = "remove"  # path went to the trash entry `trash`
    RENAME = "rename"  # source became path; a replaced path went to `trash`


@dataclass(frozen=True)
class _Change:
    kind: Kind
    path: str
    dirs: frozenset[int]  # inode numbers of the directories whose entries it changed
    source: str = ""
    trash: str = ""


@dataclass(frozen=True)
class CutStats:
    """What one power cut discarded."""

    bytes_dropped: int  # distinct bytes written since their file's last sync, undone
    files_dropped: int  # files whose unsynced writes or size changes were undone
    entries_dropped: int  # namespace changes (create, rename, removal, ...) undone


@dataclass(frozen=True)
class Stats:
    """Counts since the mount started. A byte written twice between syncs counts twice in
    ``bytes_written`` and once in the synced, dropped and unsynced counts; a size change alone
    (truncate, a sparse extension) counts a file but no bytes."""

    cuts: int = 0
    bytes_written: int = 0  # bytes accepted by write calls
    bytes_synced: int = 0  # written bytes a file sync made durable
    bytes_dropped: int = 0  # written bytes cuts undid
    bytes_unsynced: int = 0  # written bytes a cut now would undo
    files_synced: int = 0  # file syncs that found changes to make durable
    files_dropped: int = 0
    entries_changed: int = 0  # namespace changes made
    entries_synced: int = 0  # ... made durable by a directory sync
    entries_dropped: int = 0  # ... undone by cuts
    last_cut: CutStats | None = None


class Durability:
    """The backing tree under ``root`` plus what a cut would undo; every method is thread-safe.

    ``keep_everything`` makes a cut keep every change (a plain passthrough), so that a test of the
    model can show that it fails there. Paths are relative to ``root``."""

    def __init__(self, root: str, trash: str, *, keep_everything: bool = False) -> None:
        self.root, self.trash, self.keep_everything = root, trash, keep_everything
        self._lock = threading.Lock()
        self._files: dict[int, _File] = {}  # by inode number
        self._log: list[_Change] = []
        self._trash_seq = 0
        self._counts = {name: 0 for name in Stats.__dataclass_fields__ if name not in ("bytes_unsynced", "last_cut")}
        self._last_cut: CutStats | None = None

    def full(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    # -- file data -------------------------------------------------------------------------------

    def write(self, fd: int, data: bytes, offset: int) -> int:
        with self._lock:
            record = self._record(fd)
            self._save(record, offset, offset + len(data))
            written = os.pwrite(fd, data, offset)
            record.written.add(offset, offset + written)
            self._counts["bytes_written"] += written
            return written

    def truncate(self, fd: int, length: int) -> None:
        with self._lock:
            record = self._record(fd)
            size = os.fstat(fd).st_size
            self._save(record, length, size)
            os.ftruncate(fd, length)
            record.resized = record.resized or length != size

    def sync_file(self, fd: int) -> None:
        """fsync or fdatasync: the file's data and size become durable (not its name)."""
        with self._lock:
            record = self._files.pop(os.fstat(fd).st_ino, None)
            if record is not None:
                self._settle(record)

    def _record(self, fd: int) -> _File:
        st = os.fstat(fd)
        record = self._files.get(st.st_ino)
        if record is None:
            record = self._files[st.st_ino] = _File(fd=os.dup(fd), synced_size=st.st_size)
        return record

    @staticmethod
    def _save(record: _File, start: int, end: int) -> None:
        """Keep the synced bytes of [start, end) that are about to change, once per sync period."""
        for gap_start, gap_end in record.saved.add(start, min(end, record.synced_size)):
            record.originals.append((gap_start, os.pread(record.fd, gap_end - gap_start, gap_start)))

    def _settle(self, record: _File) -> None:
        if record.unsynced:
            self._counts["files_synced"] += 1
            self._counts["bytes_synced"] += record.written.total
        os.close(record.fd)

    # -- namespace -------------------------------------------------------------------------------

    def create(self, path: str, make: Callable[[str], T]) -> T:
        """Run ``make(full path)``, which adds the entry ``path`` (open O_CREAT, mkdir, link, ...)."""
        with self._lock:
            full = self.full(path)
            result = make(full)
            self._logged(_Change(Kind.CREATE, path, self._parents(full)))
            return result

    def remove(self, path: str) -> None:
        """unlink or rmdir: the entry goes to the trash until a directory sync makes it final."""
        with self._lock:
            full = self.full(path)
            if stat.S_ISDIR(os.lstat(full).st_mode) and os.listdir(full):
                raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), path)
            dirs = self._parents(full)
            trash = self._to_trash(full)
            self._logged(_Change(Kind.REMOVE, path, dirs, trash=trash))

    def rename(self, source: str, path: str) -> None:
        """rename(2) without flags; a replaced entry goes to the trash, as a removal does."""
        with self._lock:
            old, new = self.full(source), self.full(path)
            moved = os.lstat(old)
            try:
                replaced: os.stat_result | None = os.lstat(new)
            except FileNotFoundError:
                replaced = None
            if replaced is not None and replaced.st_ino == moved.st_ino:
                return  # two names of one inode: rename(2) does nothing
            trash = ""
            if replaced is not None:
                self._check_replace(moved, replaced, new)
                if stat.S_ISDIR(replaced.st_mode):
                    trash = self._to_trash(new)
                else:  # a hard link keeps the replaced inode, and the rename stays atomic
                    trash = self._next_trash()
                    os.link(new, os.path.join(self.trash, trash), follow_symlinks=False)
            try:
                os.rename(old, new)
            except OSError:  # refused (a directory moved into itself, say): put the replaced entry back
                if trash:
                    self._restore(trash, new)
                raise
            self._logged(_Change(Kind.RENAME, path, self._parents(old) | self._parents(new), source=source, trash=trash))

    def sync_dir(self, fd: int) -> None:
        """fsync of a directory (``fd`` open on it): its entry changes become durable, and (as a
        journal commits in order) every namespace change made before the last of them."""
        with self._lock:
            ino = os.fstat(fd).st_ino
            last = max((k for k, change in enumerate(self._log) if ino in change.dirs), default=-1)
            for change in self._log[: last + 1]:
                if change.trash:
                    self._purge(change.trash)
            self._counts["entries_synced"] += last + 1
            del self._log[: last + 1]

    @staticmethod
    def _check_replace(moved: os.stat_result, replaced: os.stat_result, new: str) -> None:
        if stat.S_ISDIR(replaced.st_mode):
            if not stat.S_ISDIR(moved.st_mode):
                raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), new)
            if os.listdir(new):
                raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), new)
        elif stat.S_ISDIR(moved.st_mode):
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), new)

    def _parents(self, full: str) -> frozenset[int]:
        return frozenset({os.lstat(os.path.dirname(full)).st_ino})

    def _logged(self, change: _Change) -> None:
        self._log.append(change)
        self._counts["entries_changed"] += 1

    def _next_trash(self) -> str:
        self._trash_seq += 1
        return str(self._trash_seq)

    def _to_trash(self, full: str) -> str:
        name = self._next_trash()
        os.rename(full, os.path.join(self.trash, name))
        return name

    def _restore(self, name: str, full: str) -> None:
        """Move trash entry ``name`` back to ``full`` (a hard link made for a replaced file is
        renamed over the same inode's name, which rename(2) leaves alone, so drop it instead)."""
        kept = os.path.join(self.trash, name)
        if os.path.lexists(full):
            os.unlink(kept)
        else:
            os.rename(kept, full)

    def _purge(self, name: str) -> None:
        gone = os.path.join(self.trash, name)
        os.rmdir(gone) if stat.S_ISDIR(os.lstat(gone).st_mode) else os.unlink(gone)

    def sync_all(self) -> None:
        """Everything written so far becomes durable, as sync(1) makes it on a disk."""
        with self._lock:
            for record in self._files.values():
                self._settle(record)
            for change in self._log:
                if change.trash:
                    self._purge(change.trash)
            self._counts["entries_synced"] += len(self._log)
            self._files, self._log = {}, []

    # -- the cut ---------------------------------------------------------------------------------

    def cut(self) -> CutStats:
        """Power failure: every file back to its synced data and size, every namespace change
        since its directory's sync undone, newest first. Call it only while nothing is mounted."""
        with self._lock:
            files, changes = list(self._files.values()), self._log[::-1]
            self._files, self._log = {}, []
            if self.keep_everything:  # kept, but not synced: counted neither way
                for record in files:
                    os.close(record.fd)
                for change in changes:
                    if change.trash:
                        self._purge(change.trash)
                result = CutStats(0, 0, 0)
            else:
                for record in files:
                    os.ftruncate(record.fd, record.synced_size)
                    for offset, original in record.originals:
                        os.pwrite(record.fd, original, offset)
                    os.close(record.fd)
                for change in changes:
                    self._undo(change)
                dropped = [record.written.total for record in files if record.unsynced]
                result = CutStats(sum(dropped), len(dropped), len(changes))
            self._counts["cuts"] += 1
            self._counts["bytes_dropped"] += result.bytes_dropped
            self._counts["files_dropped"] += result.files_dropped
            self._counts["entries_dropped"] += result.entries_dropped
            self._last_cut = result
            return result

    def _undo(self, change: _Change) -> None:
        full = self.full(change.path)
        if change.kind is Kind.CREATE:
            os.rmdir(full) if stat.S_ISDIR(os.lstat(full).st_mode) else os.unlink(full)
        elif change.kind is Kind.REMOVE:
            os.rename(os.path.join(self.trash, change.trash), full)
        else:
            os.rename(full, self.full(change.source))
            if change.trash:
                os.rename(os.path.join(self.trash, change.trash), full)

    def stats(self) -> Stats:
        with self._lock:
            unsynced = sum(record.written.total for record in self._files.values())
            return Stats(**self._counts, bytes_unsynced=unsynced, last_cut=self._last_cut)
