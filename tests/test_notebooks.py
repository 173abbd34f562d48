"""Every notebook runs end to end through papermill in the quick profile
(``notebooks/profiles/quick/``); its records validate, the correctness rules hold, the pages show
numbers taken from the records, and every page says that it is a smoke-sized run.

Slow (a few minutes): it starts every engine it can, as ``make report`` does.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import papermill
import pytest

from bench.display.tables import SMOKE
from bench.harness import results
from bench.harness.records import PROFILES
from bench.report import build, frontpage, notebooks, site
from bench.workloads import RUN_OPTIONS, checks, parameters_cell, workloads
from bench.workloads.contention.tables import contention_correctness
from bench.workloads.resume.tables import resume_summary

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", notebooks.NOTEBOOKS)
def test_notebook_has_one_documented_parameters_cell(name):
    notebook = nbformat.read(notebooks.NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    for line in tagged[0].source.splitlines():
        assert re.match(r"^\w+: [\w\[\]]+ = .+  # \S", line), f"parameter without a type or comment: {line!r}"
    declared = papermill.inspect_notebook(str(notebooks.NOTEBOOK_DIR / f"{name}.ipynb"))
    assert {"results_dir", "run_id"} <= set(declared)


@pytest.mark.parametrize("name", notebooks.NOTEBOOKS)
def test_notebook_is_valid_with_cell_ids(name):
    """nbformat 4.5 wants an id on every cell; without one every run warns and a future nbformat fails."""
    raw = json.loads((notebooks.NOTEBOOK_DIR / f"{name}.ipynb").read_text())
    assert [i for i, cell in enumerate(raw["cells"]) if "id" not in cell] == []
    nbformat.validate(nbformat.from_dict(raw))


@pytest.mark.parametrize("name", list(workloads()))
def test_workload_notebook_declares_exactly_its_parameters(name):
    """Parameters are declared once, on the workload: its notebook's parameters cell, as papermill
    reads it (``--help-notebook``), has the run options and every ``Params`` field, nothing else,
    with the same defaults and the help text as the comment."""
    path = notebooks.NOTEBOOK_DIR / f"{name}.ipynb"
    expected = [*RUN_OPTIONS, *workloads()[name].params_type.parameters().values()]
    declared = papermill.inspect_notebook(str(path))
    assert list(declared) == [p.name for p in expected]
    for parameter in expected:
        spec = declared[parameter.name]
        default = parameter.default
        assert ast.literal_eval(spec["default"]) == (list(default) if isinstance(default, tuple) else default), parameter.name
        assert spec["help"] == parameter.help, parameter.name
        assert spec["inferred_type_name"] == parameter.annotation, parameter.name
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    assert cell.source == parameters_cell(name)  # regenerate it from the workload when this fails


@pytest.mark.parametrize("name", list(workloads()))
def test_workload_notebook_is_titled_and_passes_its_parameters_on(name):
    notebook = nbformat.read(notebooks.NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    assert notebook.cells[0].source.splitlines()[0] == f"# {workloads()[name].title}"
    assert any(f'workload_params("{name}", globals())' in c.source for c in notebook.cells if c.cell_type == "code")


@pytest.mark.parametrize("profile", PROFILES)
def test_profiles_name_only_declared_parameters(profile):
    params = notebooks.profile_params(profile)
    for name in notebooks.NOTEBOOKS:
        assert (notebooks.PROFILE_DIR / profile / f"{name}.yaml").exists()
        notebooks.notebook_parameters(name, params, {"run_id": "x", "results_dir": "/tmp/x", "profile": profile})
    if profile == "decision":  # decision-grade sizes are the notebooks' own defaults: one truth
        assert all(params[name] == {} for name in notebooks.NOTEBOOKS)


@pytest.fixture(scope="module")
def tiny_report(quick_report):
    return quick_report


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_every_notebook_runs_and_renders(tiny_report):
    root, run_dir, ok = tiny_report
    run = json.loads((run_dir / "run.json").read_text())
    assert [n["name"] for n in run["notebooks"]] == list(notebooks.NOTEBOOKS)
    assert ok, [n["error"] for n in run["notebooks"] if n["error"]]
    index = (root / "index.html").read_text()
    for name in notebooks.NOTEBOOKS:
        page = run_dir / "html" / f"{name}.html"
        assert page.exists() and f"runs/{run_dir.name}/html/{name}.html" in index
        text = page.read_text()
        assert "run_workload(" not in text and "from bench import" not in text  # no code on the pages
        assert f"<title>{notebooks.page_title(name, 'quick')}</title>" in text and SMOKE in index
        assert text.count(SMOKE) >= 2, f"{name}: the page must say in its title and at its top that it is a quick run"
        assert (run_dir / "notebooks" / f"{name}.ipynb").stat().st_size < 1_000_000
    figures = {p.name for p in (run_dir / "figures").glob("*.png")}
    assert {"contention-throughput.png", "snapshots-load-time.png", "resume-missed-repeated.png", "calls-latency-cdf.png"} <= figures


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_records_validate_and_correctness_holds(tiny_report):
    _, run_dir, _ = tiny_report
    res = results.load(run_dir)  # validates every record on read
    assert len(res.run_ids) == 1
    status = results.engine_status(res)
    assert set(status["workload"]) == set(workloads())
    not_measured = status[status["status"] != "measured"]
    assert not_measured["reason"].notna().all()
    found = checks.problems(res, include_errors=False, include_emulators=False)
    assert not found, found
    for reference in ("sqlite", "postgres"):
        measured = status[(status["engine"] == reference) & (status["status"] == "measured")]
        if reference == "sqlite":
            assert len(measured) == len(workloads()), "the embedded default must always be measured"
        if measured.empty:
            continue
        resume = resume_summary(res).set_index("engine")
        assert resume.loc[reference, "missed_events"] == 0
        assert resume.loc[reference, "events_in_store"] > 0
        contention = contention_correctness(res).set_index("engine")
        assert contention.loc[reference, "lost_updates"] == 0
        assert contention.loc[reference, "successful_commands"] > 0
        errors = res.measurements[(res.measurements["engine"] == reference) & (res.measurements["metric"] == "error")]
        assert errors.empty, errors["note"].tolist()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_pages_show_the_numbers_in_the_records(tiny_report):
    _, run_dir, _ = tiny_report
    res = results.load(run_dir)
    page = (run_dir / "html" / "resume.html").read_text()
    for verdict in resume_summary(res)["verdict"]:
        assert verdict in page
    page = (run_dir / "html" / "contention.html").read_text()
    for verdict in contention_correctness(res)["verdict"]:
        assert verdict in page
    overview = (run_dir / "html" / "overview.html").read_text()
    assert run_dir.name in overview  # provenance names the run


def test_a_second_report_never_overwrites_the_first(tmp_path):
    first = tmp_path / "runs" / "20250101T000000Z-aaaa"
    first.mkdir(parents=True)
    (first / "run.json").write_text(json.dumps({"run_id": first.name, "started_at": "x", "notebooks": []}))
    with pytest.raises(FileExistsError):
        build.build_report(tmp_path, run_id=first.name, notebooks=[])
    second = tmp_path / "runs" / "20250102T000000Z-bbbb"
    second.mkdir()
    (second / "run.json").write_text(json.dumps({"run_id": second.name, "started_at": "y", "notebooks": [{"name": "resume", "seconds": 1, "error": None}]}))
    frontpage.write_root_index(tmp_path, site.runs(tmp_path))
    index = (tmp_path / "index.html").read_text()
    assert index.index(second.name) < index.index(first.name)  # newest first, earlier listed
    assert f"runs/{second.name}/html/resume.html" in index
