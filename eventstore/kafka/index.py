"""What one partition cannot answer by itself, kept per store instance: where each stream's events are
and whether an event id is stored. A stream's versions are its events' places in log order.

Rebuilt by reading the events partition from offset 0 on first use, then kept current by reading
on (``Tail``). It costs about 300 bytes of memory per event, and a full scan at every start.
"""
from __future__ import annotations

from bisect import bisect_left

from confluent_kafka import Message

from .reader import Readers, Tail
from .records import headers, offset_of


class EventIndex(Tail):
    def __init__(self, readers: Readers, topic: str) -> None:
        super().__init__(readers, topic)
        self._streams: dict[str, list[int]] = {}
        self._ids: dict[str, tuple[str, int, int]] = {}

    def apply(self, message: Message) -> None:
        stream_id, event_id, _ = headers(message)
        offset = offset_of(message)
        offsets = self._streams.setdefault(stream_id, [])
        self._ids[event_id] = (stream_id, len(offsets), offset)
        offsets.append(offset)

    def version_at(self, stream_id: str, offset: int) -> int:
        """The version of the event at ``offset`` (indexed already) in its stream."""
        with self.lock:
            return bisect_left(self._streams[stream_id], offset)

    def offsets(self, stream_id: str) -> list[int]:
        """The offsets of the stream's events in log order: version n is at ``offsets[n]``."""
        with self.lock:
            return list(self._streams.get(stream_id, ()))

    def version(self, stream_id: str) -> int | None:
        """The stream's last version, or None when it has no events."""
        with self.lock:
            return len(self._streams[stream_id]) - 1 if stream_id in self._streams else None

    def stored(self, event_ids: list[str]) -> list[tuple[str, str, int, int]]:
        """``(event_id, stream_id, version, offset)`` of those ids already in the log, as ``match_retry`` takes them."""
        with self.lock:
            return [(i, *self._ids[i]) for i in event_ids if i in self._ids]
