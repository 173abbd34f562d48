"""The runner and engine registry: every engine is measured or recorded as not measured with the
reason; budgets and Ctrl-C keep what was written."""
from __future__ import annotations

from contextlib import contextmanager

import pytest

from bench import engines
from bench.records import read_records
from bench.runner import run_workload
from bench.workloads import WORKLOADS, Measurement, Workload


def test_engine_urls_are_fresh_and_isolated(tmp_path):
    services = engines.Services(tmp_path)
    with engines.started("sqlite", services) as handle:
        urls = {handle.new_url("same label") for _ in range(3)}
        assert len(urls) == 3 and all(u.startswith("sqlite:///") for u in urls)
        info, capabilities, _ = engines.probe(handle)
        assert info.backend == "sqlite" and capabilities.optimistic_concurrency
    services.close()


def test_resolve_engine_names():
    assert "memory" not in engines.resolve("default")
    assert engines.resolve("sqlite, memory") == ["sqlite", "memory"]
    assert set(engines.resolve("all")) == set(engines.ENGINES)
    with pytest.raises(ValueError, match="nosuch"):
        engines.resolve("sqlite,nosuch")


@contextmanager
def _broken(services):
    raise RuntimeError("the engine's server would not start\nlog line")
    yield  # pragma: no cover


@contextmanager
def _no_backend(services):
    yield engines.EngineHandle("ghost", lambda label: f"nosuchscheme://{label}")


def test_engines_that_cannot_run_are_recorded_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setitem(engines.ENGINES, "broken", engines.Engine("broken", "fails to start", _broken))
    monkeypatch.setitem(engines.ENGINES, "ghost", engines.Engine("ghost", "no backend", _no_backend))
    params = {"writers": [1], "skews": [0.0], "duration_s": 0.05, "warmup_s": 0.0, "repetitions": 1}
    summary = run_workload("contention", params, engines="memory,broken,ghost", results_dir=tmp_path, progress=False)
    status = {o.engine: o for o in summary.outcomes}
    assert status["memory"].status == "measured"
    assert status["broken"].status == "not_measured" and "would not start" in status["broken"].reason
    assert status["ghost"].status == "not_measured" and "nosuchscheme" in status["ghost"].reason
    recorded = {r["engine"]: r for r in read_records(tmp_path) if r["kind"] == "engine"}
    assert recorded["broken"]["reason"] == status["broken"].reason
    assert recorded["memory"]["capabilities"]["optimistic_concurrency"] is True
    assert (tmp_path / "environment.json").exists()


def test_budget_skips_later_cases_with_a_record_each(tmp_path):
    params = {"writers": [1, 2], "skews": [0.0], "duration_s": 0.05, "warmup_s": 0.0, "repetitions": 3, "budget_s": 0.01}
    summary = run_workload("contention", params, engines="memory", results_dir=tmp_path, progress=False)
    skipped = [r for r in read_records(tmp_path) if r.get("metric") == "skipped"]
    assert summary.outcomes[0].skipped_cases == len(skipped) == 5
    assert all("budget" in r["note"] for r in skipped)


class _Interrupted(Workload):
    name = "interrupted"
    title = "stops on the second case"

    def cases(self):
        return [{"repetition": 0}, {"repetition": 1}]

    def run_case(self, case):
        if case["repetition"] == 1:
            raise KeyboardInterrupt
        yield Measurement("value", 1.0, "units", {}, 0)


def test_ctrl_c_stops_cleanly_and_keeps_finished_records(tmp_path, monkeypatch):
    monkeypatch.setitem(WORKLOADS, "interrupted", _Interrupted)
    summary = run_workload("interrupted", {}, engines="memory,sqlite", results_dir=tmp_path, progress=False)
    assert summary.interrupted
    records = read_records(tmp_path)
    assert [r["metric"] for r in records if r["kind"] == "measurement"] == ["value"]
    assert [(r["engine"], r["status"]) for r in records if r["kind"] == "engine"] == [("memory", "interrupted")]


def test_a_failing_case_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    class Flaky(_Interrupted):
        name = "flaky"

        def run_case(self, case):
            if case["repetition"] == 0:
                raise ValueError("boom")
            yield Measurement("value", 2.0, "units", {}, 1)

    monkeypatch.setitem(WORKLOADS, "flaky", Flaky)
    summary = run_workload("flaky", {}, engines="memory", results_dir=tmp_path, progress=False)
    records = [r for r in read_records(tmp_path) if r["kind"] == "measurement"]
    assert [r["metric"] for r in records] == ["error", "value"]
    assert "boom" in records[0]["note"] and summary.outcomes[0].failed_cases == 1


def test_unknown_parameters_are_refused():
    with pytest.raises(ValueError, match="writerz"):
        WORKLOADS["contention"]({"writerz": [1]})
