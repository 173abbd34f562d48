"""DynamoDB's raw path: plain boto3 calls on the store's events table, for the overhead workload.

The same endpoint, client settings and event item shape as the store (partition key ``stream_id``,
sort key ``version``, data and metadata as JSON text), without the transaction, the conditional
writes, the idempotency guards and the global feed: an append is one ``put_item``, a batch is
``batch_write_item`` in requests of 25 (unprocessed items sent again), a read is a consistent
``scan`` of the table in pages, decoding ``data`` with ``json.loads``. There is no global position
without the feed, so the raw read's order is the table's hash order. Live: without the feed there
is no order to follow either, so a listener scans the whole table (consistently) every
``poll_interval``, the store's subscribers' interval, and reports the event ids it had not seen.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..events import NewEvent
from ..plugins import RawListener, RawPath, RawRow
from .connection import connect
from .layout import Item, n, s
from .store import DynamoDBStore

#: DynamoDB's limit of items per ``batch_write_item`` request.
BATCH_WRITE_ITEMS = 25


class DynamoDBRawPath(RawPath):
    describe = "plain boto3 on the same table: put_item, batch_write_item in 25s, consistent scan pages + json.loads; no transaction, condition or feed"

    def __init__(self, url: str) -> None:
        store = DynamoDBStore.from_url(url)  # the tables exist, as the store creates them
        self._client = connect(store.settings, store.engine)
        self._table = store.tables.events
        self._settings, self._engine = store.settings, store.engine
        store.close()
        self._versions: dict[str, int] = {}

    @staticmethod
    def _item(stream_id: str, version: int, event: NewEvent, now: str) -> Item:
        return {
            "stream_id": s(stream_id), "version": n(version), "event_id": s(str(event.id)), "type": s(event.type),
            "data": s(json.dumps(event.data)), "metadata": s(json.dumps(event.metadata or {})), "recorded_at": s(now),
        }

    def append_one(self, stream_id: str, event: NewEvent) -> None:
        version = self._versions.get(stream_id, -1) + 1
        self._client.put_item(TableName=self._table, Item=self._item(stream_id, version, event, datetime.now(UTC).isoformat()))
        self._versions[stream_id] = version

    def append_batch(self, stream_id: str, events: Sequence[NewEvent]) -> None:
        now = datetime.now(UTC).isoformat()
        items = [{"PutRequest": {"Item": self._item(stream_id, v, e, now)}} for v, e in enumerate(events)]
        for start in range(0, len(items), BATCH_WRITE_ITEMS):
            request: dict[str, Any] = {self._table: items[start:start + BATCH_WRITE_ITEMS]}
            for attempt in range(10):
                request = self._client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
                time.sleep(0.01 * 2 ** attempt)
            else:
                raise RuntimeError(f"batch_write_item to {self._table}: items still unprocessed after 10 attempts")

    def read_page(self, after: Any, limit: int) -> list[RawRow]:
        request: dict[str, Any] = {"TableName": self._table, "Limit": limit, "ConsistentRead": True}
        if after is not None:
            request["ExclusiveStartKey"] = {"stream_id": s(after[0]), "version": n(after[1])}
        loads = json.loads
        rows: list[RawRow] = []
        while True:
            response = self._client.scan(**request)
            for item in response.get("Items", ()):
                stream_id, version = item["stream_id"]["S"], int(item["version"]["N"])
                rows.append(((stream_id, version), stream_id, version, item["type"]["S"], loads(item["data"]["S"]), uuid.UUID(item["event_id"]["S"]),
                             loads(item["metadata"]["S"]), datetime.fromisoformat(item["recorded_at"]["S"])))
            last = response.get("LastEvaluatedKey")
            if rows or last is None:  # a page cut short by the 1 MB limit is still a page; an empty one with a key reads on
                return rows
            request["ExclusiveStartKey"] = last

    def listen(self, poll_interval: float) -> RawListener:
        return DynamoDBListener(connect(self._settings, self._engine), self._table, poll_interval)

    def close(self) -> None:
        self._client.close()


class DynamoDBListener(RawListener):
    describe = "a consistent scan of the whole table every poll_interval (no feed: no order to follow), new event ids by difference"

    def __init__(self, client: Any, table: str, poll_interval: float) -> None:
        self._client, self._table, self._every = client, table, poll_interval
        self._seen = self._scan()
        self._next = time.monotonic() + poll_interval

    def _scan(self) -> set[str]:
        request: dict[str, Any] = {"TableName": self._table, "ConsistentRead": True, "ProjectionExpression": "event_id"}
        found: set[str] = set()
        while True:
            response = self._client.scan(**request)
            found.update(item["event_id"]["S"] for item in response.get("Items", ()))
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def poll(self, timeout: float) -> list[uuid.UUID]:
        deadline = time.monotonic() + timeout
        while (wait := self._next - time.monotonic()) <= deadline - time.monotonic():
            time.sleep(max(0.0, wait))
            self._next = time.monotonic() + self._every
            now = self._scan()
            new, self._seen = now - self._seen, now
            if new:
                return [uuid.UUID(i) for i in new]
        time.sleep(max(0.0, deadline - time.monotonic()))
        return []

    def close(self) -> None:
        self._client.close()
