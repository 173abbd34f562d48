"""Engines are plugins: a third party's package adds one without editing this project, and every store
the harness creates is removed again, also on servers it did not start."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from bench.workloads import run_workload
from eventstore.dynamodb.engine import ENGINE as DYNAMODB
from eventstore.kafka.config import BOOTSTRAP_ENV
from eventstore.kafka.engine import FENCED
from eventstore.plugins import Servers, engines

ROOT = Path(__file__).resolve().parent.parent

TOY_PACKAGE = '''
"""A third party's engine: memory:// under another name, registered through an entry point."""
from contextlib import contextmanager

from eventstore.memory import MemoryStore
from eventstore.plugins import Deployment, Engine


class ToyEngine(Engine):
    name = "toy"
    description = "a third-party engine over an in-process store"
    schemes = ("toy",)
    url_form = "toy://NAME"
    cross_process = False
    default = False

    def open_store(self, url):
        return MemoryStore()

    @contextmanager
    def deploy(self, servers):
        with Deployment(self, lambda label: f"toy://{label}", settings={"kind": "toy"}) as deployment:
            yield deployment


ENGINE = ToyEngine()
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the package ``toystore`` and its installed metadata (an entry point)."""
    root = tmp_path_factory.mktemp("site")
    (root / "toystore").mkdir()
    (root / "toystore" / "__init__.py").write_text(TOY_PACKAGE)
    info = root / "toystore-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toystore\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[eventstore.engines]\ntoy = toystore:ENGINE\n")
    return root


def run(plugin_path: Path, *argv: str, timeout: float = 300) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), str(ROOT)])}
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_registry_has_no_toy_without_the_plugin() -> None:
    assert "toy" not in engines()


def test_open_store_finds_a_third_party_engine(plugin_path: Path) -> None:
    out = run(plugin_path, "-c", textwrap.dedent("""
        from eventstore import NewEvent, open_store
        store = open_store("toy://anything")
        store.append("Order-1", [NewEvent("Placed", {})])
        print(type(store).__name__, len(store.read_all()))
    """))
    assert out.split() == ["MemoryStore", "1"]


def test_bench_engines_lists_and_starts_it(plugin_path: Path) -> None:
    listing = run(plugin_path, "-m", "bench", "engines", "--engines", "toy", "--no-start")
    assert "a third-party engine over an in-process store" in listing and "toy://NAME" in listing
    started = run(plugin_path, "-m", "bench", "engines", "--engines", "toy")
    assert started.split()[:2] == ["toy", "available"]


def test_the_conformance_suite_runs_on_it(plugin_path: Path) -> None:
    out = run(plugin_path, "-m", "pytest", "tests/test_conformance.py", "-k", "Test_toy", "-q", "-p", "no:cacheprovider")
    summary = out.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary


def test_a_workload_runs_on_it(plugin_path: Path, tmp_path: Path) -> None:
    run(plugin_path, "-m", "bench", "run", "snapshots", "--engines", "toy", "--results-dir", str(tmp_path), "--no-progress",
        "--set", "repetitions=1", "--set", "lengths=[10, 100]", "--set", "intervals=[10]", "--set", "write_samples=5")
    records = (tmp_path / "records" / "snapshots.jsonl").read_text()
    assert '"engine":"toy"' in records and '"status":"measured"' in records and '"metric":"load_time_p50"' in records


def _leftovers(dsn: str, endpoint: str, bootstrap: str) -> dict[str, set[str]]:
    """What a store leaves on each server: schemas, tables, topics and consumer groups."""
    import boto3
    from confluent_kafka.admin import AdminClient

    with psycopg.connect(dsn) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'")}
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    tables = set(client.list_tables()["TableNames"])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = {t for t in admin.list_topics(timeout=30).topics if not t.startswith("__")}
    groups = {g.group_id for g in admin.list_consumer_groups(request_timeout=30).result(30).valid}
    return {"schemas": schemas, "tables": tables, "topics": topics, "groups": groups}


@pytest.mark.slow
def test_runs_against_external_servers_leave_nothing_behind(servers: Servers, pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = DYNAMODB.endpoint(servers)[0]
    bootstrap = FENCED.broker(servers)[0]
    before = _leftovers(pg_dsn, endpoint, bootstrap)
    monkeypatch.setenv("EVENTSTORE_POSTGRES_DSN", pg_dsn)  # as a user pointing the workbench at their servers
    monkeypatch.setenv("EVENTSTORE_DYNAMODB_ENDPOINT", endpoint)
    monkeypatch.setenv(BOOTSTRAP_ENV, bootstrap)
    params = {"repetitions": 1, "lengths": [10, 100], "intervals": [10], "write_samples": 5, "min_loads": 3, "load_s": 0.3, "budget_s": 30.0}
    summary = run_workload("snapshots", params, engines="postgres,postgres-naive,dynamodb,kafka,kafka-naive",
                                  results_dir=tmp_path, progress=False)
    assert [o.status for o in summary.outcomes] == ["measured"] * 5, summary
    assert _leftovers(pg_dsn, endpoint, bootstrap) == before
