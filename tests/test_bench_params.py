"""Workloads describe themselves once: parameters (types, defaults, help) and metrics (units, rules)
are declared on the workload, and values from papermill, ``--set`` and YAML are converted or refused
by those declarations; the checks, the matrix, the page titles and the CLI read them."""
from __future__ import annotations

import dataclasses

import pytest

from bench import cli
from bench.harness.columns import Cell, OperatingPoints, Source
from bench.harness.metrics import EVERY_ENGINE
from bench.harness.params import ParameterError
from bench.report import notebooks
from bench.workloads import matrix_columns, parameters_cell, rules, workloads
from bench.workloads.calls.workload import Calls
from bench.workloads.contention.workload import Contention
from bench.workloads.resume.workload import Resume
from eventstore import Capabilities


@pytest.mark.parametrize(
    "given, expected",
    [
        ({"writers": "[1, 8]"}, {"writers": (1, 8)}),  # papermill -p passes strings
        ({"writers": [1, 8], "skews": [0, 3]}, {"writers": (1, 8), "skews": (0.0, 3.0)}),  # list -> tuple, int -> float
        ({"streams": "4", "duration_s": "1e-1"}, {"streams": 4, "duration_s": 0.1}),
        ({"duration_s": 1}, {"duration_s": 1.0}),
        ({"budget_s": "None"}, {"budget_s": None}),
        ({"budget_s": None}, {"budget_s": None}),
    ],
)
def test_values_are_converted_where_unambiguous(given, expected):
    params = Contention.params_type.from_dict(given)
    for name, value in expected.items():
        assert getattr(params, name) == value and type(getattr(params, name)) is type(value), name


def test_lists_of_strings_and_pairs_are_converted():
    assert Calls.params_type.from_dict({"operations": "[append_single, read_all]"}).operations == ("append_single", "read_all")
    assert Resume.params_type.from_dict({"kill_after_s": "[0.1, 1]"}).kill_after_s == (0.1, 1.0)


@pytest.mark.parametrize(
    "given, words",
    [
        ({"writers": "8"}, ["'writers'", "a list of int", "'8'"]),
        ({"writers": "[1, 2.5]"}, ["'writers'", "a list of int"]),
        ({"writers": [True]}, ["'writers'", "a list of int"]),
        ({"streams": 2.5}, ["'streams'", "expects int", "2.5"]),
        ({"duration_s": "fast"}, ["'duration_s'", "expects float", "'fast'"]),
        ({"budget_s": "soon"}, ["'budget_s'", "float or None"]),
        ({"writers": "[1, 8"}, ["'writers'", "a list of int"]),
        ({"writerz": [1]}, ["writerz", "known:", "writers"]),
        ({"writers": [0]}, ["writers", ">= 1"]),
    ],
)
def test_wrong_values_are_refused_with_the_parameter_and_type(given, words):
    with pytest.raises(ParameterError) as error:
        Contention.params_type.from_dict(given)
    for word in words:
        assert word in str(error.value), str(error.value)


def test_a_pair_of_the_wrong_length_is_refused():
    with pytest.raises(ParameterError, match="'kill_after_s' expects a list of 2 float"):
        Resume.params_type.from_dict({"kill_after_s": [0.1, 0.2, 0.3]})


def test_cli_refuses_unknown_set_names_listing_the_known_ones(capsys):
    assert cli.main(["run", "contention", "--set", "writerz=[1]"]) == 2
    message = capsys.readouterr().err
    assert "writerz" in message and "writers" in message and "skews" in message


def test_cli_refuses_a_set_without_a_value_and_a_wrong_type(capsys):
    assert cli.main(["run", "contention", "--set", "writers"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert cli.main(["run", "contention", "--set", "writers=[1, x]"]) == 2
    assert "'writers' expects a list of int" in capsys.readouterr().err


def test_cli_refuses_unknown_names_in_a_parameters_file(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text("all:\n  repetitons: 1\n")
    assert cli.main(["run", "contention", "--params", str(path)]) == 2
    assert "repetitons" in capsys.readouterr().err
    path.write_text("contention:\n  kills: 2\n")
    assert cli.main(["run", "contention", "--params", str(path)]) == 2
    assert "kills" in capsys.readouterr().err


def test_report_parameters_are_checked_before_any_notebook_runs():
    base = {"run_id": "x", "results_dir": "/tmp/x"}
    assert notebooks.notebook_parameters("contention", {"contention": {"writers": "[1, 8]"}}, base)["writers"] == "[1, 8]"
    with pytest.raises(ParameterError, match="repetitons"):
        notebooks.notebook_parameters("contention", {"all": {"repetitons": 1}}, base)
    with pytest.raises(ParameterError, match="'writers' expects a list of int"):
        notebooks.notebook_parameters("contention", {"contention": {"writers": [1.5]}}, base)


def test_cli_params_prints_the_notebook_parameters_cell(capsys):
    assert cli.main(["params", "resume"]) == 0
    out = capsys.readouterr().out
    assert parameters_cell("resume") in out
    assert "kill_after_s: list[float] = [0.2, 1.0]  # " in out


def test_correctness_rules_are_the_declared_rule_metrics():
    declared = {(workload, metric.name): metric.rule for workload, metric in rules()}
    assert declared[("contention", "lost_updates")] == "optimistic_concurrency"
    assert declared[("resume", "missed_events")] == "gap_safe_global_order"
    assert declared[("snapshots", "wrong_state")] == EVERY_ENGINE
    assert ("contention", "throughput") not in declared
    capabilities = {f.name for f in dataclasses.fields(Capabilities)}
    assert all(rule == EVERY_ENGINE or rule in capabilities for rule in declared.values())  # a typo would never apply


def test_matrix_columns_take_unit_and_direction_from_declared_metrics():
    columns = {s.label: s for s in matrix_columns(OperatingPoints(writers=4, stream_length=10_000, snapshot_every=100))}
    uniform = columns["commands @ 4 writers, uniform"]
    assert uniform.column == "commands @ 4 writers, uniform (commands/s)" and uniform.direction == "higher"
    assert columns["append p50, closed loop"].column == "append p50, closed loop (ms)" and columns["append p50, closed loop"].direction == "lower"
    assert columns["snapshot speed-up @ 10,000 events, N = 100"].direction == "higher"
    with pytest.raises(ValueError, match="did not declare metric 'throughputs'"):
        Source("x", Contention, "throughputs", "", lambda *_: Cell(None))


def test_page_titles_come_from_the_workloads():
    assert notebooks.NOTEBOOKS[:-1] == tuple(workloads()) and notebooks.NOTEBOOKS[-1] == "overview"
    assert [notebooks.title(n) for n in workloads()] == [w.title for w in workloads().values()]
    assert notebooks.title("overview").startswith("Overview")
