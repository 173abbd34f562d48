"""The overhead workload: its ratio math, every engine's raw path (declared, importable, doing the
same work as the store on a real engine), and a short run on SQLite whose records validate."""
from __future__ import annotations

import inspect
import uuid

import pytest

from bench.harness import abba, results
from bench.harness.engines import NotMeasured
from bench.harness.records import read_records, validate
from bench.workloads import run_workload
from bench.workloads.overhead.tables import summary
from bench.workloads.overhead.workload import PATHS, Overhead, raw_path_of, read_through
from eventstore import NewEvent, StreamState
from eventstore.plugins import Engine, RawPath, engines

TINY = {"repetitions": 1, "rounds": 2, "round_s": 0.05, "read_events": 120, "read_page": 50, "batch_size": 10, "warmup_calls": 1, "fill_s": 5.0}


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


@pytest.mark.parametrize("name", [
    "sqlite",
    "postgres",
    pytest.param("dynamodb", marks=pytest.mark.slow),
    pytest.param("kafka", marks=pytest.mark.slow),
])
def test_raw_path_writes_and_reads_back_the_same_events(deployment, name):
    d = deployment(name)
    url = d.new_url("raw")
    store = d.connect(url)
    try:
        raw_type = d.engine.raw_path_class()
        assert raw_type is not None
        check_raw_path(raw_type, url, store)
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
    assert list(table["path"]) == list(PATHS) and set(table["engine"]) == {"sqlite"}
    assert (table["adapter_rate"] > 0).all() and (table["raw_rate"] > 0).all()
    assert (table["ratio_min"] <= table["ratio"]).all() and (table["ratio"] <= table["ratio_max"]).all()
    assert table.set_index("path").loc["append_batch", "events_per_call"] == 10
    assert all("sqlite3" in text for text in table["raw_path"])
    ratio_rows = [r for r in measured if r["metric"] == "ratio"]
    assert all(r["unit"] == "adapter/raw" and r["note"] for r in ratio_rows)
    assert next(r for r in measured if r["params"]["path"] == "read_all")["params"]["events_in_store"] == 120
