"""The suite keeps the capability promise: every declared capability has tests that check it."""
from __future__ import annotations

import dataclasses
import inspect

from eventstore import Capabilities, testing
from eventstore.testing import ConformanceBase
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


def test_the_combined_class_runs_every_promise_class_whole() -> None:
    """``EventStoreConformance`` holds every test of every promise class, and no two promise classes
    share a test name: one would silently hide the other in the combined class."""
    promises = [cls for cls in EventStoreConformance.__mro__[1:] if issubclass(cls, ConformanceBase) and cls is not ConformanceBase]
    assert {cls.__name__ for cls in promises} == {name for name in testing.__all__ if name not in ("ConformanceBase", "EventStoreConformance")}
    tests = [name for cls in promises for name in vars(cls) if name.startswith("test_")]
    assert len(tests) == len(set(tests)), f"a test name in two promise classes: {sorted({n for n in tests if tests.count(n) > 1})}"
    assert set(tests) == {name for name in dir(EventStoreConformance) if name.startswith("test_")}
