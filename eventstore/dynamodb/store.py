"""``dynamodb://TABLE``: one item per event, each append one conditional TransactWriteItems.

An append reads the stream's last version and the global feed's last sequence number (both
strongly consistent), then writes in one transaction: the event items at the next versions, one
id guard per event, and the append's entry in the global and the category feed. Each put but the
category entry's requires its key to be new, so a concurrent append to the same stream, a stored
event id, or a concurrent append anywhere (which took the sequence number) cancels the whole
transaction. Because a writer can only claim sequence number n+1 after seeing n committed, the
global order has no gaps a subscriber could skip; the price is that all appends take turns at the
feed's tail. See ``docs/dynamodb.md``.
"""
from __future__ import annotations

import heapq
import json
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..capabilities import Capabilities
from ..errors import ConcurrencyError, EventStoreError, InvalidInput, LimitExceeded
from ..events import AppendResult, ExpectedVersion, Position, RecordedEvent, Snapshot, StreamState
from ..store import EventStore, check_expected, match_retry
from ..validation import PreparedEvent
from . import layout as L
from .connection import Settings, connect, delete_tables, detect_engine, ensure_tables

CAPABILITIES = Capabilities(
    optimistic_concurrency=True,
    idempotent_append=True,
    atomic_batch=True,
    global_order=True,
    gap_safe_global_order=True,
    indexed_category_reads=True,
    push_notifications=False,
    transactional_checkpoints=False,
    snapshots=True,
    max_batch_events=L.MAX_BATCH_EVENTS,
    max_batch_bytes=L.MAX_BATCH_BYTES,
    max_event_bytes=L.MAX_EVENT_BYTES,
    limitations=(
        f"An append of n events is one transaction of 2n+2 actions (event items, event-id guards, two feed entries), "
        f"so one append holds at most {L.MAX_BATCH_EVENTS} events and {L.MAX_BATCH_BYTES:,} bytes, and one event at most "
        f"{L.MAX_EVENT_BYTES:,} bytes (DynamoDB: 100 actions and 4 MB per transaction, 400 KB per item).",
        "The gap-safe global order serialises every append through the tail of one feed: an append must read the last "
        "sequence number and then win a conditional write of the next one, so all writers together complete at most about "
        "one append per read-plus-transaction round trip (an estimate for AWS: 50-100 appends/s), however many streams "
        "they write; the feed's partition also caps at 1,000 WCU/s (500 appends/s).",
        "Losers of that race retry inside append; after 50 lost rounds even a StreamState.ANY append gives up with "
        "ConcurrencyError (nothing written).",
        "An append costs about 8 WCU for one small event (four transactional 1 KB writes) plus 2 strongly consistent "
        "reads, against 1 WCU for a bare PutItem: see bench/dynamodb_cost.py.",
        "Filtering read_all by event type reads every feed entry (one per append) but fetches only matching events; "
        "category reads use a per-category feed.",
        "Live subscribers poll; there are no push notifications (DynamoDB Streams are not used).",
        "delete_snapshots() without a stream scans the whole snapshot table.",
        "recorded_at is the appending client's clock.",
    ),
)

#: Rounds before giving up: an append lost to concurrent appends (then ConcurrencyError), or a batch
#: request that DynamoDB keeps leaving partly unprocessed.
MAX_ROUNDS = 50
_BACKOFF_BASE_S = 0.001
_BACKOFF_CAP_S = 0.05
#: DynamoDB's batch request limits: items per BatchGetItem and per BatchWriteItem.
_BATCH_GET = 100
_BATCH_WRITE = 25
#: Codes of cancellation reasons that mean "another request was in the way; try again".
_TRANSIENT = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}


class DynamoDBStore(EventStore):
    """Events in DynamoDB; see the module docstring for the write path and ``layout`` for the items."""

    capabilities = CAPABILITIES

    def __init__(self, settings: Settings) -> None:
        self.engine = detect_engine(settings.endpoint_url)
        self._client = connect(settings, self.engine)
        self.settings = Settings(settings.table, settings.endpoint_url, self._client.meta.region_name)
        self.tables = L.Tables(settings.table)
        ensure_tables(self._client, self.tables)

    @classmethod
    def from_url(cls, url: str) -> DynamoDBStore:
        return cls(Settings.from_url(url))

    @property
    def url(self) -> str:
        """A self-contained URL for this store, for consumers started in other processes."""
        return self.settings.to_url()

    def drop(self) -> None:
        """Delete this store's tables and everything in them, then close the store."""
        delete_tables(self._client, self.tables)
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- appending -----------------------------------------------------------------------------

    def _append(self, stream_id: str, batch: list[PreparedEvent], expected: ExpectedVersion) -> AppendResult:
        pinned = expected is StreamState.NO_STREAM or isinstance(expected, int)
        current, last_sequence = self._last_version(stream_id), None
        for round_ in range(MAX_ROUNDS):
            try:
                check_expected(stream_id, expected, current)
            except ConcurrencyError:
                return self._settle_conflict(stream_id, batch, expected, current)
            first = 0 if current is None else current + 1
            if last_sequence is None:
                last_sequence = self._last_sequence()
            sequence = last_sequence + 1
            actions = L.append_actions(self.tables, stream_id, first, sequence, batch, _now())
            try:
                self._client.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                failed = self._cancelled(exc, actions)
                if "guard" in failed or ("version" in failed and pinned):
                    return self._settle_conflict(stream_id, batch, expected, self._last_version(stream_id))
                if "transient" in failed:
                    _sleep_backoff(round_)
                # Another append took a key and has committed: read again at once what it changed. A key whose
                # condition held was still free, so the read that chose it is still current and is not repeated.
                if failed & {"version", "transient"}:
                    current = self._last_version(stream_id)
                if failed & {"sequence", "transient"}:
                    last_sequence = None
                continue
            return AppendResult(stream_id, first, first + len(batch) - 1, L.position_of(sequence, len(batch) - 1))
        raise ConcurrencyError(stream_id, expected, self._last_version(stream_id))

    def _settle_conflict(self, stream_id: str, batch: list[PreparedEvent], expected: ExpectedVersion, current: int | None) -> AppendResult:
        """The stream (at ``current``) was not where ``expected`` wants it, or ids were taken: an idempotent retry, or an error."""
        keys = [{"pk": L.s(L.guard_pk(e.id)), "sk": L.n(0)} for e in batch]
        stored = [L.stored_guard(item) for item in self._batch_get(self.tables.meta, keys)]
        retry = match_retry(stream_id, batch, expected, stored)
        if retry is not None:
            return retry
        raise ConcurrencyError(stream_id, expected, current)

    def _cancelled(self, exc: ClientError, actions: list[dict[str, Any]]) -> set[str]:
        """Which parts of a cancelled append failed: ``version``, ``guard``, ``sequence`` or ``transient``.

        Raises ``LimitExceeded`` or ``InvalidInput`` when DynamoDB refused the request itself, and
        re-raises errors that are not about this transaction.
        """
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationException":
            raise _refusal(actions, error.get("Message", "")) from exc
        if error.get("Code") != "TransactionCanceledException":
            raise exc
        codes = _reason_codes(exc.response)
        if len(codes) != len(actions):
            raise exc
        if "ValidationError" in codes:
            raise _refusal(actions, error.get("Message", "")) from exc
        n = (len(actions) - L.FIXED_ACTIONS_PER_APPEND) // 2
        parts = ["version"] * n + ["guard"] * n + ["sequence", "category"]
        failed = {parts[i] for i, code in enumerate(codes) if code == "ConditionalCheckFailed"}
        if any(code in _TRANSIENT for code in codes):
            failed.add("transient")
        if not failed:
            raise exc
        return failed

    # -- reading -------------------------------------------------------------------------------

    def _read_stream(self, stream_id: str, from_version: int, limit: int | None, backwards: bool) -> list[RecordedEvent]:
        condition, names, values = "#s = :s", {"#s": "stream_id"}, {":s": L.s(stream_id)}
        if from_version or not backwards:
            condition += " AND #v <= :v" if backwards else " AND #v >= :v"
            names["#v"], values[":v"] = "version", L.n(from_version)
        items = self._query(
            TableName=self.tables.events,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ScanIndexForward=not backwards,
            **({"Limit": limit} if limit is not None else {}),
        )
        return [L.recorded_event(item) for item in _take(items, limit)]

    def _read_all(self, after: Position | None, limit: int | None, types: list[str] | None, categories: list[str] | None) -> list[RecordedEvent]:
        if types == [] or categories == []:
            return []
        assert after is None or isinstance(after, int)  # the default _check_position admits ints only
        after_position = -1 if after is None else int(after)
        feeds = [L.FEED_ALL] if categories is None else [L.category_pk(c) for c in dict.fromkeys(categories)]
        first_sequence = max(after_position // L.POSITION_STRIDE, 1)
        page = limit if types is None else None  # unfiltered, each entry yields at least one event
        entries = heapq.merge(*(self._feed(pk, first_sequence, page) for pk in feeds), key=lambda e: e.sequence)
        wanted: list[tuple[str, int, int]] = []  # (stream id, version, position), as the feed names them
        for entry in entries:
            for i, type_ in enumerate(entry.types):
                position = L.position_of(entry.sequence, i)
                if position > after_position and (types is None or type_ in types):
                    wanted.append((entry.stream_id, entry.first_version + i, position))
            if limit is not None and len(wanted) >= limit:
                break
        wanted = wanted[:limit]
        keys = [{"stream_id": L.s(stream), "version": L.n(version)} for stream, version, _ in wanted]
        found = {(e.stream_id, e.version): e for e in map(L.recorded_event, self._batch_get(self.tables.events, keys))}
        for stream, version, position in wanted:
            event = found.get((stream, version))
            if event is None or event.position != position:
                stored = "is not stored" if event is None else f"is stored with position {event.position}"
                raise EventStoreError(
                    f"the feed names event {version} of {stream!r} at position {position}, but that event {stored}: "
                    f"the tables are inconsistent (an engine lost part of a committed transaction)"
                )
        return [found[(stream, version)] for stream, version, _ in wanted]

    def _feed(self, pk: str, first_sequence: int, page: int | None) -> Iterator[L.FeedEntry]:
        """A feed's entries from ``first_sequence`` on, read lazily in pages of ``page`` entries (else 1 MB)."""
        items = self._query(
            TableName=self.tables.meta,
            KeyConditionExpression="pk = :pk AND sk >= :first",
            ExpressionAttributeValues={":pk": L.s(pk), ":first": L.n(first_sequence)},
            **({"Limit": page} if page is not None else {}),
        )
        return map(L.feed_entry, items)

    def _last_version(self, stream_id: str) -> int | None:
        items = self._client.query(
            TableName=self.tables.events,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "stream_id", "#v": "version"},
            ExpressionAttributeValues={":s": L.s(stream_id)},
            ProjectionExpression="#v",
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )["Items"]
        return int(items[0]["version"]["N"]) if items else None

    def _last_sequence(self) -> int:
        items = self._client.query(
            TableName=self.tables.meta,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": L.s(L.FEED_ALL)},
            ProjectionExpression="sk",
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )["Items"]
        return int(items[0]["sk"]["N"]) if items else 0

    # -- checkpoints ---------------------------------------------------------------------------

    def _load_checkpoint(self, name: str) -> Position | None:
        key = {"pk": L.s(L.checkpoint_pk(name)), "sk": L.n(0)}
        item = self._client.get_item(TableName=self.tables.meta, Key=key, ConsistentRead=True).get("Item")
        return int(item["position"]["N"]) if item else None

    def _save_checkpoint(self, name: str, position: Position, tx: Any) -> None:
        assert isinstance(position, int)  # the default _check_position admits ints only
        item = {"pk": L.s(L.checkpoint_pk(name)), "sk": L.n(0), "position": L.n(int(position))}
        self._client.put_item(TableName=self.tables.meta, Item=item)

    # -- snapshots -----------------------------------------------------------------------------

    def _save_snapshot(self, snapshot: Snapshot) -> None:
        item = L.snapshot_item(snapshot, _now())
        size = L.item_size(item)
        if size > L.MAX_ITEM_BYTES:
            raise LimitExceeded(f"snapshot of {snapshot.stream_id!r} is a {size:,}-byte item; DynamoDB stores at most {L.MAX_ITEM_BYTES:,}", limit=L.MAX_ITEM_BYTES, actual=size)
        self._client.put_item(TableName=self.tables.snapshots, Item=item)

    def _load_snapshot(self, stream_id: str, schema_version: int | None) -> Snapshot | None:
        query: dict[str, Any] = {
            "TableName": self.tables.snapshots,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "stream_id"},
            "ExpressionAttributeValues": {":s": L.s(stream_id)},
            "ScanIndexForward": False,
        }
        if schema_version is None:
            query["Limit"] = 1
        else:
            query["FilterExpression"] = "#sv = :sv"
            query["ExpressionAttributeNames"]["#sv"] = "schema_version"
            query["ExpressionAttributeValues"][":sv"] = L.n(schema_version)
        return next(map(L.snapshot_from, self._query(**query)), None)

    def _delete_snapshots(self, stream_id: str | None) -> None:
        names = {"#s": "stream_id", "#v": "version"}
        if stream_id is None:
            items = self._pages("scan", TableName=self.tables.snapshots, ProjectionExpression="#s, #v", ExpressionAttributeNames=names, ConsistentRead=True)
        else:
            items = self._query(
                TableName=self.tables.snapshots,
                KeyConditionExpression="#s = :s",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":s": L.s(stream_id)},
                ProjectionExpression="#s, #v",
            )
        self._batch_delete(self.tables.snapshots, list(items))

    # -- paging and batching -------------------------------------------------------------------

    def _query(self, **request: Any) -> Iterator[L.Item]:
        """Strongly consistent query, paged lazily: stop iterating and no further page is read."""
        return self._pages("query", ConsistentRead=True, **request)

    def _pages(self, operation: str, **request: Any) -> Iterator[L.Item]:
        call = getattr(self._client, operation)
        while True:
            page = call(**request)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _batch_get(self, table: str, keys: list[L.Item]) -> list[L.Item]:
        """Strongly consistent BatchGetItem of distinct keys, in chunks, retrying what DynamoDB leaves unprocessed.

        Keys asked for twice are fetched once: DynamoDB refuses a request that names a key twice.
        """
        keys = list({json.dumps(key, sort_keys=True): key for key in keys}.values())
        found: list[L.Item] = []
        for start in range(0, len(keys), _BATCH_GET):
            request = {table: {"Keys": keys[start : start + _BATCH_GET], "ConsistentRead": True}}
            for round_ in range(MAX_ROUNDS):
                response = self._client.batch_get_item(RequestItems=request)
                found += response["Responses"].get(table, [])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                _sleep_backoff(round_)
            else:
                raise EventStoreError(f"DynamoDB left keys of {table!r} unprocessed {MAX_ROUNDS} times in a row")
        return found

    def _batch_delete(self, table: str, keys: list[L.Item]) -> None:
        for start in range(0, len(keys), _BATCH_WRITE):
            request = {table: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + _BATCH_WRITE]]}
            for round_ in range(MAX_ROUNDS):
                request = self._client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
                _sleep_backoff(round_)
            else:
                raise EventStoreError(f"DynamoDB left deletes of {table!r} unprocessed {MAX_ROUNDS} times in a row")


def _refusal(actions: list[dict[str, Any]], message: str) -> InvalidInput:
    """The typed error for a transaction DynamoDB refused outright, judged from the request itself."""
    sizes = [L.item_size(a["Put"]["Item"]) for a in actions]
    events = (len(actions) - L.FIXED_ACTIONS_PER_APPEND) // 2
    if len(actions) > L.MAX_TRANSACTION_ACTIONS:
        return LimitExceeded(
            f"an append of {events} events needs {len(actions)} transaction actions; DynamoDB allows {L.MAX_TRANSACTION_ACTIONS} "
            f"and refused it ({message}); nothing was written",
            limit=L.MAX_TRANSACTION_ACTIONS,
            actual=len(actions),
        )
    if max(sizes) > L.MAX_ITEM_BYTES or "item size" in message.lower():  # the engine may count a little differently
        return LimitExceeded(
            f"an item of this append is {max(sizes):,} bytes; DynamoDB allows {L.MAX_ITEM_BYTES:,} and refused it ({message}); nothing was written",
            limit=L.MAX_ITEM_BYTES,
            actual=max(sizes),
        )
    if sum(sizes) > L.MAX_TRANSACTION_BYTES:
        return LimitExceeded(
            f"this append's transaction is {sum(sizes):,} bytes; DynamoDB allows {L.MAX_TRANSACTION_BYTES:,} and refused it ({message}); nothing was written",
            limit=L.MAX_TRANSACTION_BYTES,
            actual=sum(sizes),
        )
    return InvalidInput(f"DynamoDB refused the append ({message}); nothing was written")


def _reason_codes(response: dict[str, Any]) -> list[str]:
    """Per-action cancellation codes, from ``CancellationReasons`` or, failing that, the message's list."""
    reasons = response.get("CancellationReasons")
    if reasons:
        return [r.get("Code", "None") for r in reasons]
    listed = re.search(r"\[([^\]]*)\]\s*$", response.get("Error", {}).get("Message", ""))
    return [c.strip() for c in listed.group(1).split(",")] if listed else []


def _sleep_backoff(round_: int) -> None:
    """Full jitter: a random wait up to an exponentially growing, capped bound."""
    time.sleep(random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**round_)))


def _take(items: Iterator[L.Item], limit: int | None) -> Iterator[L.Item]:
    for count, item in enumerate(items):
        if limit is not None and count >= limit:
            return
        yield item


def _now() -> str:
    return datetime.now(UTC).isoformat()
