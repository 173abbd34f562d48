"""Helpers the workload tests share: run a workload's cases directly (without the runner), read values
back from its measurements, and hand it one store."""
from __future__ import annotations

import time
from typing import Any

from eventstore import EventStore


def run_cases(workload: Any, stores: Any) -> list[Any]:
    """Every measurement of every case, each of a metric and at point dimensions the workload declares
    (as the runner demands), within the workload's ``budget_s`` as the runner would set it."""
    if workload.params.budget_s is not None:
        workload.deadline = time.monotonic() + workload.params.budget_s
    workload.open(stores)
    try:
        rows = [m for case in workload.cases() for m in workload.run_case(case)]
    finally:
        workload.close()
    for m in rows:
        workload.metric(m.metric)
        workload.by(*m.params)
    return rows


def values(measurements: list[Any], metric: str, **params: Any) -> list[Any]:
    """The values of ``metric`` at the points whose parameters include ``params``."""
    return [m.value for m in measurements if m.metric == metric and all(m.params.get(k) == v for k, v in params.items())]


class OneStore:
    """A store factory that hands every caller the same in-process store (a store built to break a rule)."""

    cross_process = False

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def new_url(self, label: str) -> str:
        return "memory://" + label

    def connect(self, url: str) -> EventStore:
        return self.store
