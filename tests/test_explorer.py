"""The explorer's logic, as the overview notebook's widgets drive it: ticking a requirement excludes the
engines that fail it, weights reorder the ranking, picking engines and operating points narrows the
matrix, and drawing never touches the run's figure files."""
from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import write_run

from bench.harness.results import Results, load
from bench.report import explorer, profiles


@pytest.fixture(scope="module")
def res(tmp_path_factory: pytest.TempPathFactory) -> Results:
    return load(write_run(tmp_path_factory.mktemp("run")))


def test_the_controls_offer_what_the_records_hold(res: Results) -> None:
    found = explorer.options(res)
    assert list(found["engines"]) == ["alpha", "beta", "gamma", "delta"] and found["engines"]["delta"] == "delta [emulator]"
    assert found["points"]["writers"] == [4, 16] and found["points"]["hot_skew"] == [3.0]
    assert found["points"]["stream_length"] == [1000, 10_000] and found["points"]["snapshot_every"] == [100]
    assert "append_p50" in found["columns"] and set(found["shapes"]) == set(profiles.SHAPES)


def test_ticking_a_requirement_excludes_the_engines_that_fail_it(res: Results) -> None:
    free = explorer.evaluate(res, explorer.choice_from_values({}), figures=False)
    assert {"alpha", "beta", "delta"} == set(free.decision.ranking["name"])
    ticked = explorer.evaluate(res, explorer.choice_from_values({"require_gap_safe": True, "require_shared": True}), figures=False)
    assert list(ticked.decision.ranking["name"]) == ["alpha"]  # beta is in-process, delta declares no gap-safe order
    aside = ticked.decision.set_aside.set_index("name")
    assert "shared by several hosts: fail" in " ".join(aside.loc["beta", "reasons"])
    assert "gap-safe global order: fail" in " ".join(aside.loc["delta", "reasons"])
    assert "Set aside" in ticked.html and "✗ fail" in ticked.html


def test_capabilities_and_latency_limits_from_the_controls(res: Results) -> None:
    choice = explorer.choice_from_values({"require_capabilities": "push_notifications", "max_append_p99_ms": 5.0})
    view = explorer.evaluate(res, choice, figures=False)
    assert list(view.decision.ranking["name"]) == ["alpha"]  # beta declares no push; delta's p99 is an emulator's


def test_moving_weights_reorders_the_ranking(res: Results) -> None:
    writes = explorer.evaluate(res, explorer.choice_from_values({"shape": "contended"}), figures=False)
    reads = explorer.evaluate(res, explorer.choice_from_values({"weights": {"hot_stream": 0, "hot_p99": 0, "commands_uniform": 0, "read_stream_p50": 5}}),
                              figures=False)
    assert writes.decision.winner == "alpha" and reads.decision.winner == "beta"


def test_picking_engines_and_points_narrows_the_matrix(res: Results) -> None:
    view = explorer.evaluate(res, explorer.choice_from_values({"engines": ["alpha", "beta"], "hot_writers": 4}), figures=False)
    assert set(view.cells["name"]) == {"alpha", "beta"}
    hot = view.cells[view.cells["key"] == "hot_stream"]
    assert hot["column"].iloc[0].startswith("hot stream @ 4 writers") and hot["value"].notna().all()
    assert "gamma" not in view.html


def test_a_preset_is_a_starting_point(res: Results) -> None:
    audit = next(p for p in profiles.presets() if p.key == "audit-heavy")
    choice = explorer.choice_from_values({"require_crash_safe": False}, audit)
    assert choice.profile.requirements.gap_safe and not choice.profile.requirements.crash_safe
    assert choice.profile.shape == "long_aggregates" and choice.profile.title == audit.title


def test_figures_follow_the_choice_without_touching_the_runs_files(res: Results) -> None:
    before = set((res.results_dir / "figures").glob("*")) if (res.results_dir / "figures").exists() else set()
    view = explorer.evaluate(res, explorer.choice_from_values({"engines": ["alpha"]}))
    drawn = dict(view.figures)
    assert "snapshots-load-time" in drawn and "<img" in drawn["snapshots-load-time"] and "alt='" in drawn["snapshots-load-time"]
    after = set((res.results_dir / "figures").glob("*")) if (res.results_dir / "figures").exists() else set()
    assert after == before


def test_the_widgets_build_and_redraw(res: Results) -> None:
    pytest.importorskip("ipywidgets")
    box = explorer.widgets(res, presets=[], figures=False)
    tabs, out = box.children
    requirements = tabs.children[0].children
    shared = next(c for c in requirements if getattr(c, "description", "") == profiles.REQUIREMENTS["shared"][0])
    shared.value = True  # redraws: the output now holds the decision with the requirement
    assert out.outputs and "shared by several hosts" in out.outputs[-1]["data"]["text/html"]


def test_find_results_falls_back_to_the_newest_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_run(tmp_path / "results" / "runs" / "20260101T000000Z-aaaa")
    write_run(tmp_path / "results" / "runs" / "20260102T000000Z-bbbb")
    monkeypatch.setattr(explorer, "ROOT", tmp_path)
    found, note = explorer.find_results("results/scratch")
    assert found.name == "20260102T000000Z-bbbb" and note and "newest" in note
    assert explorer.find_results(tmp_path / "results" / "runs" / "20260101T000000Z-aaaa") == (tmp_path / "results" / "runs" / "20260101T000000Z-aaaa", None)


def test_make_lab_starts_jupyterlab_on_the_notebooks_with_the_projects_kernel() -> None:
    import shutil
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if not shutil.which("make"):
        pytest.skip("no make")
    dry = subprocess.run(["make", "-n", "lab"], cwd=root, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    line = next(x for x in dry.stdout.splitlines() if "jupyter lab" in x)
    assert line.startswith(".venv/bin/jupyter lab") and "root_dir=notebooks" in line  # the virtualenv's jupyter: its python3 kernel
    pytest.importorskip("jupyterlab")
    pytest.importorskip("ipywidgets")
