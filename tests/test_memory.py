from eventstore import EventStore, open_store
from eventstore.testing import EventStoreConformance


class TestMemoryStore(EventStoreConformance):
    def make_store(self) -> EventStore:
        return open_store("memory://")
