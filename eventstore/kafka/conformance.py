"""Kafka's settings for the conformance suite. It declares neither indexed category reads nor
transactional checkpoints, so it needs none of the suite's hooks."""
from __future__ import annotations

from ..testing.conformance import EventStoreConformance


class KafkaConformance(EventStoreConformance):
    #: Each example appends through the broker's transactions: fewer than the default keep the run short.
    property_examples = 15
