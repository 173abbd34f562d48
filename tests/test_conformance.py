"""The conformance suite on every registered engine, this project's and any installed plugin's.

Each engine names its conformance class (a subclass of ``EventStoreConformance`` with the
engine's test hooks); this module gives it fresh isolated stores from the engine's deployment.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pytest

from eventstore import EventStore
from eventstore.plugins import Deployment, engines


class DeployedStores:
    """``make_store`` for a conformance class: a new store of the deployed engine, dropped after."""

    engine_name: ClassVar[str]

    @pytest.fixture(autouse=True)
    def _deployed(self, deployment: Callable[[str], Deployment]) -> None:
        self.deployment = deployment(self.engine_name)
        self._urls: dict[int, str] = {}

    def make_store(self) -> EventStore:
        url = self.deployment.new_url("conformance")
        store = self.deployment.connect(url)
        self._urls[id(store)] = url
        return store

    def close_store(self, store: EventStore) -> None:
        store.drop()
        self.deployment.release(self._urls.pop(id(store)))


for _name, _engine in engines().items():
    _class = type(f"Test_{_name.replace('-', '_')}", (DeployedStores, _engine.conformance_class()), {"engine_name": _name})
    globals()[_class.__name__] = _class
