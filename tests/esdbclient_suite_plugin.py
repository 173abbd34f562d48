"""A pytest plugin for the run of esdbclient's own tests against the protocol double, which
``tests/test_esdb_client_suite.py`` starts in a process of its own: it points the client's test class at
the double, deselects the tests the double does not serve (the rules come from that test), and writes
each test's outcome to a JSON file for it to judge. Nothing of the client's test code is changed."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

_OUTCOMES: dict[str, dict[str, str]] = {}
_RANK = {"passed": 0, "skipped": 1, "failed": 2}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target = os.environ["ESDB_DOUBLE_TARGET"]
    rules = [(re.compile(pattern), reason) for pattern, reason in json.loads(os.environ["ESDB_SUITE_DESELECT"])]
    kept, dropped = [], []
    for item in items:
        reason = next((why for pattern, why in rules if pattern.search(item.name)), None)
        if reason is None:
            item.cls.ESDB_TARGET = target  # type: ignore[union-attr]  # the client's class reads its server from here
            kept.append(item)
        else:
            dropped.append(item)
            _OUTCOMES[item.name] = {"outcome": "deselected", "reason": reason}
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """The worst outcome of a test's setup, call and teardown (the client's tearDown talks to the server too)."""
    name = report.nodeid.rsplit("::", 1)[-1]
    seen = _OUTCOMES.setdefault(name, {"outcome": "passed", "reason": ""})
    if _RANK[report.outcome] > _RANK[seen["outcome"]]:
        reason: Any = report.longrepr[2] if report.skipped and isinstance(report.longrepr, tuple) else report.longreprtext[-2000:]
        _OUTCOMES[name] = {"outcome": report.outcome, "reason": str(reason)}


def pytest_sessionfinish(session: pytest.Session) -> None:
    Path(os.environ["ESDB_SUITE_REPORT"]).write_text(json.dumps(_OUTCOMES, indent=1))
