"""The suite keeps the capability promise: every declared capability has tests that check it."""
from __future__ import annotations

import dataclasses
import inspect

from eventstore import Capabilities
from eventstore.testing.conformance import CAPABILITY_TESTS, EventStoreConformance


def test_every_capability_has_conformance_tests() -> None:
    fields = {f.name for f in dataclasses.fields(Capabilities)} - {"limitations"}
    assert set(CAPABILITY_TESTS) == fields
    assert all(CAPABILITY_TESTS.values()), "a capability mapped to no test"


def test_each_named_test_exists_and_skips_on_its_capability() -> None:
    """A named test must exist and name its capability (in ``require`` or ``require_limit``), so
    that it runs when the capability is declared and skips, saying which, when it is not."""
    for capability, names in CAPABILITY_TESTS.items():
        for name in names:
            test = getattr(EventStoreConformance, name, None)
            assert callable(test), f"{capability}: EventStoreConformance has no {name}"
            assert f'"{capability}"' in inspect.getsource(test), f"{name} does not name {capability!r}"
