"""``environment.json``: the machine a run measured on, and how steady that machine itself was."""
from __future__ import annotations

import json

import pytest

from bench.harness import environment
from bench.harness.records import RecordError


def test_steadiness_is_measured_kept_and_said_in_a_sentence(tmp_path):
    found = environment.record_steadiness(tmp_path, 3, 0.05)
    assert found["windows"] == 3 and found["window_s"] == 0.05
    assert found["slowest"] <= 1.0 <= found["fastest"] and found["cv"] >= 0 and found["repetitions_for_target"] >= 1
    kept = json.loads((tmp_path / environment.FILENAME).read_text())
    assert kept["steadiness"] == found and kept["cpu"]["logical_cores"]
    line = environment.steadiness_line(kept)
    assert line and "3 windows of 0.05 s" in line and f"about {found['repetitions_for_target']} repetition" in line
    assert any(text.startswith("Steadiness: ") for text in environment.summary_lines(kept))


def test_a_run_without_the_probe_says_nothing_of_it_and_a_bad_one_is_refused(tmp_path):
    env = environment.update(tmp_path)
    assert environment.steadiness_line(env) is None and not any("Steadiness" in text for text in environment.summary_lines(env))
    with pytest.raises(RecordError, match="steadiness"):
        environment.validate({**env, "steadiness": {"windows": 1, "window_s": 2.0, "cv": 0.1, "slowest": 0.9, "fastest": 1.1, "repetitions_for_target": 4}})
