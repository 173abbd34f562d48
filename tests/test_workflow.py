"""The CI workflow a team copies (.github/workflows/report.yml) stays in step with the project: the
services it starts are docker-compose.yml's, the environment variables it sets are the ones the
engines declare (with the values their compose services need), and its commands are ones the
command line accepts, writing the report where the artifact step publishes it."""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventstore.plugins import engines

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "report.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def job(workflow: dict[str, Any]) -> dict[str, Any]:
    assert list(workflow["jobs"]) == ["report"]
    return workflow["jobs"]["report"]


def _runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def _command(job: dict[str, Any], prefix: str) -> list[str]:
    found = [shlex.split(run, comments=True) for run in _runs(job) if run.startswith(prefix)]
    assert len(found) == 1, f"expected one step running {prefix!r}"
    return found[0]


def test_structure(workflow: dict[str, Any], job: dict[str, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "workflow_dispatch" in triggers
    assert job["runs-on"].startswith("ubuntu") and job["timeout-minutes"] <= 120
    uses = [step.get("uses", "").split("@")[0] for step in job["steps"]]
    assert uses.index("actions/checkout") == 0
    assert "actions/setup-python" in uses and "actions/upload-artifact" in uses
    upload = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact"))
    assert upload.get("if") == "always()", "the report is published also when a notebook failed"
    order = [next(n for n, r in enumerate(_runs(job)) if r.startswith(p)) for p in ("docker compose up", "python -m pip install", "python -m bench report")]
    assert order == sorted(order)


def test_it_starts_the_compose_services_the_engines_declare(job: dict[str, Any]) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    words = _command(job, "docker compose up")
    started = [w for w in words[3:] if not w.startswith("-") and not w.isdigit()]
    assert "--wait" in words and started, "start the services and wait until they are healthy"
    assert set(started) <= set(compose)
    declared = {e.compose.service for e in engines().values() if e.compose is not None}
    assert set(started) == declared


def test_its_variables_are_the_ones_the_engines_read(job: dict[str, Any]) -> None:
    env = {k: str(v) for k, v in job["env"].items()}
    declared = {var.name for engine in engines().values() for var in engine.env}
    assert set(env) <= declared, f"variables no engine reads: {sorted(set(env) - declared)}"
    compose_env = {k: v for engine in engines().values() if engine.compose is not None for k, v in engine.compose.env.items()}
    assert env == compose_env  # each engine pointed at its compose service, with the values it declares
    secrets = {var.name for engine in engines().values() for var in engine.env if var.secret}
    assert all(env[name] == compose_env[name] for name in secrets & set(env)), "only the compose services' throwaway credentials in clear"


def test_the_report_command_is_one_the_cli_accepts(job: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bench import cli
    from bench.report import build

    words = _command(job, "python -m bench report")
    seen: dict[str, Any] = {}

    def fake_build_report(results: str, **options: Any) -> tuple[Path, bool]:
        seen.update(options, results=results)
        return tmp_path / "runs" / "x", True

    monkeypatch.setattr(build, "build_report", fake_build_report)
    assert cli.main(words[3:]) == 0
    assert seen["profile"] == "quick" and seen["engines"] is None  # every default engine, through the variables above
    upload = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"].rstrip("/") == seen["results"]
    check = _command(job, "python -m bench check")
    assert check[4].startswith(seen["results"] + "/runs/")


def test_the_check_command_is_one_the_cli_accepts(job: dict[str, Any], tmp_path: Path) -> None:
    from bench import cli

    words = _command(job, "python -m bench check")
    (tmp_path / "records").mkdir()
    assert cli.main([words[3], str(tmp_path), *words[5:]]) == 0  # an empty run directory: valid, nothing broken


def test_the_verdict_step_fails_on_a_changed_verdict_and_passes_on_the_same(job: dict[str, Any], tmp_path: Path) -> None:
    import json

    from bench import cli

    step = next(s for s in job["steps"] if "python -m bench verdicts" in s.get("run", ""))
    assert "verdicts-baseline.json" in step["if"]
    words = _command(job, "python -m bench verdicts")
    baseline, new = tmp_path / "baseline.json", tmp_path / "new.json"
    verdict = {"key": "default", "title": "Balanced", "choice": "alpha", "choice_label": "alpha", "confidence": 0.97, "ties": []}
    baseline.write_text(json.dumps({"schema_version": 1, "verdicts": [verdict]}))
    new.write_text(json.dumps({"schema_version": 1, "verdicts": [verdict]}))
    args = [words[3], str(baseline), str(new), *words[6:]]
    assert cli.main(args) == 0
    new.write_text(json.dumps({"schema_version": 1, "verdicts": [{**verdict, "choice": "beta", "choice_label": "beta"}]}))
    assert cli.main(args) == 1


def test_the_readme_points_to_it() -> None:
    text = (ROOT / "README.md").read_text()
    assert ".github/workflows/report.yml" in text and "docker-compose.yml" in text
