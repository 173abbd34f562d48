"""esdbclient's own stream tests against the protocol double.

The client's author wrote these tests against real servers (EventStoreDB 22.10 to 24.10), so passing them
is evidence that the double behaves like a server for everything the client's stream API does. They run
unchanged, in a process of their own, as the client's insecure-server class
(``TestEventStoreDBClientWithInsecureConnection``, told that the server is 24.10), minus the tests the
double does not serve (``DESELECTED``, each with its reason); ``tests/esdbclient_suite_plugin.py`` points
the class at the double and reports each outcome.

Where the tests come from: not from PyPI. esdbclient's sdist and wheel ship no tests (1.1.7's sdist
holds the package, README and pyproject only), so they come from the client's repository at the tag of
the installed version: ``$ESDBCLIENT_TESTS`` (a checkout, or any directory holding its
``tests/test_client.py``), else a cache under the virtualenv, filled from GitHub's archive of the tag.
Without either, this test skips and says how to provide them. The client's test code is never copied into
this repository.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest

pytest.importorskip("esdbclient", reason="the client's tests need esdbclient (pip install 'eventstore-workbench[eventstoredb]')")
if (os.environ.get("EVENTSTORE_ESDB_CLIENT") or "esdbclient") != "esdbclient":
    pytest.skip("these are esdbclient's tests; kurrentdbclient is the client in use", allow_module_level=True)

from esdb_double import ESDBDouble  # noqa: E402

TESTS_ENV = "ESDBCLIENT_TESTS"
CLASS = "TestEventStoreDBClientWithInsecureConnection"
ARCHIVE = "https://codeload.github.com/pyeventsourcing/esdbclient/tar.gz/refs/tags/{version}"
#: Tests of the class the double does not serve, by name, and why.
DESELECTED = (
    (r"^test_(subscription|subscriptions|stream_subscriptions)_", "persistent subscriptions: the double hosts none"),
    (r"projection", "projections: the double runs none"),
    (r"^test_gossip_read$", "gossip: cluster membership"),
    (r"^test_commit_position$", "creates a persistent subscription"),
)
#: Tests that skip themselves against an insecure single node of 24.10 (their own skipIf or skipTest).
SELF_SKIPPED = {
    "test_read_all_filter_nothing": "needs TLS",
    "test_read_all_resolve_links": "needs TLS (and the system projections)",
    "test_demonstrate_extra_checkpoint_bug": "a bug of servers before 23.10",
}
ROOT = Path(__file__).resolve().parent


def client_tests(version: str) -> tuple[Path, str]:
    """The directory holding the client's ``test_client.py``, and where it came from."""
    given = os.environ.get(TESTS_ENV)
    if given:
        found = Path(given) / "tests"
        if not (found / "test_client.py").is_file():
            pytest.fail(f"{TESTS_ENV}={given} holds no tests/test_client.py: point it at a checkout of github.com/pyeventsourcing/esdbclient")
        return found, f"{given} (esdbclient {_checkout_version(Path(given))})"
    cache = Path(sys.prefix) / "share" / "esdbclient-tests" / version
    if not (cache / "tests" / "test_client.py").is_file():
        url = ARCHIVE.format(version=version)
        try:
            with urllib.request.urlopen(url, timeout=20) as response:
                archive = response.read()
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                members = [m for m in tar.getmembers() if m.name.split("/")[1:2] == ["tests"]]
                for member in members:
                    member.name = member.name.split("/", 1)[1]
                tar.extractall(cache, members=members, filter="data")
        except (OSError, tarfile.TarError) as exc:
            pytest.skip(f"esdbclient {version}'s tests are not in its sdist or wheel, and its repository's archive ({url}) "
                        f"cannot be fetched ({exc}); set {TESTS_ENV} to a checkout of github.com/pyeventsourcing/esdbclient at tag {version}")
    return cache / "tests", f"{ARCHIVE.format(version=version)} (esdbclient {version})"


def _checkout_version(path: Path) -> str:
    found = re.search(r'^version = "([^"]+)"', (path / "pyproject.toml").read_text(), re.M) if (path / "pyproject.toml").is_file() else None
    return found.group(1) if found else "of unknown version"


def test_the_clients_own_stream_tests_pass_against_the_double(tmp_path: Path) -> None:
    version = metadata.version("esdbclient")
    source, origin = client_tests(version)
    shutil.copytree(source, tmp_path / "tests")  # alone: a checkout's own esdbclient/ must not shadow the installed one
    report = tmp_path / "outcomes.json"
    with ESDBDouble() as double:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),  # the plugin
            "ESDB_DOUBLE_TARGET": f"127.0.0.1:{double.port}",
            "ESDB_SUITE_DESELECT": json.dumps(DESELECTED),
            "ESDB_SUITE_REPORT": str(report),
            "EVENTSTORE_DOCKER_IMAGE": "24.10",  # the client's tests pick version-specific expectations from this
        }
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "esdbclient_suite_plugin", "-p", "no:cacheprovider", "-q", "--timeout", "60",
             f"tests/test_client.py::{CLASS}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )
    assert report.is_file(), f"the client's tests did not run:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    outcomes = json.loads(report.read_text())
    by = {kind: sorted(n for n, o in outcomes.items() if o["outcome"] == kind) for kind in ("passed", "skipped", "failed", "deselected")}
    print(f"esdbclient's tests from {origin}, installed esdbclient {version}: {len(by['passed'])} passed, "
          f"{len(by['skipped'])} skipped by themselves, {len(by['deselected'])} deselected:")
    for name in by["deselected"]:
        print(f"  deselected {name}: {outcomes[name]['reason']}")
    failures = {name: outcomes[name]["reason"] for name in by["failed"]}
    assert not failures, "\n\n".join(f"{name}:\n{reason}" for name, reason in failures.items())
    assert set(by["skipped"]) == set(SELF_SKIPPED), {n: outcomes[n]["reason"] for n in by["skipped"]}
    assert len(by["passed"]) >= 40, f"too few of the client's tests ran: {by['passed']}"
