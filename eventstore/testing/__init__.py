"""Reusable test cases, one class per promise of the API; an engine takes any of them on its own.

- ``AppendConformance``: expected versions, idempotent retries, atomic batches, declared limits,
  bad input refused.
- ``ReadConformance``: ``read_stream``, ``read_all``'s order, cursor and filters, a reader racing
  writers, category reads (hook ``category_read_work``).
- ``SubscriptionConformance``: catch-up, resume from a checkpoint, live delivery, the push wake-up,
  transactional checkpoints, crash repeats (hooks ``transactional_setup`` / ``_write`` / ``_values``).
- ``SnapshotConformance``: snapshots, and the ``Repository`` and ``execute`` helpers built on them.
- ``ModelConformance``: random operation sequences against the independent model in ``model.py``.

``EventStoreConformance`` combines them all: every engine of this project runs it. Each class needs
only ``make_store``, a fresh empty store per test; a third party takes what its store promises:

    from eventstore.testing import AppendConformance, ReadConformance

    class TestMyStore(AppendConformance, ReadConformance):
        def make_store(self) -> EventStore:
            return MyStore(...)

Within a class, a test skips only on a capability the store declares it lacks, saying which.
"""
from .against_model import ModelConformance
from .appends import AppendConformance
from .base import ConformanceBase
from .conformance import EventStoreConformance
from .reads import ReadConformance
from .snapshots import SnapshotConformance
from .subscriptions import SubscriptionConformance

__all__ = [
    "AppendConformance", "ConformanceBase", "EventStoreConformance", "ModelConformance", "ReadConformance", "SnapshotConformance",
    "SubscriptionConformance",
]
