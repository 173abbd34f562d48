"""EventStoreDB's settings for the conformance suite: it declares neither indexed category reads nor
transactional checkpoints, so it needs none of the suite's hooks."""
from __future__ import annotations

from ..testing.conformance import EventStoreConformance


class EventStoreDBConformance(EventStoreConformance):
    #: Each example is a few dozen gRPC round trips.
    property_examples = 15
