"""A reference event store: one API over PostgreSQL, SQLite, memory, DynamoDB and Kafka.

``open_store(url)`` picks the backend from the URL's scheme:

- ``memory://``
- ``sqlite:///path/to/file.db`` (``sqlite://`` alone: a private in-memory database)
- ``postgresql://user@host:port/db?mode=reference|naive&schema=name``
- ``dynamodb://table-name`` (endpoint, region and credentials from the environment)
- ``kafka://host:port?prefix=name``
"""
from __future__ import annotations

import importlib
from urllib.parse import urlsplit

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
from .store import EventStore
from .subscriptions import Subscription

#: URL scheme -> "module:factory"; a factory takes the URL and returns an EventStore.
BACKENDS: dict[str, str] = {
    "memory": "eventstore.memory:MemoryStore.from_url",
    "sqlite": "eventstore.sqlite:SQLiteStore.from_url",
    "postgresql": "eventstore.postgres:PostgresStore.from_url",
    "postgres": "eventstore.postgres:PostgresStore.from_url",
    "dynamodb": "eventstore.dynamodb:DynamoDBStore.from_url",
    "kafka": "eventstore.kafka:KafkaStore.from_url",
}


def open_store(url: str) -> EventStore:
    """Open the store a URL names; see the module docstring for the forms."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInput(f"store URL must look like scheme://..., not {url!r}")
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    target = BACKENDS.get(scheme)
    if target is None:
        raise InvalidInput(f"unknown store URL scheme {scheme!r}; known: {', '.join(sorted(BACKENDS))}")
    module_name, _, attr = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj(url)  # type: ignore[operator]


__all__ = [
    "Aggregate", "AppendResult", "BACKENDS", "Capabilities", "CommandResult", "ConcurrencyError",
    "DuplicateEventError", "EngineInfo", "EventStore", "EventStoreError", "InvalidInput", "LimitExceeded",
    "NewEvent", "Position", "RecordedEvent", "Repository", "RetriesExhausted", "Snapshot", "StoreUnavailable", "StreamState",
    "Subscription", "SubscriptionError", "UnsupportedOperation", "category_of", "execute", "open_store",
]
