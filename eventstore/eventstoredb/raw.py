"""EventStoreDB's raw path: the gRPC client's own calls on the store's streams, for the overhead workload.

The same server, client (``esdbclient`` or its successor), stream names (``<prefix>.<stream id>``)
and JSON encoding as the store: ``append_to_stream`` with no expected-version check
(``StreamState.ANY``), one call per event or one per batch, and ``read_all`` of ``$all`` in pages,
scoped to the store's prefix by the server's stream-name filter, decoding ``data`` with
``json.loads``; without the store's size check, version bookkeeping and ``RecordedEvent``s.
Live: the client's own catch-up subscription to ``$all`` from its end, with the same filter.
"""
from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from ..events import NewEvent
from ..plugins import RawListener, RawPath, RawRow
from .client import load_client
from .config import ESDBConfig

#: Seconds a call may take (the store's own timeout).
TIMEOUT_S = 30.0


class EventStoreDBRawPath(RawPath):
    describe = "the gRPC client alone: append_to_stream with StreamState.ANY (one call per append or batch), read_all pages filtered to the prefix + json.loads"

    def __init__(self, url: str) -> None:
        self._config = ESDBConfig.from_url(url)
        self._api = load_client()
        self._client = self._api.connect(self._config.uri)
        self._filter = self._config.events_regex(None)

    def _event(self, event: NewEvent) -> Any:
        metadata = json.dumps(event.metadata).encode() if event.metadata else b""
        return self._api.NewEvent(type=event.type, data=json.dumps(event.data).encode(), metadata=metadata, id=event.id)

    def append_one(self, stream_id: str, event: NewEvent) -> None:
        self._client.append_to_stream(self._config.stream_name(stream_id), current_version=self._api.StreamState.ANY,
                                      events=self._event(event), timeout=TIMEOUT_S)

    def append_batch(self, stream_id: str, events: Sequence[NewEvent]) -> None:
        self._client.append_to_stream(self._config.stream_name(stream_id), current_version=self._api.StreamState.ANY,
                                      events=[self._event(e) for e in events], timeout=TIMEOUT_S)

    def read_page(self, after: Any, limit: int) -> list[RawRow]:
        options: dict[str, Any] = {"commit_position": after, "limit": limit + (after is not None), "timeout": TIMEOUT_S}
        if self._filter is not None:  # else the client's default filter: everything but the server's system events
            options.update(filter_include=[self._filter], filter_by_stream_name=True)
        loads, stream_id = json.loads, self._config.stream_id
        with self._client.read_all(**options) as found:
            events = [e for e in found if after is None or e.commit_position > after]  # a read from a position includes it
        return [(e.commit_position, stream_id(e.stream_name) or e.stream_name, int(e.stream_position), e.type, loads(e.data), e.id,
                 loads(e.metadata) if e.metadata else {}, e.recorded_at) for e in events[:limit]]

    def listen(self, poll_interval: float) -> RawListener:
        return EventStoreDBListener(self._api.connect(self._config.uri), self._filter)

    def close(self) -> None:
        self._client.close()


class EventStoreDBListener(RawListener):
    describe = "the client's own catch-up subscription to $all from its end, filtered to the prefix, on a client of its own"

    def __init__(self, client: Any, streams: str | None) -> None:
        self._client = client
        options: dict[str, Any] = {"filter_include": [streams], "filter_by_stream_name": True} if streams else {}
        try:
            self._subscription = client.subscribe_to_all(from_end=True, **options)
        except BaseException:
            client.close()
            raise
        #: Event ids as the subscription delivers them, or the error that ended it.
        self._arrived: queue.SimpleQueue[uuid.UUID | BaseException] = queue.SimpleQueue()
        self._closing = False
        self._thread = threading.Thread(target=self._pump, name="raw-listener", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for event in self._subscription:
                self._arrived.put(event.id)
        except Exception as exc:  # the subscription broke: the next poll raises it (unless we stopped it)
            if not self._closing:
                self._arrived.put(exc)

    def poll(self, timeout: float) -> list[uuid.UUID]:
        try:
            found = [self._arrived.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:  # then whatever else has arrived, without waiting
            try:
                found.append(self._arrived.get_nowait())
            except queue.Empty:
                break
        for item in found:
            if isinstance(item, BaseException):
                raise item
        return [item for item in found if isinstance(item, uuid.UUID)]

    def close(self) -> None:
        self._closing = True
        self._subscription.stop()
        self._thread.join(5)
        self._client.close()
