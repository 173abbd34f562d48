"""The power-loss filesystem (bench/powerloss): each rule of its model, on a real FUSE mount.

Every model test runs twice: on the power-loss mount, where its rule must hold, and on the same
mount with ``keep_everything=True`` (a plain passthrough whose cuts keep every change), where it must
not: each test leaves a change its rule says a cut drops, so ``expect`` proves the test able to fail.
FUSE is installed with apt-get where it is missing and this is root; elsewhere these tests skip with
the reason and the command.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bench.powerloss import CutStats, PowerLossError, PowerLossMount, install_fuse, mount_users, unavailable_reason
from bench.powerloss import mount as mount_module
from eventstore.postgres.server import PostgresServer
from eventstore.servers import ServiceUnavailable


@pytest.fixture(scope="module")
def fuse() -> None:
    reason = install_fuse()
    if reason is not None:
        pytest.skip(f"power loss not measurable here: {reason}")


@pytest.fixture(scope="module", params=["powerloss", "passthrough"])
def mount(request: pytest.FixtureRequest, fuse: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowerLossMount]:
    with PowerLossMount(tmp_path_factory.mktemp(request.param), keep_everything=request.param == "passthrough") as mounted:
        yield mounted


@pytest.fixture
def here(mount: PowerLossMount) -> Path:
    """A fresh directory on the mount whose own entry is durable (it outlives the test's cut)."""
    directory = Path(tempfile.mkdtemp(dir=mount.path))
    fsync(mount.path)
    return directory


def expect(mount: PowerLossMount, holds: bool) -> None:
    """The rule holds after a cut on the power-loss mount, and is broken on the passthrough."""
    assert holds is not mount.keep_everything, "the rule is broken on the power-loss mount" if holds is False else "a passthrough keeping everything passed: the test cannot fail"


def fsync(path: Path, *, data_only: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        (os.fdatasync if data_only else os.fsync)(fd)
    finally:
        os.close(fd)


def write(path: Path, data: bytes, *, offset: int = 0, sync: bool = False, flags: int = 0) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o644)
    try:
        os.pwrite(fd, data, offset)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def contents(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


# -- file data ---------------------------------------------------------------------------------------


def test_unsynced_write_is_lost(mount: PowerLossMount, here: Path) -> None:
    write(here / "f", b"never synced")
    fsync(here)  # the name is durable; the data is not
    mount.power_cut()
    expect(mount, contents(here / "f") == b"")


@pytest.mark.parametrize("data_only", [False, True], ids=["fsync", "fdatasync"])
def test_synced_write_is_kept_and_later_writes_are_not(mount: PowerLossMount, here: Path, data_only: bool) -> None:
    write(here / "f", b"0123456789")
    fsync(here / "f", data_only=data_only)
    fsync(here)
    write(here / "f", b"abc", offset=2)  # overwrites synced bytes
    write(here / "f", b"tail", offset=10)  # appends
    mount.power_cut()
    expect(mount, contents(here / "f") == b"0123456789")


def test_o_dsync_write_is_durable_when_it_returns(mount: PowerLossMount, here: Path) -> None:
    write(here / "f", b"synchronous", flags=os.O_DSYNC)
    write(here / "f", b"-later", offset=11)
    fsync(here)
    mount.power_cut()
    expect(mount, contents(here / "f") == b"synchronous")


def test_truncate_and_extend_return_to_the_synced_size(mount: PowerLossMount, here: Path) -> None:
    write(here / "shrunk", b"0123456789", sync=True)
    write(here / "grown", b"0123", sync=True)
    write(here / "reopened", b"original", sync=True)
    fsync(here)
    os.truncate(here / "shrunk", 3)
    os.truncate(here / "grown", 100)
    write(here / "reopened", b"new", flags=os.O_TRUNC)
    mount.power_cut()
    after = [contents(here / name) for name in ("shrunk", "grown", "reopened")]
    expect(mount, after == [b"0123456789", b"0123", b"original"])


def test_mmap_writes_are_durable_after_msync_only(mount: PowerLossMount, here: Path) -> None:
    for name, msync in (("flushed", True), ("not-flushed", False)):
        fd = os.open(here / name, os.O_RDWR | os.O_CREAT, 0o644)
        os.ftruncate(fd, mmap.PAGESIZE)
        os.fsync(fd)
        with mmap.mmap(fd, mmap.PAGESIZE) as mapped:
            mapped[:6] = b"mapped"
            if msync:
                mapped.flush()
        os.close(fd)
    fsync(here)
    mount.power_cut()
    expect(mount, [contents(here / name)[:6] for name in ("flushed", "not-flushed")] == [b"mapped", bytes(6)])  # type: ignore[index]


def test_syncfs_makes_nothing_durable(mount: PowerLossMount, here: Path) -> None:
    """Declared: Linux forwards syncfs(2) and sync(2) to no FUSE daemon but virtiofs's, so on this
    mount they keep nothing (a disk would keep everything); ``mount.sync()`` stands in for them."""
    write(here / "f", b"synced by syncfs")
    fsync(here)
    fd = os.open(here / "f", os.O_RDONLY)
    try:
        assert ctypes.CDLL(None, use_errno=True).syncfs(fd) == 0
    finally:
        os.close(fd)
    mount.power_cut()
    expect(mount, contents(here / "f") == b"")


def test_mount_sync_makes_everything_durable(mount: PowerLossMount, here: Path) -> None:
    write(here / "kept", b"before sync")
    mount.sync()
    write(here / "dropped", b"after sync")
    mount.power_cut()
    expect(mount, (contents(here / "kept"), contents(here / "dropped")) == (b"before sync", None))


# -- directory entries -------------------------------------------------------------------------------


CREATES = {
    "file": lambda path: write(path, b"data", sync=True),
    "directory": lambda path: path.mkdir(),
    "symlink": lambda path: path.symlink_to("elsewhere"),
    "hard link": lambda path: os.link(path.parent / "existing", path),
    "fifo": lambda path: os.mkfifo(path),
}


@pytest.mark.parametrize("kind", CREATES)
def test_an_entry_created_without_its_directorys_fsync_is_lost(mount: PowerLossMount, here: Path, kind: str) -> None:
    write(here / "existing", b"old", sync=True)
    CREATES[kind](here / "durable")
    fsync(here)
    CREATES[kind](here / "new")
    mount.power_cut()
    expect(mount, os.path.lexists(here / "durable") and not os.path.lexists(here / "new"))


def test_unlink_and_rmdir_without_the_directorys_fsync_are_undone(mount: PowerLossMount, here: Path) -> None:
    write(here / "f", b"synced", sync=True)
    (here / "d").mkdir()
    write(here / "gone", b"removed for good", sync=True)
    fsync(here)
    (here / "gone").unlink()
    fsync(here)
    (here / "f").unlink()
    (here / "d").rmdir()
    mount.power_cut()
    expect(mount, contents(here / "f") == b"synced" and (here / "d").is_dir() and not (here / "gone").exists())


def test_a_file_unlinked_while_open_is_served_and_returns_with_what_was_synced(mount: PowerLossMount, here: Path) -> None:
    write(here / "f", b"before", sync=True)
    fsync(here)
    fd = os.open(here / "f", os.O_RDWR)
    try:
        (here / "f").unlink()
        os.pwrite(fd, b"after!", 0)
        os.fsync(fd)
        os.pwrite(fd, b"lost", 0)
    finally:
        os.close(fd)
    mount.power_cut()
    expect(mount, contents(here / "f") == b"after!")


def test_rename_without_the_directorys_fsync_is_undone(mount: PowerLossMount, here: Path) -> None:
    write(here / "new", b"new version", sync=True)
    write(here / "current", b"old version", sync=True)
    write(here / "moved", b"moved", sync=True)
    fsync(here)
    os.rename(here / "moved", here / "arrived")
    fsync(here)
    os.rename(here / "new", here / "current")  # the atomic-replace idiom, missing its directory fsync
    mount.power_cut()
    after = [contents(here / name) for name in ("new", "current", "moved", "arrived")]
    expect(mount, after == [b"new version", b"old version", None, b"moved"])


def test_a_chain_of_unsynced_changes_is_undone_newest_first(mount: PowerLossMount, here: Path) -> None:
    write(here / "kept", b"synced", sync=True)
    fsync(here)
    (here / "d").mkdir()
    write(here / "d" / "f", b"data", sync=True)
    os.rename(here / "d" / "f", here / "d" / "g")
    os.rename(here / "kept", here / "d" / "kept")
    os.rename(here / "d", here / "e")
    (here / "e" / "g").unlink()
    mount.power_cut()
    expect(mount, sorted(os.listdir(here)) == ["kept"] and contents(here / "kept") == b"synced")


def test_a_rename_across_directories_is_durable_once_either_directory_is_synced(mount: PowerLossMount, here: Path) -> None:
    for name in ("a", "b"):
        (here / name).mkdir()
    write(here / "a" / "one", b"1", sync=True)
    write(here / "a" / "two", b"2", sync=True)
    fsync(here / "a")
    fsync(here)
    os.rename(here / "a" / "one", here / "b" / "one")
    fsync(here / "b")
    os.rename(here / "a" / "two", here / "b" / "two")
    mount.power_cut()
    after = [os.path.exists(here / path) for path in ("a/one", "b/one", "a/two", "b/two")]
    expect(mount, after == [False, True, True, False])


def test_a_directory_fsync_commits_earlier_changes_as_a_journal_does(mount: PowerLossMount, here: Path) -> None:
    (here / "sub").mkdir()
    write(here / "sub" / "f", b"data", sync=True)
    fsync(here / "sub")  # commits sub/f and, being later, the mkdir of sub in an unsynced `here`
    write(here / "sub" / "g", b"data", sync=True)
    mount.power_cut()
    expect(mount, (here / "sub" / "f").exists() and not (here / "sub" / "g").exists())


# -- counts and the daemon ---------------------------------------------------------------------------


def test_stats_count_what_each_cut_dropped(mount: PowerLossMount, here: Path) -> None:
    before = mount.stats()
    write(here / "synced", b"s" * 50, sync=True)
    write(here / "unsynced", b"u" * 100)
    write(here / "unsynced", b"U" * 20, offset=90)  # 10 bytes rewritten, 10 appended
    write(here / "shrunk", b"s" * 10, sync=True)
    fsync(here)
    os.truncate(here / "shrunk", 5)  # a size change: a file dropped, no bytes
    (here / "late").mkdir()
    assert mount.stats().bytes_unsynced == 110
    cut = mount.power_cut()
    after = mount.stats()
    assert after.bytes_written - before.bytes_written == 180
    assert after.bytes_synced - before.bytes_synced == 60
    assert after.cuts == before.cuts + 1 and after.last_cut == cut
    expect(mount, cut == CutStats(bytes_dropped=110, files_dropped=2, entries_dropped=1))


def test_a_cut_waits_for_killed_users_and_names_a_live_one(mount: PowerLossMount, here: Path) -> None:
    write(here / "held", b"x", sync=True)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1]); print(flush=True); time.sleep(60)", str(here / "held")], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"\n"
        assert [user.pid for user in mount_users(mount.path)] == [holder.pid]
        with pytest.raises(PowerLossError, match=f"pid {holder.pid} "):
            mount.power_cut(busy_wait_s=0.3)
        assert [killed.split()[1] for killed in mount.kill_users()] == [str(holder.pid)]
        mount.power_cut()
    finally:
        holder.kill()
        holder.wait()


def test_the_daemon_unmounts_when_its_owner_is_killed(fuse: None, tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom bench.powerloss import PowerLossMount\n"
        "m = PowerLossMount(sys.argv[1]).start()\nprint(m._process.pid, flush=True)\ntime.sleep(60)"
    ), str(tmp_path)], stdout=subprocess.PIPE)
    assert owner.stdout is not None
    daemon_pid = int(owner.stdout.readline())
    assert str(tmp_path / "mnt") in Path("/proc/mounts").read_text()
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (str(tmp_path / "mnt") in Path("/proc/mounts").read_text() or Path(f"/proc/{daemon_pid}").exists()):
        time.sleep(0.05)
    assert str(tmp_path / "mnt") not in Path("/proc/mounts").read_text()
    assert not Path(f"/proc/{daemon_pid}").exists() or "Z" in Path(f"/proc/{daemon_pid}/stat").read_text().split()[2]


def test_unavailable_reason_names_what_is_missing_and_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "modprobe fuse" in (unavailable_reason(device=str(tmp_path / "fuse")) or "")
    if unavailable_reason() is None:  # where FUSE is here, hide its library to see the install command
        monkeypatch.setattr(mount_module.ctypes.util, "find_library", lambda name: None)
        assert "apt-get install fuse3" in (unavailable_reason() or "")


# -- a real engine -----------------------------------------------------------------------------------


def committed_rows(server: PostgresServer) -> int | None:
    """Rows of table t after a restart; None when the table or the cluster did not survive."""
    try:
        server.restart()
        with server.connect() as conn:
            return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])  # type: ignore[index]
    except (ServiceUnavailable, psycopg.errors.UndefinedTable):
        return None


@pytest.mark.slow
@pytest.mark.parametrize("durable", [True, False], ids=["fsync-on", "fsync-off"])
def test_postgres_keeps_every_acknowledged_commit_across_power_cuts(fuse: None, durable: bool) -> None:
    """PostgreSQL's defaults (fsync, synchronous_commit) survive power cuts that drop unsynced bytes;
    the same server with fsync and synchronous_commit off loses commits, so the test can fail."""
    with PowerLossMount() as mount:
        server = PostgresServer(base_dir=mount.path, durable=durable)
        server.start()
        try:
            mount.sync()  # initdb's files and the settings the harness appended to postgresql.conf unsynced
            with server.connect(autocommit=True) as conn:
                conn.execute("CREATE TABLE t (n int PRIMARY KEY, pad text)")
            acknowledged, found = 0, []
            for _ in range(2):
                with server.connect(autocommit=True) as conn:
                    for _ in range(100):
                        conn.execute("INSERT INTO t VALUES (%s, repeat('x', 200))", (acknowledged,))
                        acknowledged += 1
                mount.kill_users()
                server.kill()
                assert mount.power_cut().bytes_dropped > 0  # the cut had unsynced bytes to drop
                found.append(committed_rows(server))
                if found[-1] is None:
                    break
                acknowledged = found[-1]  # the next round counts from what survived
        finally:
            server.stop()
    assert (found == [100, 200]) is durable, f"rows found after each cut: {found}"
