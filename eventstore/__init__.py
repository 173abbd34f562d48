"""A reference event store: one API over PostgreSQL, SQLite, memory, DynamoDB, Kafka and any
engine a package registers (``eventstore.plugins``).

``open_store(url)`` opens a store through the engine that declares the URL's scheme, for example
``sqlite:///path/to/file.db``, ``postgresql://user@host:port/db?schema=name``, ``memory://``;
``python -m bench engines`` lists every registered engine with its URL form.
"""
from __future__ import annotations

from .aggregates import Aggregate, CommandResult, Repository, RetriesExhausted, execute
from .capabilities import Capabilities, EngineInfo
from .errors import (
    ConcurrencyError,
    DuplicateEventError,
    EventStoreError,
    InvalidInput,
    LimitExceeded,
    StoreUnavailable,
    SubscriptionError,
    UnsupportedOperation,
)
from .events import AppendResult, NewEvent, Position, RecordedEvent, Snapshot, StreamState, category_of
from .plugins import open_store
from .store import EventStore
from .subscriptions import Subscription

__all__ = [
    "Aggregate", "AppendResult", "Capabilities", "CommandResult", "ConcurrencyError",
    "DuplicateEventError", "EngineInfo", "EventStore", "EventStoreError", "InvalidInput", "LimitExceeded",
    "NewEvent", "Position", "RecordedEvent", "Repository", "RetriesExhausted", "Snapshot", "StoreUnavailable", "StreamState",
    "Subscription", "SubscriptionError", "UnsupportedOperation", "category_of", "execute", "open_store",
]
