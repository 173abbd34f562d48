"""``esdb://``: the event store API on EventStoreDB / KurrentDB through its Python gRPC client.

The server does the work: an append is one ``Streams.Append`` (one event) or ``Streams.BatchAppend``
(several) with the expected version mapped onto the server's stream states and exact revisions;
``read_all`` reads ``$all`` from a commit position, filtered by the server; live subscribers are
woken by a catch-up subscription to ``$all``. Checkpoints and snapshots are streams of their own,
capped by ``$maxCount``. See README.md beside this file.
"""
from __future__ import annotations

import functools
import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..capabilities import EngineInfo
from ..errors import ConcurrencyError, EventStoreError, InvalidInput, LimitExceeded, StoreUnavailable, UnsupportedOperation
from ..events import AppendResult, ExpectedVersion, Position, RecordedEvent, Snapshot, StreamState
from ..store import EventStore
from ..subscriptions import Wait
from ..validation import PreparedEvent
from . import calls
from .calls import LOG
from .capabilities import capabilities, engine_info
from .client import ClientAPI, load_client
from .config import SNAPSHOTS_KEPT, TIMEOUT_S, ESDBConfig, literal

T = TypeVar("T")
#: Types of the store's own events ('$' names are the server's: its docs reserve them).
CHECKPOINT_TYPE = "eventstore.checkpoint"
SNAPSHOT_TYPE = "eventstore.snapshot"
#: How the client words the server's WrongExpectedVersion (``esdbclient`` and ``kurrentdbclient`` alike).
_CURRENT_REVISION = re.compile(r"last event is (\d+)")


class UnreadableEvent(EventStoreError):
    """An event in the store's streams was not written by this adapter (its data or metadata is not JSON)."""


class StreamDeleted(EventStoreError):
    """The stream was tombstoned (by ``drop()`` or by hand): the server refuses every later write to it."""


class EventStoreDBStore(EventStore):
    """One client connection; every guarantee is the server's, checked on the server."""

    def __init__(self, config: ESDBConfig, client: ClientAPI | None = None, timeout_s: float = TIMEOUT_S, retry_s: float = calls.RETRY_S) -> None:
        self.config = config
        self._retry_s = retry_s
        self.capabilities = capabilities(config.max_append_size)
        self.engine: EngineInfo = engine_info(config.version)
        self._api = client or load_client()
        self._timeout = timeout_s
        self._client = self._api.connect(config.uri)
        self._closed = False

    @classmethod
    def from_url(cls, url: str) -> EventStoreDBStore:
        return cls(ESDBConfig.from_url(url))

    def settings_summary(self) -> dict[str, Any]:
        """What a result records about this store: never credentials."""
        return {
            **self.config.summary(),
            "client": f"{self._api.package} {self._api.version}",
            "streams": f"{self.config.stream_name('<stream id>')}",
            "checkpoints": f"{self.config.checkpoint_stream('<name>')} ($maxCount 1)",
            "snapshots": f"{self.config.snapshot_stream('<stream id>')} ($maxCount {SNAPSHOTS_KEPT})",
            "filters": "server-side regex over $all (stream name; event type without a prefix)",
        }

    # -- append --------------------------------------------------------------------------------

    def _append(self, stream_id: str, batch: list[PreparedEvent], expected: ExpectedVersion) -> AppendResult:
        name = self._name(stream_id)
        events, size = self._encode(batch)
        state = self._stream_state(expected)

        def attempt() -> int:
            """The same request each time: a retry after a lost answer is the server's idempotent case."""
            try:
                return int(self._client.append_to_stream(
                    name, current_version=state, events=events[0] if len(events) == 1 else events, timeout=self._timeout
                ))
            except self._api.WrongVersion as exc:
                raise ConcurrencyError(stream_id, expected, self._actual_version(exc, name)) from None
            except self._api.ClientError as exc:
                text = f"{type(exc).__name__} {exc}".lower()
                if isinstance(exc, self._api.StreamDeleted) or "is deleted" in text:
                    raise StreamDeleted(f"stream {stream_id!r} is deleted (tombstoned); it can never be written again") from None
                if "maximumappendsize" in text or "maximum append size" in text:
                    raise LimitExceeded(
                        f"the server refused a {size}-byte append as larger than its MaxAppendSize; set max_append_size= "
                        "in the store URL to the server's value", limit=self.config.max_append_size, actual=size,
                    ) from None
                raise

        position = self._call(f"append to {stream_id!r}", attempt)
        if expected is StreamState.NO_STREAM:
            first = 0
        elif isinstance(expected, int):
            first = expected + 1
        else:  # the server chose the versions; the event at the returned position says which
            first = self._version_at(position, name, batch[-1].id) - len(batch) + 1
        return AppendResult(stream_id, first, first + len(batch) - 1, position)

    def _encode(self, batch: list[PreparedEvent]) -> tuple[list[Any], int]:
        """The client's events, after checking the append against the server's own size measure."""
        events, size = [], 0
        for e in batch:
            if e.type.startswith("$"):
                raise InvalidInput(f"event type {e.type!r}: types starting with '$' are the server's system events")
            data = e.data_json.encode()
            metadata = e.metadata_json.encode() if e.metadata else b""
            size += len(data) + len(metadata) + len(e.type.encode("utf-16-le"))  # 2 bytes per UTF-16 unit
            events.append(self._api.NewEvent(type=e.type, data=data, metadata=metadata, id=e.id))
        if size > self.config.max_append_size:
            raise LimitExceeded(
                f"append is {size} bytes as the server counts them; its MaxAppendSize is {self.config.max_append_size}",
                limit=self.config.max_append_size,
                actual=size,
            )
        return events, size

    def _stream_state(self, expected: ExpectedVersion) -> Any:
        if isinstance(expected, StreamState):
            return getattr(self._api.StreamState, expected.name)
        return expected

    def _actual_version(self, error: Exception, name: str) -> int | None:
        """The stream's version from the server's WrongExpectedVersion, as the client words it; if it
        words it otherwise, from a read (which may already be newer than the conflict)."""
        actual = getattr(error, "actual_version", None)  # kurrentdbclient carries it; esdbclient only words it
        if isinstance(actual, int):
            return actual
        text = str(error)
        if match := _CURRENT_REVISION.search(text):
            return int(match.group(1))
        if "does not exist" in text:
            return None
        last = self._last(name, 1)
        return last[0].stream_position if last else None

    def _version_at(self, position: int, name: str, last_id: Any) -> int:
        """The version of the event at ``position``: the last one an ANY or EXISTS append wrote."""
        def attempt() -> list[Any]:
            with self._client.read_all(commit_position=position, limit=1, filter_exclude=(), timeout=self._timeout) as found:
                return list(found)

        for e in self._call("read back an append", attempt):
            if e.id == last_id and e.stream_name == name:
                return int(e.stream_position)
        raise StoreUnavailable(f"the server acknowledged an append to {name!r} at position {position}, but its last event is not there")

    # -- reads ---------------------------------------------------------------------------------

    def _read_stream(self, stream_id: str, from_version: int, limit: int | None, backwards: bool) -> list[RecordedEvent]:
        name = self._name(stream_id)
        start = None if backwards and from_version == 0 else from_version

        def attempt() -> tuple[Any, ...]:
            try:
                return tuple(self._client.get_stream(
                    name, stream_position=start, backwards=backwards, limit=sys.maxsize if limit is None else limit, timeout=self._timeout
                ))
            except (self._api.NotFound, self._api.StreamDeleted):
                return ()

        return [self._decode(e, stream_id) for e in self._call(f"read {stream_id!r}", attempt)]

    def _read_all(
        self, after: Position | None, limit: int | None, types: list[str] | None, categories: list[str] | None
    ) -> list[RecordedEvent]:
        """Pages of the server's filtered ``$all``; a type filter the server cannot also apply is applied here."""
        if types == [] or categories == []:
            return []
        streams = self.config.events_regex(categories)
        mine = set(types) if types is not None and streams is not None else None
        out: list[RecordedEvent] = []
        seen = after
        while True:
            want = None if limit is None else limit - len(out)
            page = self._scan(seen, None if want is None else want + 1, streams, types if streams is None else None)
            for e in page:
                if seen is not None and e.commit_position <= seen:  # a read from a position includes it
                    continue
                seen = e.commit_position
                stream_id = self.config.stream_id(e.stream_name)
                if stream_id is None or e.type.startswith("$") or (mine is not None and e.type not in mine):
                    continue
                out.append(self._decode(e, stream_id))
                if limit is not None and len(out) == limit:
                    return out
            if want is None or len(page) < want + 1:
                return out

    def _scan(self, start: Position | None, count: int | None, streams: str | None, types: list[str] | None) -> list[Any]:
        """Events of ``$all`` from ``start`` (inclusive), filtered by the server: by stream name when
        ``streams``, else by type when ``types``, else excluding the server's system events."""
        options: dict[str, Any] = {"commit_position": start, "limit": sys.maxsize if count is None else count}
        if streams is not None:
            options.update(filter_include=[streams], filter_by_stream_name=True)
        elif types is not None:
            options.update(filter_include=["(?:" + "|".join(literal(t) for t in types) + ")"])

        def attempt() -> list[Any]:
            with self._client.read_all(timeout=self._timeout, **options) as found:
                return list(found)

        return self._call("read $all", attempt)

    def _decode(self, e: Any, stream_id: str) -> RecordedEvent:
        try:
            data = json.loads(e.data)
            metadata = json.loads(e.metadata) if e.metadata else {}
        except ValueError:
            raise UnreadableEvent(f"event {e.id} in {e.stream_name!r} is not JSON: it was not written by this adapter") from None
        return RecordedEvent(stream_id, int(e.stream_position), e.commit_position, e.id, e.type, data, metadata, e.recorded_at)

    def _check_position(self, after: object) -> Position | None:
        position = super()._check_position(after)
        if position is not None and position < 0:  # type: ignore[operator]
            raise InvalidInput(f"position must be a commit position >= 0 from a recorded event of this store, not {after!r}")
        return position

    # -- checkpoints and snapshots -------------------------------------------------------------

    def _load_checkpoint(self, name: str) -> Position | None:
        last = self._last(self.config.checkpoint_stream(name), 1)
        return int(json.loads(last[0].data)["position"]) if last else None

    def _save_checkpoint(self, name: str, position: Position, tx: Any) -> None:
        if tx is not None:
            raise UnsupportedOperation("eventstoredb does not support transactional checkpoints")
        self._append_capped(self.config.checkpoint_stream(name), CHECKPOINT_TYPE, {"position": position}, max_count=1)

    def _save_snapshot(self, snapshot: Snapshot) -> None:
        data = {"version": snapshot.version, "schema_version": snapshot.schema_version, "state": snapshot.state}
        self._append_capped(self.config.snapshot_stream(snapshot.stream_id), SNAPSHOT_TYPE, data, max_count=SNAPSHOTS_KEPT)

    def _load_snapshot(self, stream_id: str, schema_version: int | None) -> Snapshot | None:
        """The highest version among the kept snapshots (of ``schema_version`` when given)."""
        best: Snapshot | None = None
        for e in self._last(self.config.snapshot_stream(stream_id), SNAPSHOTS_KEPT):
            d = json.loads(e.data)
            if (schema_version is None or d["schema_version"] == schema_version) and (best is None or d["version"] > best.version):
                best = Snapshot(stream_id, d["version"], d["state"], d["schema_version"], e.recorded_at)
        return best

    def _delete_snapshots(self, stream_id: str | None) -> None:
        """Truncate (``$tb``) the snapshot streams: the events become unreadable at once, and the streams stay writable."""
        if stream_id is not None:
            names = [self.config.snapshot_stream(stream_id)]
        else:
            names = self._stream_names(self.config.snapshot_streams_regex)
        for name in names:
            last = self._last(name, 1)
            if last:
                metadata = {"$maxCount": SNAPSHOTS_KEPT, "$tb": last[0].stream_position + 1}
                self._call(f"delete snapshots in {name!r}", functools.partial(self._client.set_stream_metadata, name, metadata=metadata, timeout=self._timeout))

    def _append_capped(self, name: str, type_: str, data: dict[str, Any], max_count: int) -> None:
        """Append to a stream whose ``$maxCount`` is set when the stream is created (the first append)."""
        event = self._api.NewEvent(type=type_, data=json.dumps(data).encode())  # one id for every try

        def attempt() -> None:
            try:
                self._client.append_to_stream(name, current_version=self._api.StreamState.EXISTS, events=event, timeout=self._timeout)
                return
            except self._api.WrongVersion:  # no such stream yet: cap it, then create it
                pass
            self._client.set_stream_metadata(name, metadata={"$maxCount": max_count}, timeout=self._timeout)
            self._client.append_to_stream(name, current_version=self._api.StreamState.ANY, events=event, timeout=self._timeout)

        self._call(f"write {name!r}", attempt)

    def _last(self, name: str, n: int) -> tuple[Any, ...]:
        """The last ``n`` events of a server stream, newest first."""
        def attempt() -> tuple[Any, ...]:
            try:
                return tuple(self._client.get_stream(name, backwards=True, limit=n, timeout=self._timeout))
            except (self._api.NotFound, self._api.StreamDeleted):
                return ()

        return self._call(f"read {name!r}", attempt)

    def _stream_names(self, regex: str) -> list[str]:
        """The streams of ``$all`` whose names match ``regex``, by the server's filter."""
        def attempt() -> list[str]:
            with self._client.read_all(filter_include=[regex], filter_by_stream_name=True, timeout=self._timeout) as found:
                return list(dict.fromkeys(e.stream_name for e in found))

        return self._call("list streams", attempt)

    # -- live ----------------------------------------------------------------------------------

    @contextmanager
    def notifications(self) -> Iterator[Wait]:
        """A catch-up subscription to ``$all`` from its end, filtered like ``read_all``: the server pushes
        each new event of the store, and ``wait`` returns as soon as one arrives.

        When the server drops it (a node restarting, the leader moving), it is resumed from the last
        event it delivered and ``wait`` is woken once, so the consumer reads from its checkpoint whatever
        came meanwhile; while it cannot be resumed, waiting is polling."""
        arrived, stopping, lock = threading.Event(), threading.Event(), threading.Lock()
        streams = self.config.events_regex(None)
        options: dict[str, Any] = {"filter_include": [streams], "filter_by_stream_name": True} if streams else {}
        current = [self._call("subscribe to $all", lambda: self._client.subscribe_to_all(from_end=True, **options))]

        def resume(after: int | None) -> bool:
            where: dict[str, Any] = {"from_end": True} if after is None else {"commit_position": after}
            subscription = self._client.subscribe_to_all(**where, **options)
            with lock:
                if stopping.is_set():
                    subscription.stop()
                    return False
                current[0] = subscription
            arrived.set()
            return True

        def pump() -> None:
            last: int | None = None
            while not stopping.is_set():
                try:
                    for event in current[0]:
                        last = event.commit_position
                        arrived.set()
                    if stopping.is_set():
                        return
                    LOG.warning("EventStoreDB subscription to $all ended; resuming it")
                except Exception as exc:  # any way the live channel breaks: resume it, and say so
                    if stopping.is_set():
                        return
                    LOG.warning("EventStoreDB subscription to $all dropped (%r); resuming it", exc)
                pause = calls.FIRST_PAUSE_S
                while not stopping.wait(pause):
                    try:
                        if not resume(last):
                            return
                        break
                    except Exception as exc:  # the server is still away: live subscribers poll meanwhile
                        LOG.debug("EventStoreDB: cannot resume the subscription to $all yet (%r)", exc)
                        pause = min(2 * pause, calls.MAX_PAUSE_S)

        def wait(timeout: float) -> bool:
            woke = arrived.wait(timeout)
            arrived.clear()
            return woke

        thread = threading.Thread(target=pump, name="eventstoredb-notifications", daemon=True)
        thread.start()
        try:
            yield wait
        finally:
            with lock:
                stopping.set()
                current[0].stop()
            thread.join(5)

    # -- lifecycle -----------------------------------------------------------------------------

    def drop(self) -> None:
        """Tombstone every stream under the prefix (events, snapshots, checkpoints), then close."""
        regex = self.config.store_streams_regex
        try:
            if regex is None:
                raise UnsupportedOperation("drop() deletes the streams under the store's prefix, and this store has none: it is the whole database")
            for name in self._stream_names(regex):
                self._call(f"tombstone {name!r}", functools.partial(self._tombstone, name))
        finally:
            self.close()

    def _tombstone(self, name: str) -> None:
        try:
            self._client.tombstone_stream(name, current_version=self._api.StreamState.ANY, timeout=self._timeout)
        except (self._api.StreamDeleted, self._api.NotFound):  # already (a retried tombstone whose answer was lost)
            pass

    def close(self) -> None:
        """Close the client's channel once; idempotent."""
        if not self._closed:
            self._closed = True
            self._client.close()

    # -- helpers -------------------------------------------------------------------------------

    def _name(self, stream_id: str) -> str:
        if stream_id.startswith("$"):
            raise InvalidInput(f"stream id {stream_id[:40]!r}: ids starting with '$' are the server's system streams")
        name = self.config.stream_name(stream_id)
        if self.config.stream_id(name) != stream_id:
            raise InvalidInput(f"stream id {stream_id[:40]!r} is reserved for the store's checkpoints and snapshots")
        return name

    def _call(self, what: str, attempt: Callable[[], T]) -> T:
        """``attempt()`` through ``calls.call``: failures that say "try again" are tried again (the same
        request), answers are the caller's, every other client error is ``StoreUnavailable``."""
        if self._closed:
            raise EventStoreError("the EventStoreDB store is closed")
        return calls.call(what, attempt, api=self._api, client=self._client, where=self.config.safe_uri, retry_s=self._retry_s)
