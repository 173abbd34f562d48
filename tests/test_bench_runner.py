"""The runner and engine registry: every engine is measured or recorded as not measured with the
reason; budgets and Ctrl-C keep what was written."""
from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.harness import engines
from bench.harness.convergence import Convergence, Target
from bench.harness.metrics import Dimension, Metric
from bench.harness.params import ConvergingParams, ParameterError
from bench.harness.records import read_records
from bench.harness.runner import run
from bench.harness.workload import Measurement, Workload
from bench.workloads import run_workload, workloads
from eventstore import open_store
from eventstore.plugins import Deployment, Engine


def test_engine_urls_are_fresh_and_isolated_and_removed_after(tmp_path):
    with engines.Servers(tmp_path) as servers, engines.started("sqlite", servers) as handle:
        urls = {handle.new_url("same label") for _ in range(3)}
        assert len(urls) == 3 and all(u.startswith("sqlite:///") for u in urls)
        info, capabilities, _ = engines.probe(handle)
        assert info.backend == "sqlite" and capabilities.optimistic_concurrency
        files = [Path(u.removeprefix("sqlite:///")) for u in urls]
        for url in urls:
            handle.connect(url).close()
        assert all(f.exists() for f in files)
    assert not any(f.exists() for f in files)


def test_resolve_engine_names():
    assert "memory" not in engines.resolve("default")
    assert engines.resolve("sqlite, memory") == ["sqlite", "memory"]
    assert set(engines.resolve("all")) == set(engines.engines())
    with pytest.raises(ValueError, match="nosuch"):
        engines.resolve("sqlite,nosuch")


class _Broken(Engine):
    name, description = "broken", "fails to start"

    def open_store(self, url):
        raise AssertionError("never opened")

    @contextmanager
    def deploy(self, servers):
        raise RuntimeError("the engine's server would not start\nlog line")
        yield  # pragma: no cover


class _Ghost(_Broken):
    name, description = "ghost", "no backend"

    def open_store(self, url):
        return open_store(url)

    @contextmanager
    def deploy(self, servers):
        with Deployment(self, lambda label: f"nosuchscheme://{label}") as deployment:
            yield deployment


def test_engines_that_cannot_run_are_recorded_with_the_reason(tmp_path, monkeypatch):
    registry = {**engines.engines(), "broken": _Broken(), "ghost": _Ghost()}
    monkeypatch.setattr(engines, "engines", lambda: registry)
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
    records = read_records(tmp_path)
    skipped = [r for r in records if r.get("metric") == "skipped"]
    ran = {(r["params"]["writers"], r["repetition"]) for r in records if r.get("metric") == "throughput"}
    assert summary.outcomes[0].skipped_cases == len(skipped) >= 5  # the first case may run before the budget is gone
    assert len(skipped) + len(ran) == 6  # every case of the grid either ran or says why not
    assert all("budget" in r["note"] for r in skipped)


class _Interrupted(Workload):
    name = "interrupted"
    title = "stops on the second case"
    metrics = (Metric("value", "units", "a value"),)

    def cases(self):
        return [{"repetition": 0}, {"repetition": 1}]

    def run_case(self, case):
        if case["repetition"] == 1:
            raise KeyboardInterrupt
        yield Measurement("value", 1.0, {}, 0)


def test_ctrl_c_stops_cleanly_and_keeps_finished_records(tmp_path, monkeypatch):
    monkeypatch.setitem(workloads(), "interrupted", _Interrupted)
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
            yield Measurement("value", 2.0, {}, 1)

    monkeypatch.setitem(workloads(), "flaky", Flaky)
    summary = run_workload("flaky", {}, engines="memory", results_dir=tmp_path, progress=False)
    records = [r for r in read_records(tmp_path) if r["kind"] == "measurement"]
    assert [r["metric"] for r in records] == ["error", "value"]
    assert "boom" in records[0]["note"] and summary.outcomes[0].failed_cases == 1


def test_a_measurement_of_an_undeclared_metric_is_refused(tmp_path, monkeypatch):
    class Undeclared(_Interrupted):
        name = "undeclared"

        def run_case(self, case):
            yield Measurement("value", 1.0, {}, case["repetition"])
            yield Measurement("valeu", 2.0, {}, case["repetition"])

    monkeypatch.setitem(workloads(), "undeclared", Undeclared)
    summary = run_workload("undeclared", {}, engines="memory", results_dir=tmp_path, progress=False)
    records = [r for r in read_records(tmp_path) if r["kind"] == "measurement"]
    assert [r["metric"] for r in records] == ["value", "error", "value", "error"]
    assert records[0]["unit"] == "units"  # the unit comes from the declaration
    assert "did not declare metric 'valeu'" in records[1]["note"] and "value" in records[1]["note"].split("declares:")[1]
    assert summary.outcomes[0].failed_cases == 2


def test_parameters_are_checked_before_any_engine_starts(tmp_path):
    with pytest.raises(ParameterError, match="writerz"):
        run_workload("contention", {"writerz": [1]}, engines="memory", results_dir=tmp_path, progress=False)
    with pytest.raises(ParameterError, match="'writers' expects a list of int"):
        run_workload("contention", {"writers": "[1, x]"}, engines="memory", results_dir=tmp_path, progress=False)
    assert not (tmp_path / "records").exists()


class _Noisy(Workload[ConvergingParams]):
    """Point "steady" repeats one value; point "noisy" alternates wildly: only the first can converge."""

    name, title = "noisy", "A workload whose points converge or not"
    params_type = ConvergingParams
    dimensions = (Dimension("point", "which of the two points"),)
    metrics = (Metric("throughput", "commands/s", "what converges", "higher"),)
    converge_on = ("throughput",)

    def cases(self):
        return [{"point": p, "repetition": r} for r in range(self.params.repetitions) for p in ("steady", "noisy")]

    def run_case(self, case):
        value = 100.0 if case["point"] == "steady" else (50.0 if case["repetition"] % 2 else 200.0)
        yield Measurement("throughput", value, {"point": case["point"]}, case["repetition"])


def test_points_repeat_until_their_ci_is_known_or_the_cap(tmp_path, monkeypatch):
    monkeypatch.setitem(workloads(), "noisy", _Noisy)
    run_workload("noisy", {"repetitions": 2, "max_repetitions": 5}, engines="memory", results_dir=tmp_path, progress=False)
    records = [r for r in read_records(tmp_path) if r["kind"] == "measurement"]
    runs = {p: sorted(r["repetition"] for r in records if r["metric"] == "throughput" and r["params"]["point"] == p) for p in ("steady", "noisy")}
    assert runs == {"steady": [0, 1], "noisy": [0, 1, 2, 3, 4]}
    verdicts = {r["params"]["point"]: r for r in records if r["metric"] == "ci95_relative"}
    assert verdicts["steady"]["value"] == 0.0 and verdicts["steady"]["note"].startswith("within ±5%")
    assert verdicts["noisy"]["value"] > 0.05 and "UNSTABLE" in verdicts["noisy"]["note"] and "the cap" in verdicts["noisy"]["note"]
    assert verdicts["noisy"]["params"]["of"] == "throughput"


def test_a_point_measured_once_has_no_ci_rather_than_a_zero_one(tmp_path, monkeypatch):
    monkeypatch.setitem(workloads(), "noisy", _Noisy)
    run_workload("noisy", {"repetitions": 1, "max_repetitions": 1}, engines="memory", results_dir=tmp_path, progress=False)
    verdicts = [r for r in read_records(tmp_path) if r["kind"] == "measurement" and r["metric"] == "ci95_relative"]
    assert len(verdicts) == 2
    assert all(v["value"] is None and "one repetition, so no CI" in v["note"] for v in verdicts)


def test_matrix_points_run_first_engines_in_turn_up_to_their_own_cap(tmp_path):
    """A target point runs before the sweep, one repetition per engine per round (repetition k of
    every engine before any k + 1), and up to ``matrix_max_repetitions`` rather than ``max_repetitions``."""
    params = {"repetitions": 2, "max_repetitions": 3, "matrix_max_repetitions": 6}
    run(_Noisy(params), engines="memory,sqlite", results_dir=tmp_path, progress=False, targets=[Target({"point": "noisy"}, "throughput")])
    rows = [(r["engine"], r["params"]["point"], r["repetition"]) for r in read_records(tmp_path) if r.get("metric") == "throughput"]
    assert [(e, k) for e, p, k in rows if p == "noisy"] == [(e, k) for k in range(6) for e in ("memory", "sqlite")]
    assert rows.index(("memory", "steady", 0)) > rows.index(("sqlite", "noisy", 5))  # the sweep comes after every round
    assert [k for e, p, k in rows if (e, p) == ("sqlite", "steady")] == [0, 1]  # converged: no repetition beyond the grid
    spent = {r["engine"]: r["spent_s"] for r in read_records(tmp_path) if r["kind"] == "engine"}
    assert set(spent) == {"memory", "sqlite"} and all(v is not None and v >= 0 for v in spent.values())


def test_a_naive_or_emulated_engine_does_not_compete_so_its_matrix_points_keep_the_sweep_cap(tmp_path, monkeypatch):
    seen = Convergence(_Noisy({"repetitions": 1, "max_repetitions": 2, "matrix_max_repetitions": 9}), [Target({"point": "noisy"}, "throughput")], competes=False)
    assert not seen.decisive({"point": "noisy", "repetition": 0}) and seen.cap_of((("point", "noisy"),)) == 2
    competing = Convergence(_Noisy({"repetitions": 1, "max_repetitions": 2, "matrix_max_repetitions": 9}), [Target({"point": "noisy"}, "throughput")])
    assert competing.decisive({"point": "noisy", "repetition": 0}) and competing.cap_of((("point", "noisy"),)) == 9


class _Slow(Workload):
    """Twenty cases of 50 ms each: more than any budget below allows."""

    name, title = "slow", "cases that outlast the budget"
    params_type = ConvergingParams
    metrics = (Metric("value", "units", "a value"),)

    def cases(self):
        return [{"repetition": r} for r in range(20)]

    def run_case(self, case):
        time.sleep(0.05)
        yield Measurement("value", 1.0, {}, case["repetition"])


def test_an_engine_that_competes_for_no_verdict_gets_its_reference_share_of_the_budget(tmp_path, monkeypatch):
    real = engines.probe

    def probe(deployment):  # sqlite poses as a naive design
        info, capabilities, extra = real(deployment)
        return (dataclasses.replace(info, mode="naive") if info.backend == "sqlite" else info), capabilities, extra

    monkeypatch.setattr(engines, "probe", probe)
    run(_Slow(ConvergingParams(budget_s=0.4, reference_share=0.25)), engines="memory,sqlite", results_dir=tmp_path, progress=False)
    notes = {e: {r["note"] for r in read_records(tmp_path) if r.get("metric") == "skipped" and r["engine"] == e} for e in ("memory", "sqlite")}
    assert notes["memory"] and all("0.4 s budget" in n and "no verdict" not in n for n in notes["memory"])
    assert notes["sqlite"] and all("0.1 s budget" in n and "competes for no verdict, so it gets 25% of budget_s" in n for n in notes["sqlite"])
    with pytest.raises(ParameterError, match="reference_share"):
        ConvergingParams.from_dict({"reference_share": 0})
