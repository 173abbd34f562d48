"""The model test: random operation sequences against the engine and against the independent model
in ``model.py``, which must agree on every result and every error."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..errors import ConcurrencyError, DuplicateEventError, InvalidInput
from ..events import NewEvent, StreamState
from ..store import EventStore
from .base import ConformanceBase
from .model import ModelStore


class ModelConformance(ConformanceBase):
    """Appends and stream reads agree with the model, whatever their order (property-based)."""

    #: Examples for the property-based comparison with the model; slow engines may lower it.
    property_examples: int = 40

    def test_behaves_like_the_model(self, store: EventStore) -> None:
        """Random operation sequences give the same results and errors as the in-memory model."""
        streams = [f"Prop{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
        ids = [uuid.uuid4() for _ in range(6)]
        expected_versions = st.one_of(st.sampled_from(list(StreamState)), st.integers(0, 4))
        append = st.tuples(
            st.just("append"),
            st.sampled_from(streams),
            st.lists(st.sampled_from(ids) | st.builds(uuid.uuid4), min_size=1, max_size=3, unique=True),
            expected_versions,
        )
        read = st.tuples(st.just("read"), st.sampled_from(streams), st.integers(0, 5), st.one_of(st.none(), st.integers(0, 4)), st.booleans())
        operations = st.lists(st.one_of(append, read), max_size=12)
        caps = store.capabilities

        @settings(max_examples=self.property_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(operations)
        def check(ops: list[tuple]) -> None:
            run = uuid.uuid4().hex[:6]  # each example writes to its own streams
            model = ModelStore()
            used: set[uuid.UUID] = set()
            for op in ops:
                if op[0] == "append":
                    _, s, batch_ids, expected = op
                    s = f"{s}{run}"
                    batch = [NewEvent("T", {"i": str(i)}, id=uuid.uuid5(i, run)) for i in batch_ids]
                    want = _outcome(model.append, s, batch, expected)
                    got = _outcome(store.append, s, batch, expected)
                    if not caps.idempotent_append and used.intersection(batch_ids):
                        # A reused id (a retry or a duplicate) is an undeclared outcome: the engine may
                        # store the batch again, and the histories part here.
                        return
                    used.update(batch_ids)
                    assert _comparable(got) == _comparable(want), op
                else:
                    _, s, start, limit, backwards = op
                    s = f"{s}{run}"
                    got = [(e.event_id, e.version, e.data) for e in store.read_stream(s, start, limit, backwards)]
                    want = [(e.event_id, e.version, e.data) for e in model.read_stream(s, start, limit, backwards)]
                    assert got == want, op
            for s in streams:
                s = f"{s}{run}"
                assert [e.event_id for e in store.read_stream(s)] == [e.event_id for e in model.read_stream(s)]

        check()


def _outcome(call: Callable[..., Any], *args: Any) -> Any:
    try:
        return call(*args)
    except (ConcurrencyError, DuplicateEventError, InvalidInput) as exc:
        return type(exc)


def _comparable(outcome: Any) -> Any:
    """Results compare by versions only: positions differ between engines by design."""
    if isinstance(outcome, type):
        return outcome
    return (outcome.stream_id, outcome.first_version, outcome.last_version)
