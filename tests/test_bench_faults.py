"""The faults workload: crashes and connection cuts on SQLite, on a durable throwaway PostgreSQL and
on a throwaway Kafka broker (cut through the proxy it advertises), power cuts on SQLite and
PostgreSQL with their data on a power-loss mount (bench/powerloss), the audit that judges them,
proof that the audit fails a store that loses or duplicates appends and that the power-loss results
come from the mount (a passthrough that keeps everything loses nothing), and that a run interrupted
with Ctrl-C leaves no server, proxy, mount, process or directory behind."""
from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psutil  # type: ignore[import-untyped]
import pytest
from helpers import run_cases
from report_fixtures import write_run

from bench.harness.columns import OperatingPoints
from bench.harness.results import load
from bench.powerloss import install_fuse
from bench.workloads.faults import columns as faults_columns
from bench.workloads.faults import power, toxiproxy
from bench.workloads.faults import workload as workload_module
from bench.workloads.faults.audit import Fault, StoredEvent, audit, read_journals
from bench.workloads.faults.injection import addresses, rerouted
from bench.workloads.faults.workload import Faults
from eventstore import AppendResult, EventStore, NewEvent, StoreUnavailable, StreamState
from eventstore.kafka.config import BOOTSTRAP_ENV
from eventstore.plugins import Deployment, Servers, engines
from eventstore.postgres.server import DSN_ENV

ROOT = Path(__file__).resolve().parent.parent
#: The audit's verdicts that must all be 0 for a store that keeps its promises under durable settings.
BROKEN = ("lost", "duplicated", "ambiguous_unresolved", "missed", "unanswered_stored", "handled_not_stored")
TINY = {"crashes": 2, "cuts": 2, "power_cuts": 0, "writers": 2, "appends_per_s": 40.0, "fault_every_s": [0.2, 0.4], "settle_s": 10.0, "budget_s": 40.0}
#: Power cuts only: the settings' own deployments on a power-loss mount.
POWER = {**TINY, "crashes": 0, "cuts": 0, "power_cuts": 2, "settle_s": 5.0, "budget_s": 120.0}


def proxy_available() -> bool:
    """Toxiproxy is built, or can be (the first build takes a couple of minutes)."""
    cached = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "eventstore-workbench" / f"toxiproxy-{toxiproxy.VERSION}" / "server"
    return cached.is_file() or shutil.which("go") is not None


def value(rows: list[Any], metric: str, setting: str | None = None) -> float | None:
    found = [m.value for m in rows if m.metric == metric and (setting is None or m.params["setting"] == setting)]
    assert len(found) == 1, (metric, setting, found)
    return found[0]


@pytest.fixture(scope="module")
def fuse() -> None:
    """FUSE, installed with apt-get where it is missing and this is root; elsewhere the power-loss
    tests skip with the reason and the command."""
    reason = install_fuse()
    if reason is not None:
        pytest.skip(f"power loss not measurable here: {reason}")


def per_cut(rows: list[Any], metric: str, setting: str) -> list[float]:
    return [m.value for m in rows if m.metric == metric and m.params["setting"] == setting]


@pytest.fixture(scope="module")
def durable_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """PostgreSQL as a decision-grade run starts it (durable), separate from the session's fast one,
    which these tests crash."""
    with Servers(tmp_path_factory.mktemp("faults"), durable=True) as servers, engines()["postgres"].deploy(servers) as deployment:
        yield deployment


# -- the audit on its own -------------------------------------------------------------------------


def test_audit_tells_each_outcome_apart(tmp_path):
    journal = tmp_path / "writer-0.journal"
    journal.write_text(textwrap.dedent("""\
        S 1.0 -
        P 10.0 kept s-1 a1,a2
        A 10.1 kept 0 1
        P 11.0 landed s-1 b1
        F 11.5 landed ConnectionError
        A 12.0 landed 2 2
        P 13.0 retried s-1 c1
        F 13.5 retried ConnectionError
        A 14.0 retried 3 3
        P 15.0 dropped s-1 d1
        A 15.1 dropped 4 4
        P 16.0 twice s-1 e1
        A 16.1 twice 5 5
        P 17.0 abandoned s-1 f1
        F 17.5 abandoned ConnectionError
        X 18.0 abandoned no answer within the retry bound
    """))
    stored = [
        StoredEvent("a1", "kept", "s-1", 0, 10.05), StoredEvent("a2", "kept", "s-1", 1, 10.05),
        StoredEvent("b1", "landed", "s-1", 2, 11.2),  # recorded before the failure: the first attempt had landed
        StoredEvent("c1", "retried", "s-1", 3, 13.8),  # recorded after it: the retry wrote it
        StoredEvent("e1", "twice", "s-1", 5, 16.05), StoredEvent("e9", "twice", "s-1", 6, 16.05),  # the same command under another id
        StoredEvent("f1", "abandoned", "s-1", 7, 17.2),  # given up, yet stored
    ]
    handled = [(10.2, "a1"), (10.2, "a2"), (12.1, "b1"), (14.2, "c1"), (14.3, "c1")]
    result = audit(read_journals([journal, tmp_path / "never-started.journal"]), stored, handled, [Fault("cut", 11.4, 11.6), Fault("crash", 13.4, 13.9)])
    assert (result.appends_acknowledged, result.lost, result.duplicated) == (5, 1, 1)
    assert (result.ambiguous, result.ambiguous_original, result.ambiguous_written, result.ambiguous_unresolved) == (3, 1, 1, 1)
    assert result.unanswered_stored == 1
    assert (result.missed, result.seen_twice, result.handled_not_stored) == (3, 1, 0)  # e1, e9, f1 never handled
    assert result.write_outage == pytest.approx([0.6, 0.6])  # answers to attempts sent after each fault: 12.0, 14.0
    assert result.catch_up == pytest.approx([0.7, 0.8])


def test_proxy_routes_replace_every_address_a_url_names():
    url = "dynamodb://t?endpoint_url=http%3A%2F%2F127.0.0.1%3A8000&region=us-east-1"
    assert addresses(url) == ["127.0.0.1:8000"]
    assert addresses(rerouted(url, {"127.0.0.1:8000": "127.0.0.1:9"})) == ["127.0.0.1:9"]
    pg = "postgresql://postgres@127.0.0.1:5432/postgres?schema=s&options=-csynchronous_commit%3Doff"
    assert rerouted(pg, {"127.0.0.1:5432": "127.0.0.1:7"}).startswith("postgresql://postgres@127.0.0.1:7/postgres?schema=s&options=-csynchronous_commit%3Doff")
    assert addresses("sqlite:///tmp/x.db") == []


# -- engines ------------------------------------------------------------------------------------------


def test_sqlite_durable_setting_keeps_every_append_through_writer_crashes(deployment):
    rows = run_cases(Faults({**TINY, "settings": ["synchronous-full"]}), deployment("sqlite"))
    assert value(rows, "crashes") == 2
    assert value(rows, "cuts") == 0 and "not measured" in next(m.note for m in rows if m.metric == "cuts")
    assert value(rows, "appends_acknowledged") > 0
    for metric in BROKEN:
        assert value(rows, metric) == 0, metric
    assert value(rows, "ambiguous") == value(rows, "ambiguous_original") + value(rows, "ambiguous_written")
    assert "page cache" in next(m.note for m in rows if m.metric == "lost")


def test_postgres_durable_defaults_keep_every_append_through_crashes_and_cuts(durable_postgres):
    settings = ["defaults", "synchronous-commit-off"]
    rows = run_cases(Faults({**TINY, "settings": settings}), durable_postgres)
    external = bool(os.environ.get(DSN_ENV))
    assert value(rows, "crashes", "defaults") == (0 if external else 2)
    assert value(rows, "cuts", "defaults") == (2 if proxy_available() else 0)
    assert value(rows, "ambiguous", "defaults") > 0
    for metric in BROKEN:
        assert value(rows, metric, "defaults") == 0, metric
    assert value(rows, "ambiguous", "defaults") == value(rows, "ambiguous_original", "defaults") + value(rows, "ambiguous_written", "defaults")
    assert value(rows, "subscriber_resumes", "defaults") > 0  # it failed with the engine, resumed, and missed nothing
    fast = [m for m in rows if m.params["setting"] == "synchronous_commit=off"]
    skipped = [m for m in fast if m.metric == "skipped"]
    if skipped:  # the store must say why it did not measure the setting, never measure it under a false label
        assert "does not apply this setting" in skipped[0].note
    else:
        assert value(fast, "lost_nondurable") is not None  # shown as measured, whatever it is


# -- power cuts -----------------------------------------------------------------------------------------


SQLITE_SETTINGS = {"synchronous-full": "synchronous=FULL (the store's default)", "synchronous-normal": "synchronous=NORMAL", "synchronous-off": "synchronous=OFF"}


def test_sqlite_full_keeps_every_append_through_power_cuts_and_normal_and_off_lose_some(fuse, deployment):
    """With its data on a power-loss mount, SQLite FULL (an fsync per commit) keeps every acknowledged
    append through power cuts that drop unsynced bytes; NORMAL and OFF, which do not fsync commits,
    lose acknowledged appends, and the records say how much each cut dropped."""
    rows = run_cases(Faults({**POWER, "settings": list(SQLITE_SETTINGS)}), deployment("sqlite"))
    full, normal, off = SQLITE_SETTINGS.values()
    for setting in SQLITE_SETTINGS.values():
        assert value(rows, "power_cuts", setting) == 2
        assert value(rows, "unrecovered", setting) == 0
        assert value(rows, "appends_acknowledged", setting) > 0
        assert len(per_cut(rows, "unsynced_bytes_dropped", setting)) == 2
    assert not [m for m in rows if m.metric in ("crashes", "cuts", "write_outage", "restart_time")]  # power cuts only, and no timing
    for metric in BROKEN:
        assert value(rows, metric, full) == 0, metric
    assert sum(per_cut(rows, "unsynced_bytes_dropped", full)) > 0  # the cuts had something to drop: kept, not untested
    for setting in (normal, off):
        assert value(rows, "lost_nondurable", setting) > 0, setting
        assert sum(per_cut(rows, "unsynced_bytes_dropped", setting)) > 0


def test_power_loss_results_come_from_the_mount(fuse, deployment, monkeypatch):
    """On a passthrough that keeps every change (``keep_everything``), the same power cuts drop
    nothing and SQLite NORMAL loses nothing: the losses above are the power-loss model's, so the test
    above can fail."""
    monkeypatch.setattr(power, "PowerLossMount", functools.partial(power.PowerLossMount, keep_everything=True))
    rows = run_cases(Faults({**POWER, "settings": ["synchronous-normal"]}), deployment("sqlite"))
    setting = SQLITE_SETTINGS["synchronous-normal"]
    assert value(rows, "power_cuts", setting) == 2
    assert per_cut(rows, "unsynced_bytes_dropped", setting) == [0.0, 0.0]
    assert value(rows, "lost_nondurable", setting) == 0


def test_postgres_defaults_keep_every_append_through_power_cuts(fuse, durable_postgres):
    """PostgreSQL's defaults on a server of the case's own whose data directory is on the mount; a
    server setting (fsync=off) is never applied to the run's shared server, so its crashes are not
    measured there, and the record says why."""
    rows = run_cases(Faults({**POWER, "settings": ["defaults"]}), durable_postgres)
    if os.environ.get(DSN_ENV):
        assert value(rows, "power_cuts") == 0 and "external server" in next(m.note for m in rows if m.metric == "power_cuts")
        return
    assert value(rows, "power_cuts") == 2
    assert value(rows, "unrecovered") == 0
    assert value(rows, "appends_acknowledged") > 0
    for metric in BROKEN:
        assert value(rows, metric) == 0, metric
    assert sum(per_cut(rows, "unsynced_bytes_dropped", "defaults")) > 0
    skipped = run_cases(Faults({**TINY, "crashes": 1, "cuts": 0, "settings": ["fsync-off"]}), durable_postgres)
    assert [m.metric for m in skipped] == ["skipped"] and "server setting" in (skipped[0].note or "")


def test_crashes_run_under_the_rows_own_setting_and_power_cuts_under_every_setting(deployment, monkeypatch):
    """The case plan: crashes and cuts under the row's (first) setting, then power cuts under every
    setting; without FUSE, crashes and cuts under every setting instead; ``first`` picks the row's."""
    monkeypatch.setattr(workload_module, "unavailable_reason", lambda: None)
    faults = Faults({**TINY, "power_cuts": 2})
    faults.open(deployment("sqlite"))
    full, normal, off = SQLITE_SETTINGS.values()
    plan = [(c["setting"], c["power_loss"]) for c in faults.cases()]
    assert plan == [(full, False), (full, True), (normal, True), (off, True)]
    monkeypatch.setattr(workload_module, "unavailable_reason", lambda: "no FUSE here")
    assert [(c["setting"], c["power_loss"]) for c in faults.cases()] == [(full, False), (full, True), (normal, True), (off, True), (normal, False), (off, False)]
    first = Faults({**TINY, "settings": ["first"]})
    first.open(deployment("sqlite"))
    assert [s.name for s in first.settings()] == ["synchronous-full"]


def test_without_fuse_power_loss_is_not_measured_with_the_reason_and_the_rest_runs(deployment, monkeypatch):
    monkeypatch.setattr(workload_module, "unavailable_reason", lambda: "no /dev/fuse: load the fuse kernel module (modprobe fuse)")
    rows = run_cases(Faults({**TINY, "crashes": 1, "cuts": 0, "power_cuts": 2, "settings": ["synchronous-full", "synchronous-off"]}), deployment("sqlite"))
    power_rows = [m for m in rows if m.metric == "power_cuts"]
    assert [m.value for m in power_rows] == [0.0, 0.0] and all("modprobe fuse" in (m.note or "") for m in power_rows)
    assert [m.params["setting"] for m in rows if m.metric == "crashes"] == list(SQLITE_SETTINGS.values())[::2]  # crashes under every setting instead
    assert all(m.value == 1 for m in rows if m.metric == "crashes")


def test_the_matrix_counts_power_and_crash_losses_under_the_rows_own_setting_apart(tmp_path, monkeypatch):
    """Two columns: losses over power cuts and over crashes, each under the setting the engine's row is
    measured under (its first declared; ``defaults`` for an engine the registry does not know),
    never under another setting; where no power cut could run, the cell says why."""
    res = load(write_run(tmp_path))
    table = pd.DataFrame({
        "engine": ["alpha"] * 4 + ["beta"], "setting": ["defaults", "defaults", "fast", "fast", "defaults"], "durable": [True, True, False, False, True],
        "power_loss": [False, True, False, True, True], "crashes": [10.0, None, 10.0, None, None], "power_cuts": [None, 10.0, None, 10.0, 0.0],
        "lost": [0.0, 3.0, 0.0, 40.0, None], "verdict": ["", "", "", "", ""], "not_measured": [None, None, None, None, "power cuts: no /dev/fuse"],
    })
    monkeypatch.setattr(faults_columns, "faults_summary", lambda results: table)
    metric = Faults.metric("lost")
    assert faults_columns._power_losses(res, "alpha", metric).value == 3.0  # not the 40 lost under "fast"
    assert faults_columns._crash_losses(res, "alpha", metric).value == 0.0
    beta = faults_columns._power_losses(res, "beta", metric)
    assert beta.value is None and (beta.reason or "").endswith("power cuts: no /dev/fuse")
    assert {"crash_losses", "power_losses"} <= {s.key for s in faults_columns.columns(OperatingPoints())}


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A Kafka broker of these tests alone, which they crash and whose listeners they change."""
    if os.environ.get(BOOTSTRAP_ENV):
        pytest.skip(f"{BOOTSTRAP_ENV} names a broker the run did not start: it neither crashes nor reconfigures it")
    with Servers(tmp_path_factory.mktemp("faults-kafka")) as servers, engines()["kafka"].deploy(servers) as deployment:
        yield deployment


def test_clients_that_bypass_the_proxy_get_no_cuts_and_the_record_says_why(own_kafka, monkeypatch):
    if not proxy_available():
        pytest.skip("Toxiproxy is neither built nor buildable here (no Go)")
    assert own_kafka.server is not None and own_kafka.server.proxy_address is None  # it advertises itself alone
    monkeypatch.setattr(own_kafka.server, "advertise", lambda routes: None)  # as a server that cannot advertise a proxy
    rows = run_cases(Faults({**TINY, "crashes": 0, "cuts": 1, "settle_s": 5.0, "settings": ["defaults"]}), own_kafka)
    assert value(rows, "cuts") == 0
    note = next(m.note for m in rows if m.metric == "cuts")
    assert note.startswith("not measured") and "directly" in note


def test_kafka_is_cut_through_the_proxy_its_broker_advertises_and_survives_crashes(own_kafka):
    if not proxy_available():
        pytest.skip("Toxiproxy is neither built nor buildable here (no Go)")
    rows = run_cases(Faults({**TINY, "crashes": 1, "cuts": 2, "budget_s": 150.0, "settings": ["defaults"]}), own_kafka)
    note = next(m.note for m in rows if m.metric == "cuts")
    assert value(rows, "cuts") == 2, note
    assert "advertises the proxy's address" in note
    assert value(rows, "crashes") == 1  # the broker restarts after SIGKILL with its proxied listener
    assert value(rows, "appends_acknowledged") > 0
    for metric in BROKEN:  # its defaults flush nothing per message: declared non-durable, its losses are recorded apart
        assert value(rows, f"{metric}_nondurable" if metric in ("lost", "missed") else metric) == 0, metric
    assert [m.value for m in rows if m.metric == "restart_time"][0] > 0


# -- the audit fails a broken store --------------------------------------------------------------------


class Wrapping:
    """A deployment whose stores are wrapped by ``wrap``: what the workload needs of it, nothing else."""

    def __init__(self, deployment: Deployment, wrap: Callable[[EventStore], Any]) -> None:
        self._deployment = deployment
        self._wrap = wrap
        self.name, self.server, self.no_crash_reason, self.settings = deployment.name, deployment.server, deployment.no_crash_reason, deployment.settings
        self.cross_process = deployment.cross_process

    def new_url(self, label: str) -> str:
        return self._deployment.new_url(label)

    def connect(self, url: str) -> Any:
        return self._wrap(self._deployment.connect(url))


class Delegating:
    def __init__(self, inner: EventStore) -> None:
        self._inner = inner
        self._appends = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class DropsAnAppend(Delegating):
    """Answers every fifth append as if written, without writing it."""

    def append(self, stream_id: str, events: list[NewEvent], expected_version: Any = StreamState.ANY) -> AppendResult:
        self._appends += 1
        if self._appends % 5 == 0:
            return AppendResult(stream_id, 0, len(events) - 1, (0, 0))
        return self._inner.append(stream_id, events, expected_version)


class RetriesUnderNewIds(Delegating):
    """Loses the answer to every fourth append, and writes a retried batch again under new event ids
    before retrying it (a client that regenerates ids on retry)."""

    def __init__(self, inner: EventStore) -> None:
        super().__init__(inner)
        self._sent: set[tuple[Any, ...]] = set()

    def append(self, stream_id: str, events: list[NewEvent], expected_version: Any = StreamState.ANY) -> AppendResult:
        ids = tuple(e.id for e in events)
        retry = ids in self._sent
        if retry:
            self._inner.append(stream_id, [NewEvent(e.type, e.data, e.metadata) for e in events])
        self._sent.add(ids)
        result = self._inner.append(stream_id, events, expected_version)
        self._appends += 1
        if not retry and self._appends % 4 == 0:
            raise StoreUnavailable("the answer was lost (test)")
        return result


@pytest.mark.parametrize(("wrapper", "caught"), [(DropsAnAppend, "lost"), (RetriesUnderNewIds, "duplicated")])
def test_the_audit_catches_a_store_that_breaks_its_promise(durable_postgres, wrapper, caught):
    params = {**TINY, "crashes": 1, "cuts": 0, "settle_s": 3.0, "settings": ["defaults"]}
    rows = run_cases(Faults(params), Wrapping(durable_postgres, wrapper))
    assert value(rows, caught) > 0
    if caught == "duplicated":
        assert value(rows, "ambiguous_unresolved") > 0  # the retry's answer is not what the store holds once


# -- nothing left behind ----------------------------------------------------------------------------------


def _descendants(pid: int) -> dict[int, str]:
    """The processes ``pid`` started, and theirs, by pid: their command lines and open files."""
    found = {}
    for process in psutil.Process(pid).children(recursive=True):
        try:
            found[process.pid] = " ".join(process.cmdline()) + " " + " ".join(f.path for f in process.open_files())
        except psutil.Error:  # it ended while being looked at
            pass
    return found


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


#: More faults than any loaded machine gets through before Ctrl-C: the run must still be going when it
#: comes (with 20 each, a loaded run of the suite recorded the engine "measured": most likely the run ended
#: while the test still looked for its marker).
PROCESS_FAULTS = {"crashes": 200, "cuts": 200, "power_cuts": 0}


@pytest.mark.parametrize(("engine", "setting", "faults", "marker"), [
    ("postgres", "defaults", PROCESS_FAULTS, "toxiproxy"), ("sqlite", "synchronous-full", PROCESS_FAULTS, ".journal"),
    ("kafka", "defaults", PROCESS_FAULTS, "toxiproxy"), ("postgres", "defaults", {"crashes": 0, "cuts": 0, "power_cuts": 200}, "bench.powerloss.daemon"),
])
def test_an_interrupted_run_leaves_no_server_proxy_mount_process_or_directory(tmp_path, engine, setting, faults, marker):
    if marker == "toxiproxy" and not proxy_available():
        pytest.skip("Toxiproxy is neither built nor buildable here (no Go)")
    if marker == "bench.powerloss.daemon" and (reason := install_fuse()) is not None:
        pytest.skip(f"power loss not measurable here: {reason}")
    scratch = Path(tempfile.mkdtemp(prefix="faults-interrupt-"))
    scratch.chmod(0o755)  # the PostgreSQL server's OS user must reach its directory inside
    script = textwrap.dedent(f"""
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if this suite runs with SIGINT ignored
        from bench.workloads import run_workload
        run_workload("faults", {{**{faults!r}, "writers": 2, "budget_s": 300.0, "settings": [{setting!r}]}},
                            engines={engine!r}, results_dir={str(tmp_path / "results")!r}, progress=False, profile="quick")
    """)
    env = {**os.environ, "TMPDIR": str(scratch)}
    env.pop(DSN_ENV, None)
    env.pop(BOOTSTRAP_ENV, None)
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while not any(marker in seen for seen in started.values()) and time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read().decode()[-2000:] if child.stderr else ""
            started |= _descendants(child.pid)
            time.sleep(0.1)
        time.sleep(0.5)  # into the faults
        started |= _descendants(child.pid)
        assert child.poll() is None, "the run ended before Ctrl-C came, so this test interrupted nothing"
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole process group
        child.wait(60)
        gone_by = time.monotonic() + 10  # writers notice the harness is gone within 0.5 s, and the fork server then exits
        while (alive := [command for pid, command in started.items() if _running(pid)]) and time.monotonic() < gone_by:
            time.sleep(0.2)
        assert not alive
        assert not list(scratch.iterdir())
        assert str(scratch) not in Path("/proc/mounts").read_text()
        records = [json.loads(line) for line in (tmp_path / "results" / "records" / "faults.jsonl").read_text().splitlines()]
        # The run stopped there. (Ctrl-C stops PostgreSQL's server too; the deployment then cannot drop
        # its stores, and the runner reports that error rather than the interruption.)
        assert [r["status"] for r in records if r["kind"] == "engine"] in (["interrupted"], ["not_measured"])
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)
