"""Where everything lives in DynamoDB: table names, keys, item shapes, item sizes and the limits.

Pure functions without I/O, shared by the store and by ``bench/dynamodb_cost.py``, so that the cost
model prices exactly the items the store writes.

Three tables, each with a partition key and a numeric sort key:

- ``TABLE``: one item per event; partition key ``stream_id``, sort key ``version``.
- ``TABLE-meta``: ``pk``/``sk`` items of four kinds, told apart by the ``pk`` prefix:
  ``all`` (the global feed: one item per append, sort key = its sequence number),
  ``category#<category>`` (the same items per category), ``event#<event id>`` (one idempotency
  guard per event) and ``checkpoint#<name>`` (a consumer's position).
- ``TABLE-snapshots``: partition key ``stream_id``, sort key ``version``.

Positions: the n-th append in the global feed gets sequence number n; its i-th event has position
``n * POSITION_STRIDE + i``. One feed item per append therefore addresses every event of the batch,
and a position names its feed item (``position // POSITION_STRIDE``) directly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ..events import RecordedEvent, Snapshot, category_of
from ..validation import PreparedEvent, encode_json

Item = dict[str, dict[str, Any]]  # an item in DynamoDB's low-level wire form: {"name": {"S": "..."}}

#: AWS documents "400 KB" per item and "4 MB" per transaction; read as decimal units they hold on AWS
#: and on moto too (which refuses items above 405,000 bytes by its own count).
MAX_ITEM_BYTES = 400_000
MAX_TRANSACTION_ACTIONS = 100
MAX_TRANSACTION_BYTES = 4_000_000
#: Larger than any batch; decimal, so that position 42003 reads as "append 42, event 3".
POSITION_STRIDE = 1000
#: Transaction actions besides the two per event (event item, id guard): the global and the category feed items.
FIXED_ACTIONS_PER_APPEND = 2
MAX_BATCH_EVENTS = (MAX_TRANSACTION_ACTIONS - FIXED_ACTIONS_PER_APPEND) // 2
#: An event item holds the event's own bytes (``PreparedEvent.size``) plus keys, id, position,
#: timestamp and attribute names: at most ~450 bytes, for which 1 KiB is reserved.
MAX_EVENT_BYTES = MAX_ITEM_BYTES - 1024
#: A full batch adds up to ~1.3 KB per event (item overhead, guard, two feed entries): 128 KiB reserved.
MAX_BATCH_BYTES = MAX_TRANSACTION_BYTES - 128 * 1024

FEED_ALL = "all"


@dataclass(frozen=True)
class Tables:
    """The three table names derived from the one the URL names."""

    events: str

    @property
    def meta(self) -> str:
        return f"{self.events}-meta"

    @property
    def snapshots(self) -> str:
        return f"{self.events}-snapshots"

    def all(self) -> tuple[tuple[str, str, str], ...]:
        """(table, partition key, sort key) for each table."""
        return ((self.events, "stream_id", "version"), (self.meta, "pk", "sk"), (self.snapshots, "stream_id", "version"))


def actions_per_append(events: int) -> int:
    return 2 * events + FIXED_ACTIONS_PER_APPEND


def position_of(sequence: int, index: int) -> int:
    return sequence * POSITION_STRIDE + index


def category_pk(category: str) -> str:
    return f"category#{category}"


def guard_pk(event_id: UUID | str) -> str:
    return f"event#{event_id}"


def checkpoint_pk(name: str) -> str:
    return f"checkpoint#{name}"


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


# -- items written by one append -------------------------------------------------------------------


def event_item(stream_id: str, version: int, position: int, event: PreparedEvent, recorded_at: str) -> Item:
    return {
        "stream_id": s(stream_id),
        "version": n(version),
        "position": n(position),
        "event_id": s(str(event.id)),
        "type": s(event.type),
        "data": s(event.data_json),
        "metadata": s(event.metadata_json),
        "recorded_at": s(recorded_at),
    }


def guard_item(event_id: UUID, stream_id: str, version: int, position: int) -> Item:
    return {"pk": s(guard_pk(event_id)), "sk": n(0), "stream_id": s(stream_id), "version": n(version), "position": n(position)}


def feed_item(pk: str, sequence: int, stream_id: str, first_version: int, types: list[str]) -> Item:
    """One append in a feed: enough to find its events and to filter them by type without reading them."""
    return {
        "pk": s(pk),
        "sk": n(sequence),
        "stream_id": s(stream_id),
        "first_version": n(first_version),
        "types": {"L": [s(t) for t in types]},
    }


def append_actions(tables: Tables, stream_id: str, first_version: int, sequence: int, batch: list[PreparedEvent], recorded_at: str) -> list[dict[str, Any]]:
    """The TransactWriteItems actions of one append, in this order: events, guards, global feed, category feed.

    Every put but the category feed's is conditional on its key being new: a taken version means
    another writer appended to the stream, a taken guard means the event id is already stored, a
    taken sequence number means another append got that global position first.
    """
    new = "attribute_not_exists(#k)"

    def put(table: str, item: Item, key: str | None) -> dict[str, Any]:
        op: dict[str, Any] = {"TableName": table, "Item": item}
        if key is not None:
            op.update(ConditionExpression=new, ExpressionAttributeNames={"#k": key})
        return {"Put": op}

    positions = [position_of(sequence, i) for i in range(len(batch))]
    types = [e.type for e in batch]
    return [
        *(put(tables.events, event_item(stream_id, first_version + i, positions[i], e, recorded_at), "stream_id") for i, e in enumerate(batch)),
        *(put(tables.meta, guard_item(e.id, stream_id, first_version + i, positions[i]), "pk") for i, e in enumerate(batch)),
        put(tables.meta, feed_item(FEED_ALL, sequence, stream_id, first_version, types), "pk"),
        put(tables.meta, feed_item(category_pk(category_of(stream_id)), sequence, stream_id, first_version, types), None),
    ]


# -- items read back -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    """One append as the feed records it."""

    sequence: int
    stream_id: str
    first_version: int
    types: tuple[str, ...]


def feed_entry(item: Item) -> FeedEntry:
    return FeedEntry(int(item["sk"]["N"]), item["stream_id"]["S"], int(item["first_version"]["N"]), tuple(t["S"] for t in item["types"]["L"]))


def recorded_event(item: Item) -> RecordedEvent:
    return RecordedEvent(
        stream_id=item["stream_id"]["S"],
        version=int(item["version"]["N"]),
        position=int(item["position"]["N"]),
        event_id=UUID(item["event_id"]["S"]),
        type=item["type"]["S"],
        data=json.loads(item["data"]["S"]),
        metadata=json.loads(item["metadata"]["S"]),
        recorded_at=datetime.fromisoformat(item["recorded_at"]["S"]),
    )


def stored_guard(item: Item) -> tuple[str, str, int, int]:
    """``(event_id, stream_id, version, position)``, the row ``match_retry`` takes."""
    return (item["pk"]["S"].removeprefix("event#"), item["stream_id"]["S"], int(item["version"]["N"]), int(item["position"]["N"]))


def snapshot_item(snapshot: Snapshot, recorded_at: str) -> Item:
    return {
        "stream_id": s(snapshot.stream_id),
        "version": n(snapshot.version),
        "schema_version": n(snapshot.schema_version),
        "state": s(encode_json(snapshot.state, "snapshot state")),
        "recorded_at": s(recorded_at),
    }


def snapshot_from(item: Item) -> Snapshot:
    return Snapshot(
        item["stream_id"]["S"],
        int(item["version"]["N"]),
        json.loads(item["state"]["S"]),
        int(item["schema_version"]["N"]),
        datetime.fromisoformat(item["recorded_at"]["S"]),
    )


# -- sizes, by DynamoDB's accounting rules ---------------------------------------------------------


def item_size(item: Item) -> int:
    """An item's size as DynamoDB bills and limits it: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":  # one byte per two significant digits, plus one
        digits = len(raw.lstrip("-").replace(".", "").strip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "L":  # three bytes, plus one per element
        return 3 + sum(1 + _value_size(v) for v in raw)
    raise ValueError(f"no size rule for DynamoDB type {kind!r}")
