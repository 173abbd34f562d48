"""The overhead workload: its ratio math, every engine's raw path (declared, importable, doing the
same work as the store on a real engine, learning of new events on its live path), a short run on
SQLite whose records validate, and the two paths in worker processes on SQLite and PostgreSQL."""
from __future__ import annotations

import inspect
import time
import uuid

import pytest

from bench.harness import abba, results
from bench.harness.engines import NotMeasured
from bench.harness.records import read_records, validate
from bench.workloads import run_workload
from bench.workloads.overhead import workload as overhead_module
from bench.workloads.overhead.processes import latency_ratios, live_round
from bench.workloads.overhead.tables import live, summary
from bench.workloads.overhead.workload import Overhead, raw_path_of, read_through
from eventstore import NewEvent, StreamState
from eventstore.plugins import Engine, NoLivePath, RawPath, engines
from eventstore.postgres.server import DSN_ENV
from eventstore.sqlite.raw import SQLiteRawPath

TINY = {"repetitions": 1, "rounds": 2, "round_s": 0.05, "read_events": 120, "read_page": 50, "batch_size": 10, "warmup_calls": 1, "fill_s": 5.0,
        "paths": ["append_single", "append_batch", "read_all"]}
#: The two paths in worker processes, at tiny sizes.
TINY_PROCESSES = {"repetitions": 1, "rounds": 2, "round_s": 0.1, "warmup_calls": 1, "writers": 2, "live_writers": 2, "live_rate": 200.0,
                  "live_round_s": 0.3, "live_poll_s": 0.1, "paths": ["append_concurrent", "live_delivery"]}


# -- the ratio math -------------------------------------------------------------------------------


def test_paired_ratio_is_the_median_of_per_pair_ratios_with_its_extremes():
    found = abba.paired_ratio([10.0, 20.0, 30.0], [5.0, 40.0, 30.0])  # pairs: 2.0, 0.5, 1.0
    assert (found.ratio, found.min, found.max, found.pairs) == (1.0, 0.5, 2.0, 3)
    assert (found.a, found.b) == (20.0, 30.0)  # each side's own median, not a ratio of sums
    assert found.spread == pytest.approx(1.0) and not found.stable


def test_a_ratio_is_unstable_only_past_five_percent():
    assert abba.paired_ratio([100.0, 104.0], [100.0, 100.0]).stable  # 1.02 ± 0.02
    assert not abba.paired_ratio([100.0, 112.0], [100.0, 100.0]).stable  # 1.06 ± 0.06
    with pytest.raises(ValueError):
        abba.paired_ratio([1.0], [1.0, 2.0])


def test_abba_alternates_which_side_goes_first():
    order: list[str] = []
    got = abba.abba({"a": lambda: order.append("a") or 1, "b": lambda: order.append("b") or 2}, 4)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert got == {"a": [1] * 4, "b": [2] * 4}


def test_timed_counts_events_per_call_or_what_each_call_returns():
    assert abba.timed(lambda: None, 0.02, 10)() > 0
    counts = iter([3, 0, 0, 0] + [0] * 100_000)
    rate = abba.timed(lambda: next(counts), 0.01, None)()
    assert 0 < rate < 3 / 0.009


def test_workload_marks_an_unstable_ratio_in_its_note(monkeypatch):
    """Rounds that swing far more than ±5 % give a ratio whose note says it is unstable."""
    import bench.workloads.overhead.workload as module

    rates = iter([100.0, 100.0, 100.0, 300.0])  # in ABBA order: adapter, raw, raw, adapter

    class Fake(Overhead):
        def _sides(self, path):
            return (lambda: None), (lambda: None), 1

    workload = Fake(TINY)
    workload._raw_type = type("R", (), {"describe": "fake"})  # type: ignore[assignment]
    monkeypatch.setattr(module, "timed", lambda op, seconds, per: (lambda: next(rates)))
    rows = {m.metric: m for m in workload.run_case({"path": "append_single", "repetition": 0})}
    assert rows["ratio"].value == pytest.approx(2.0) and rows["ratio_min"].value == 1.0 and rows["ratio_max"].value == 3.0
    assert rows["ratio"].note.startswith("unstable")


def live_rounds(latency_ms: float, events: int = 100, before_ack: int = 0) -> list:
    """Two rounds of ``events`` each, every event arriving ``latency_ms`` after its commit (the first
    ``before_ack`` of them 1 ms before it)."""
    rounds = []
    for _ in range(2):
        committed = {f"e{n}": 10.0 + n * 0.01 for n in range(events)}
        arrived = {key: at + (-0.001 if n < before_ack else latency_ms / 1000) for n, (key, at) in enumerate(committed.items())}
        rounds.append(live_round(committed, arrived, 1.0))
    return rounds


def test_a_latency_ratio_is_the_raw_latency_over_the_adapters_so_a_slower_adapter_is_below_one():
    """An adapter that delivers in 4 ms where the raw path takes 2 ms has a ratio of 0.5 at p50 and
    p99, not 2: above 1 would claim the adapter delivers sooner than it does."""
    found = latency_ratios(live_rounds(4.0), live_rounds(2.0))
    for name in ("p50", "p99"):
        ratio = found[name]
        assert ratio is not None and ratio.ratio == pytest.approx(0.5, rel=0.01) and ratio.pairs == 2
        assert ratio.a == pytest.approx(2000, rel=0.01) and ratio.b == pytest.approx(4000, rel=0.01)  # raw, adapter (µs)
    assert latency_ratios(live_rounds(1.0), live_rounds(3.0))["p50"].ratio == pytest.approx(3.0, rel=0.01)


def test_a_live_round_counts_early_and_missing_events_and_a_silent_round_has_no_ratio():
    round_ = live_rounds(2.0, events=10, before_ack=3)[0]
    assert (round_.committed, round_.before_ack, round_.undelivered) == (10, 3, 0)
    assert round_.histogram.get_min_value() == 1  # arrived before the append returned: 0, the histogram's floor
    missing = live_round({"a": 1.0, "b": 2.0}, {"a": 1.002}, 1.0)
    assert (missing.committed, missing.undelivered, missing.histogram.get_total_count()) == (2, 1, 1)
    silent = [live_round({"a": 1.0}, {}, 1.0)] * 2
    assert latency_ratios(live_rounds(1.0), silent) == {"p50": None, "p99": None}


def test_the_live_rows_say_which_side_is_faster_and_merge_every_round(monkeypatch):
    """The workload's records of a live case: ratio raw/adapter per percentile, each side's latency
    from the histogram of all its rounds, early and undelivered events."""
    workload = Overhead(TINY)
    rows = list(workload._live_rows(live_rounds(4.0, before_ack=10), live_rounds(2.0), {"path": "live_delivery"}, 0, "fake listener"))
    by = {(m.metric, m.params.get("percentile")): m for m in rows}
    assert by[("latency_ratio", "p99")].value == pytest.approx(0.5, rel=0.01)
    assert by[("adapter_latency_p99", None)].value == pytest.approx(4000, rel=0.01)
    assert by[("adapter_latency_histogram", None)].value == 200 and by[("adapter_latency_histogram", None)].hdr
    assert (by[("adapter_before_ack", None)].value, by[("raw_before_ack", None)].value) == (20, 0)
    assert by[("raw_live_rate", None)].note == "raw live path: fake listener" and by[("raw_undelivered", None)].value == 0
    for m in rows:
        workload.metric(m.metric)  # every one declared
        workload.by(*m.params)


# -- every engine's declaration -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(engines()))
def test_every_engine_declares_a_raw_path_that_fits_or_is_not_measured_with_the_reason(name):
    engine = engines()[name]
    handle = type("Handle", (), {"engine": engine, "cross_process": engine.cross_process})()
    if engine.raw_path is None:
        with pytest.raises(NotMeasured, match=f"^{name} declares no raw path$"):
            Overhead(TINY).open(handle)  # type: ignore[arg-type]
        return
    found = raw_path_of(handle)  # type: ignore[arg-type]
    assert found is engine.raw_path_class()
    assert issubclass(found, RawPath) and not inspect.isabstract(found)
    assert isinstance(found.describe, str) and found.describe and "\n" not in found.describe
    module = found.__module__
    assert module.startswith(type(engine).__module__.rpartition(".")[0]) and module.endswith(".raw"), "a raw path lives in its engine's package"


def test_a_wrong_raw_path_declaration_is_refused():
    class Broken(Engine):
        name = "broken"
        raw_path = "eventstore.plugins:Engine"

        def open_store(self, url):  # pragma: no cover - never called
            raise NotImplementedError

        def deploy(self, servers):  # pragma: no cover - never called
            raise NotImplementedError

    with pytest.raises(TypeError, match="not a RawPath"):
        Broken().raw_path_class()
    handle = type("Handle", (), {"engine": Broken(), "cross_process": True})()
    with pytest.raises(NotMeasured, match="broken's raw path"):
        raw_path_of(handle)  # type: ignore[arg-type]


# -- each raw path against a real engine ------------------------------------------------------------


def check_raw_path(raw_type: type[RawPath], url: str, store) -> None:
    """The raw path reads back what it wrote and what the store wrote at ``url``, as the store wrote it."""
    raw = raw_type(url)
    try:
        single, batch, stored = f"Raw-{uuid.uuid4().hex[:8]}", f"Raw-{uuid.uuid4().hex[:8]}", f"Store-{uuid.uuid4().hex[:8]}"
        for n in range(3):
            raw.append_one(single, NewEvent("Single", {"n": n}))
        raw.append_batch(batch, [NewEvent("Batched", {"n": n, "text": "é"}) for n in range(5)])
        stored_events = [NewEvent("Stored", {"n": n}, {"by": "store"}) for n in range(4)]
        store.append(stored, stored_events, StreamState.NO_STREAM)
        rows = read_through(raw.read_page, lambda row: row[0], 2)
        assert all(len(page) <= 2 for page in [raw.read_page(None, 2)])
        got = sorted((s, v, t, d) for _, s, v, t, d, *_ in rows)
        # every field decoded as the store decodes it: the event id, the metadata, the time stamp
        by_id = {i: (m, r) for _, s, _, _, _, i, m, r in rows if s == stored}
        assert set(by_id) == {e.id for e in stored_events} and all(m == {"by": "store"} for m, _ in by_id.values())
        recorded = {e.event_id: e.recorded_at for e in store.read_stream(stored)}
        assert all(abs((r - recorded[i]).total_seconds()) < 1 for i, (_, r) in by_id.items())
        expected = sorted(
            [(single, n, "Single", {"n": n}) for n in range(3)]
            + [(batch, n, "Batched", {"n": n, "text": "é"}) for n in range(5)]
            + [(stored, n, "Stored", {"n": n}) for n in range(4)]
        )
        assert got == expected
        assert len({row[0] for row in rows}) == len(rows), "positions are distinct cursors"
    finally:
        raw.close()


def check_raw_listener(raw_type: type[RawPath], url: str) -> None:
    """The raw path's listener learns of every event ``append_live`` commits after it opened, and of
    nothing before; a poll with nothing new waits its timeout and returns nothing."""
    raw = raw_type(url)
    try:
        raw.append_live("Before-1", NewEvent("Early", {}))
        listener = raw.listen(0.05)
        try:
            assert isinstance(listener.describe, str) and listener.describe and "\n" not in listener.describe
            events = [NewEvent("Live", {"n": n}) for n in range(5)]
            for n, event in enumerate(events):
                raw.append_live(f"Live-{n % 2}", event)
            seen: list[uuid.UUID] = []
            deadline = time.monotonic() + 30
            while len(seen) < len(events) and time.monotonic() < deadline:
                seen += listener.poll(0.5)
            assert sorted(seen) == sorted(e.id for e in events)
            started = time.monotonic()
            assert listener.poll(0.2) == [] and time.monotonic() - started >= 0.15
        finally:
            listener.close()
    finally:
        raw.close()


@pytest.mark.parametrize("name", [
    "sqlite",
    "postgres",
    pytest.param("dynamodb", marks=pytest.mark.slow),
    pytest.param("kafka", marks=pytest.mark.slow),
])
def test_raw_path_writes_and_reads_back_the_same_events_and_learns_of_new_ones(deployment, name):
    d = deployment(name)
    url = d.new_url("raw")
    store = d.connect(url)
    try:
        raw_type = d.engine.raw_path_class()
        assert raw_type is not None
        check_raw_path(raw_type, url, store)
        check_raw_listener(raw_type, d.new_url("live"))
    finally:
        if d.cross_process:
            store.close()


def test_eventstoredb_raw_path_against_the_protocol_double():
    pytest.importorskip("esdbclient")
    from esdb_double import ESDBDouble

    from eventstore.eventstoredb import EventStoreDBStore
    from eventstore.eventstoredb.engine import ENGINE

    raw_type = ENGINE.raw_path_class()
    assert raw_type is not None
    with ESDBDouble() as double:
        url = f"{double.uri}&prefix=t{uuid.uuid4().hex[:12]}"
        store = EventStoreDBStore.from_url(url)
        try:
            check_raw_path(raw_type, url, store)
            check_raw_listener(raw_type, f"{double.uri}&prefix=t{uuid.uuid4().hex[:12]}")
        finally:
            store.close()


# -- a short run end to end -------------------------------------------------------------------------


def test_a_short_run_on_sqlite_records_every_path_and_memory_is_not_measured(tmp_path):
    run = run_workload("overhead", TINY, engines="sqlite,memory", results_dir=tmp_path, progress=False, profile="quick")
    outcomes = {o.engine: o for o in run.outcomes}
    assert outcomes["sqlite"].status == "measured"
    assert (outcomes["memory"].status, outcomes["memory"].reason) == ("not_measured", "memory declares no raw path")
    records = read_records(tmp_path, workload="overhead")
    for record in records:
        validate(record)
    measured = [r for r in records if r["kind"] == "measurement"]
    assert not [r for r in measured if r["metric"] in ("error", "skipped")], [r["note"] for r in measured]
    res = results.load(tmp_path, workload="overhead")
    table = summary(res.of("overhead"))
    assert list(table["path"]) == TINY["paths"] and set(table["engine"]) == {"sqlite"}
    assert (table["adapter_rate"] > 0).all() and (table["raw_rate"] > 0).all()
    assert (table["ratio_min"] <= table["ratio"]).all() and (table["ratio"] <= table["ratio_max"]).all()
    assert table.set_index("path").loc["append_batch", "events_per_call"] == 10
    assert all("sqlite3" in text for text in table["raw_path"])
    ratio_rows = [r for r in measured if r["metric"] == "ratio"]
    assert all(r["unit"] == "adapter/raw" and r["note"] for r in ratio_rows)
    assert next(r for r in measured if r["params"]["path"] == "read_all")["params"]["events_in_store"] == 120


# -- the two paths in worker processes ------------------------------------------------------------


@pytest.mark.parametrize("name", ["sqlite", "postgres"])
def test_the_process_paths_record_rates_and_live_latencies_of_both_sides(tmp_path, monkeypatch, pg_dsn, name):
    """append_concurrent and live_delivery on a real engine (PostgreSQL: the session's server):
    records that validate, a rate row and a live row on the page's tables."""
    monkeypatch.setenv(DSN_ENV, pg_dsn)  # the runner reaches the session's server, as a user's own
    run = run_workload("overhead", TINY_PROCESSES, engines=name, results_dir=tmp_path, progress=False, profile="quick")
    assert [o.status for o in run.outcomes] == ["measured"], run.outcomes
    records = read_records(tmp_path, workload="overhead")
    for record in records:
        validate(record)
    measured = [r for r in records if r["kind"] == "measurement"]
    assert not [r for r in measured if r["metric"] in ("error", "skipped")], [r["note"] for r in measured]
    frame = results.load(tmp_path, workload="overhead").of("overhead")
    rates = summary(frame)
    assert list(rates["path"]) == ["append_concurrent"] and list(rates["writers"]) == [2]
    row = rates.iloc[0]
    assert row["adapter_rate"] > 0 and row["raw_rate"] > 0 and row["ratio_min"] <= row["ratio"] <= row["ratio_max"]
    assert row["work"] == "1 event per call, 2 writer processes at once"
    latencies = live(frame)
    assert len(latencies) == 1
    row = latencies.iloc[0]
    assert (row["writers"], row["rate"], row["undelivered"]) == (2, 200.0, 0)
    assert row["samples"] > 20 and 0 < row["adapter_p50_ms"] <= row["adapter_p99_ms"] and 0 < row["raw_p50_ms"] <= row["raw_p99_ms"]
    for name_ in ("p50", "p99"):
        assert row[f"ratio_{name_}_min"] <= row[f"ratio_{name_}"] <= row[f"ratio_{name_}_max"]
    assert ("LISTEN" if name == "postgres" else "data_version") in row["raw_path"]
    assert 100 < row["adapter_live_rate"] <= 210 and 100 < row["raw_live_rate"] <= 210
    histograms = [r for r in measured if r["metric"].endswith("_latency_histogram")]
    assert {r["metric"] for r in histograms} == {"adapter_latency_histogram", "raw_latency_histogram"} and all(r["hdr"] for r in histograms)


class SQLiteWithoutLivePath(SQLiteRawPath):
    """SQLite's raw path as one that declares no live path: ``listen`` is ``RawPath``'s default."""

    listen = RawPath.listen


def test_a_raw_path_without_a_live_path_is_not_measured_on_it_with_the_reason(tmp_path, monkeypatch):
    with pytest.raises(NoLivePath, match="^SQLiteWithoutLivePath has no live path$"):
        SQLiteWithoutLivePath(f"sqlite:///{tmp_path / 'x.db'}").listen(0.1)
    monkeypatch.setattr(overhead_module, "raw_path_of", lambda stores: SQLiteWithoutLivePath)
    params = {**TINY_PROCESSES, "paths": ["live_delivery"], "repetitions": 2}
    run = run_workload("overhead", params, engines="sqlite", results_dir=tmp_path, progress=False, profile="quick")
    assert [o.status for o in run.outcomes] == ["measured"]
    records = read_records(tmp_path, workload="overhead")
    for record in records:
        validate(record)
    measured = [r for r in records if r["kind"] == "measurement" and r["metric"] != "ci95_relative"]
    assert [(r["metric"], r["note"]) for r in measured] == [("skipped", "not measured: SQLiteWithoutLivePath has no live path")] * 2
    table = live(results.load(tmp_path, workload="overhead").of("overhead"))
    assert list(table["stability"]) == ["not measured: SQLiteWithoutLivePath has no live path"]
    assert table["adapter_p50_ms"].isna().all()


def test_an_engine_whose_stores_live_in_one_process_is_not_measured_on_the_process_paths():
    engine = engines()["sqlite"]
    handle = type("Handle", (), {"engine": engine, "cross_process": False})()
    workload = Overhead({**TINY_PROCESSES})
    workload.open(handle)  # type: ignore[arg-type]
    try:
        for path in ("append_concurrent", "live_delivery"):
            rows = list(workload.run_case({"path": path, "repetition": 0}))
            assert [(m.metric, m.note) for m in rows] == [
                ("skipped", "not measured: this engine's stores cannot be opened from another process, and this path's writers are processes")]
    finally:
        workload.close()
