"""The decision reasons over requirements: an engine that fails a hard requirement, or was not measured
on it, is set aside with the reason; naive designs and emulators never win what they do not meet; the
rest are ranked by a declared weighted score; each answer says which measurement would change it."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import papermill
import pytest
import yaml
from report_fixtures import specs, write_run

from bench.harness.results import Results, load
from bench.report import decide, notebooks, profiles
from eventstore.plugins import DEFAULTS, DurabilitySetting


@pytest.fixture(scope="module")
def res(tmp_path_factory: pytest.TempPathFactory) -> Results:
    return load(write_run(tmp_path_factory.mktemp("run")))


def _status(decision: decide.Decision, engine: str, requirement: str) -> str:
    checks = decision.checks.set_index(["name", "requirement"])
    return str(checks.loc[(engine, requirement), "status"])


def test_without_requirements_every_product_competes_and_naive_designs_never(res: Results) -> None:
    decision = decide.decide(res)
    assert set(decision.ranking["name"]) == {"alpha", "beta", "delta"}
    assert decision.set_aside.set_index("name").loc["gamma", "reasons"][0].startswith("counter-example")  # fastest, yet never a candidate
    assert decision.winner in {"alpha", "beta"}
    assert decision.ranking.set_index("name").loc["delta", "score"] == 0  # an emulator's timings earn nothing
    total = decision.breakdown.groupby("name")["points"].sum()
    assert total.round(6).to_dict() == decision.ranking.set_index("name")["score"].round(6).to_dict()  # the score is its breakdown


def test_a_requirement_sets_aside_the_engines_that_fail_it_with_the_reason(res: Results) -> None:
    decision = decide.decide(res, profiles.Profile(requirements=profiles.Requirements(shared=True)))
    assert "beta" not in set(decision.ranking["name"])  # in-process: cannot be shared by several hosts
    assert _status(decision, "beta", "shared") == decide.FAIL
    assert "in-process" in " ".join(decision.set_aside.set_index("name").loc["beta", "reasons"])
    assert decision.winner == "alpha"


def test_gap_safety_needs_the_declaration_and_a_measured_zero(res: Results) -> None:
    decision = decide.decide(res, profiles.Profile(requirements=profiles.Requirements(gap_safe=True)))
    assert _status(decision, "alpha", "gap_safe") == decide.PASS
    assert _status(decision, "delta", "gap_safe") == decide.FAIL  # does not declare it
    assert set(decision.ranking["name"]) == {"alpha", "beta"}


def test_a_missing_measurement_never_counts_as_a_pass(tmp_path: Path) -> None:
    res = load(write_run(tmp_path, skip={"alpha": {"contention"}}))
    decision = decide.decide(res, profiles.Profile(requirements=profiles.Requirements(concurrency=True)))
    assert _status(decision, "alpha", "concurrency") == decide.UNKNOWN
    assert "alpha" not in set(decision.ranking["name"])
    assert any("alpha" in line and "measuring" in line for line in decision.changes)  # what would admit it


def test_emulators_never_meet_a_latency_requirement(res: Results) -> None:
    profile = profiles.Profile(requirements=profiles.Requirements(max_append_p99_ms=2.0))
    decision = decide.decide(res, profile)
    assert _status(decision, "delta", "append_p99") == decide.UNKNOWN  # 0.1 ms on the emulator: says nothing
    assert _status(decision, "beta", "append_p99") == decide.PASS  # 0.9 ms
    assert _status(decision, "alpha", "append_p99") == decide.FAIL  # 3 ms
    assert list(decision.ranking["name"]) == ["beta"]


def test_a_latency_requirement_at_a_rate_the_run_did_not_measure_is_not_measured(res: Results) -> None:
    decision = decide.decide(res, profiles.Profile(requirements=profiles.Requirements(max_append_p99_ms=50.0, at_events_per_s=500.0)))
    assert (decision.checks["status"] == decide.UNKNOWN).all()
    assert decision.ranking.empty and decision.verdict.startswith("No engine meets every requirement")


def test_crash_safety_is_not_measured_without_the_crash_test(res: Results) -> None:
    decision = decide.decide(res, profiles.Profile(requirements=profiles.Requirements(crash_safe=True)))
    assert (decision.checks["status"] != decide.PASS).all()
    assert decision.ranking.empty


def test_weights_reorder_the_candidates_and_the_answer_says_what_would_change_it(res: Results) -> None:
    throughput = decide.decide(res, profiles.Profile(shape="contended"))
    latency = decide.decide(res, profiles.Profile(weights=(("commands_uniform", 0.0), ("hot_stream", 0.0), ("append_p50", 5.0), ("read_stream_p50", 5.0))))
    assert throughput.winner == "alpha" and latency.winner == "beta"
    assert any("would rank first if" in line for line in throughput.changes)
    assert throughput.verdict.startswith("alpha ranks first")


def test_the_ranking_never_counts_a_naive_design_even_when_it_meets_the_requirements(tmp_path: Path) -> None:
    engines = specs()
    engines["gamma"].lost_updates = 0.0
    engines["gamma"].missed = 0.0
    res = load(write_run(tmp_path, engines))
    decision = decide.decide(res, profiles.Profile(requirements=profiles.Requirements(concurrency=True)))
    assert _status(decision, "gamma", "concurrency") == decide.PASS
    assert "gamma" not in set(decision.ranking["name"])


def test_presets_are_overview_parameter_files(tmp_path: Path) -> None:
    declared = set(papermill.inspect_notebook(str(notebooks.NOTEBOOK_DIR / "overview.ipynb")))
    files = sorted(profiles.PRESET_DIR.glob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        values = yaml.safe_load(path.read_text())
        assert set(values) <= declared, path  # papermill -f accepts it
        assert set(values) <= set(profiles.PROFILE_PARAMETERS)
    titles = {p.title for p in profiles.presets()}
    assert {"Already on PostgreSQL", "Serverless on AWS", "High-throughput ingestion", "Audit-heavy domain"} <= titles


def test_the_default_profile_is_the_overview_notebooks_parameters() -> None:
    declared = papermill.inspect_notebook(str(notebooks.NOTEBOOK_DIR / "overview.ipynb"))
    assert set(profiles.PROFILE_PARAMETERS) <= set(declared)
    import ast

    defaults = {name: ast.literal_eval(spec["default"]) for name, spec in declared.items() if name in profiles.PROFILE_PARAMETERS}
    assert profiles.Profile.from_parameters(defaults) == profiles.Profile()


def test_a_profile_refuses_an_unknown_column_or_shape() -> None:
    with pytest.raises(ValueError, match="no matrix column"):
        profiles.Profile(weights=(("speed", 1.0),))
    with pytest.raises(ValueError, match="shape"):
        profiles.Profile(shape="fast")


def _faults(*rows: dict[str, Any]) -> pd.DataFrame:
    """A faults summary as ``faults_summary`` gives it, with every column a row leaves out unknown."""
    columns = ["engine", "setting", "durable", "power_loss", "crashes", "power_cuts", "lost", "unrecovered", "unsynced_bytes_per_cut", "not_measured", "verdict"]
    return pd.DataFrame([{**dict.fromkeys(columns), **row} for row in rows], columns=columns)


def _crash_checks(res: Results, monkeypatch: pytest.MonkeyPatch, table: pd.DataFrame) -> decide.Decision:
    monkeypatch.setattr(decide, "faults_summary", lambda results: table)
    return decide.decide(res, profiles.Profile(requirements=profiles.Requirements(crash_safe=True)))


def _evidence(decision: decide.Decision, engine: str) -> str:
    return str(decision.checks.set_index(["name", "requirement"]).loc[(engine, "crash_safe"), "evidence"])


def test_the_crash_requirement_is_judged_on_power_loss_under_the_rows_own_setting(res: Results, monkeypatch: pytest.MonkeyPatch) -> None:
    table = _faults(
        {"engine": "alpha", "setting": "defaults", "durable": True, "power_loss": False, "crashes": 10, "lost": 0},
        {"engine": "alpha", "setting": "defaults", "durable": True, "power_loss": True, "power_cuts": 10, "lost": 0, "unrecovered": 0,
         "unsynced_bytes_per_cut": 120_000.0},
        {"engine": "alpha", "setting": "fast", "durable": False, "power_loss": True, "power_cuts": 10, "lost": 31, "unrecovered": 0},
        {"engine": "beta", "setting": "synchronous=FULL", "durable": True, "power_loss": True, "power_cuts": 10, "lost": 0, "unrecovered": 0},
    )
    decision = _crash_checks(res, monkeypatch, table)
    assert _status(decision, "alpha", "crash_safe") == decide.PASS  # the 31 lost under another, non-durable setting do not count
    assert "10 power cuts" in _evidence(decision, "alpha") and "120,000 unsynced bytes" in _evidence(decision, "alpha")
    # beta's row was measured without fsync per commit: its durable setting passing elsewhere does not make the row a candidate
    assert _status(decision, "beta", "crash_safe") == decide.FAIL
    assert "measured under a non-durable setting" in _evidence(decision, "beta")
    assert _status(decision, "delta", "crash_safe") == decide.UNKNOWN  # an emulator's crash says nothing
    assert list(decision.ranking["name"]) == ["alpha"]
    table.loc[1, "lost"] = 2
    assert _status(_crash_checks(res, monkeypatch, table), "alpha", "crash_safe") == decide.FAIL  # lost in power cuts, though not in crashes
    table.loc[1, ["lost", "unrecovered", "verdict"]] = [None, 1, "did not come back: the server did not start again after power cut 3"]
    unrecovered = _crash_checks(res, monkeypatch, table)
    assert _status(unrecovered, "alpha", "crash_safe") == decide.FAIL and "did not start again" in _evidence(unrecovered, "alpha")


def test_a_row_whose_own_setting_is_non_durable_fails_even_if_another_setting_passed(res: Results, monkeypatch: pytest.MonkeyPatch) -> None:
    table = _faults(
        {"engine": "alpha", "setting": "no fsync", "durable": False, "power_loss": True, "power_cuts": 10, "lost": 40, "unrecovered": 0},
        {"engine": "alpha", "setting": "fsync per message", "durable": True, "power_loss": True, "power_cuts": 10, "lost": 0, "unrecovered": 0},
    )
    first = DurabilitySetting("no-fsync", "no fsync", False)
    monkeypatch.setattr(decide, "own_setting", lambda engine: first if engine == "alpha" else DEFAULTS)
    decision = _crash_checks(res, monkeypatch, table)
    assert _status(decision, "alpha", "crash_safe") == decide.FAIL
    assert _evidence(decision, "alpha").startswith("measured under a non-durable setting (no fsync)")
    assert "alpha" not in set(decision.ranking["name"])


def test_without_power_loss_the_crash_requirement_falls_back_on_process_crashes_and_says_so(res: Results, monkeypatch: pytest.MonkeyPatch) -> None:
    table = _faults(
        {"engine": "alpha", "setting": "defaults", "durable": True, "power_loss": False, "crashes": 10, "lost": 0},
        {"engine": "alpha", "setting": "defaults", "durable": True, "power_loss": True, "power_cuts": 0,
         "not_measured": "power cuts: no /dev/fuse: load the fuse kernel module (modprobe fuse)"},
    )
    decision = _crash_checks(res, monkeypatch, table)
    assert _status(decision, "alpha", "crash_safe") == decide.PASS
    evidence = _evidence(decision, "alpha")
    assert evidence.startswith("power loss not measured here: power cuts: no /dev/fuse") and "judged on 10 process crashes" in evidence
    table.loc[0, "lost"] = 1
    assert _status(_crash_checks(res, monkeypatch, table), "alpha", "crash_safe") == decide.FAIL


def test_an_emulator_left_alone_is_named_without_a_speed_verdict(res: Results) -> None:
    decision = decide.decide(res, profiles.Profile(requirements=profiles.Requirements(serverless=True)))
    assert list(decision.ranking["name"]) == ["delta"]
    assert "earn no points" in decision.verdict and "measure the service itself" in decision.verdict
    assert "(score 0 of 100)." not in decision.verdict  # a bare zero would read as the worst engine, not an unmeasured speed


# -- how sure a decision is -------------------------------------------------------------------------


def _grid_of(values: dict[str, list[float]]) -> dict[tuple[str, str], dict]:
    """One higher-is-better column, each engine's value the median of its rounds."""
    import statistics

    return {(name, "speed"): {"value": statistics.median(v), "better": "higher", "tags": [], "column": "speed", "unit": "ops/s", "reason": None,
                              "engine": name, "samples": dict(enumerate(v)), "ci_low": min(v), "ci_high": max(v)} for name, v in values.items()}


def _score(grid):
    best = max(cell["value"] for cell in grid.values())
    return {name: 100 * cell["value"] / best for (name, _), cell in grid.items()}


def test_a_clear_lead_is_robust_and_a_close_one_is_a_tie() -> None:
    from bench.report.confidence import assess

    clear = assess(_grid_of({"a": [200, 204, 198, 201, 199], "b": [100, 103, 97, 101, 99]}), ["a", "b"], _score, {})
    assert clear is not None and clear.share == 1.0 and clear.robust and not clear.ties
    close = assess(_grid_of({"a": [103, 110, 92, 105, 97], "b": [99, 106, 95, 101, 103]}), ["a", "b"], _score, {"b": "beta"})
    assert close is not None and not close.robust and [t.engine for t in close.ties] == ["beta"]
    assert "speed" in close.ties[0].separate and "per round" in close.ties[0].separate


def test_engines_that_drift_together_by_round_keep_their_order() -> None:
    """Paired redraws: both engines slowed in the same rounds, b always 5 % behind a, so their order
    never flips; drawn independently, the same values would often flip."""
    from bench.report.confidence import assess, redraw

    drift = [100, 140, 80, 120, 95, 130, 85]
    grid = _grid_of({"a": drift, "b": [v * 0.95 for v in drift]})
    paired = assess(grid, ["a", "b"], _score, {})
    assert paired is not None and paired.robust
    import random

    rng = random.Random(1)
    flips = 0
    for _ in range(200):  # the same cells, each redrawn with a draw of its own
        one = redraw({k: v for k, v in grid.items() if k[0] == "a"}, rng)
        other = redraw({("b", "speed"): {**grid[("b", "speed")]}}, rng)
        flips += other[("b", "speed")]["value"] > one[("a", "speed")]["value"]
    assert flips > 20


def test_flagged_numbers_ask_a_smoke_run_for_a_decision_run_and_a_decision_run_for_more_time(res: Results) -> None:
    decision = decide.decide(res, profiles.Profile())
    assert not decision.smoke and "decision-grade run (`make report`)" not in decide._settle(decision)
    assert "budget_s" in decide._settle(decision)
    assert "decision-grade run (`make report`)" in decide._settle(dataclasses.replace(decision, smoke=True))
