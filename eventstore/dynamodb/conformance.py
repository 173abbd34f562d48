"""DynamoDB's hooks for the conformance suite: what only the engine can show about its promises."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..store import EventStore
from ..testing.conformance import EventStoreConformance
from .store import DynamoDBStore


class DynamoDBConformance(EventStoreConformance):
    def category_read_work(self, store: EventStore, read: Callable[[], object]) -> int:
        """Items DynamoDB read for ``read()``, as its responses report them: ``ScannedCount`` of each
        Query and Scan (items evaluated, before any filter) and the items each BatchGetItem returned."""
        assert isinstance(store, DynamoDBStore)
        work = 0

        def count(*, model: Any, parsed: dict[str, Any], **_: Any) -> None:
            nonlocal work
            if model.name in ("Query", "Scan"):
                work += parsed.get("ScannedCount", parsed.get("Count", 0))
            elif model.name == "BatchGetItem":
                work += sum(len(items) for items in parsed.get("Responses", {}).values())

        hooks = store._client.meta.events
        hooks.register("after-call.dynamodb.*", count)
        try:
            read()
        finally:
            hooks.unregister("after-call.dynamodb.*", count)
        return work
