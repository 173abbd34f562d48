"""Catch-up subscriptions, to ``$all`` and to one stream, as the server sends them.

From ``Services/Transport/Enumerators/`` (KurrentDB; the same messages in EventStoreDB 24.10):

- ``Enumerator.AllSubscriptionFiltered.cs``: the confirmation first; from a position, the events after
  it (exclusive); while catching up, a checkpoint each time ``window x checkpointIntervalMultiplier``
  records have been considered, matching the filter or not, and one when the catch-up reaches the end
  of the log; then "caught up"; live, the same checkpoints. From the end: confirmed, caught up, live.
- ``Enumerator.AllSubscription.cs``: without a filter, no checkpoints.
- ``Enumerator.StreamSubscription.cs``: one stream from its start, after a revision (exclusive) or from
  its end; a stream that does not exist yet is waited for, a tombstoned one ends the call as deleted.

A checkpoint carries the position of the last record considered, never beyond the end of the log.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from .faults import Faults, abort
from .log import DELETED, Deleted, InvalidPosition, Log, Record
from .stubs import streams_pb2

Options: Any = streams_pb2.ReadReq.Options
Filter = Callable[[Record], bool]
POLL_S = 0.2  # how often a waiting subscription checks that its caller is still there
INVALID_POSITION = "Trying to read from an invalid position."


class Subscriptions:
    def __init__(self, log: Log, faults: Faults, event: Callable[[Record], Any], keep: Callable[[Any], Filter]) -> None:
        self.log = log
        self.faults = faults
        self._event = event  # a record as the ReadResp the server sends
        self._keep = keep  # the server-side filter of a read's options

    def to_all(self, options: Any, context: grpc.ServicerContext) -> Iterator[streams_pb2.ReadResp]:
        keep = self._keep(options)
        filtered = options.WhichOneof("filter_option") == "filter"
        interval = max(1, options.filter.max * options.filter.checkpointIntervalMultiplier) if filtered else 0
        where = options.all.WhichOneof("all_option")
        try:
            start = self.log.size() if where == "end" else self._after(options.all.position.commit_position) if where == "position" else 0
        except InvalidPosition:
            start = -1
        yield _confirmation()
        if start < 0:  # confirmed, then ended by the first read of the catch-up
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, INVALID_POSITION)
        considered, last = 0, (options.all.position.commit_position if where == "position" else None)
        live = where == "end"
        seen = start
        if not live:
            while True:  # catch up until the end of the log, then go live
                batch = self.log.slice(seen)
                if not batch:
                    break
                seen += len(batch)
                for record in batch:
                    considered, last = considered + 1, record.position
                    if keep(record):
                        yield from self._send(record, context)
                    if interval and considered >= interval:
                        considered = 0
                        yield _checkpoint(last)
            if interval and last is not None:
                yield _checkpoint(last)
        yield _caught_up()
        for record in self._live(seen, context):
            considered += 1
            if keep(record):
                yield from self._send(record, context)
            if interval and considered >= interval:
                considered = 0
                yield _checkpoint(record.position)

    def to_stream(self, options: Any, context: grpc.ServicerContext) -> Iterator[streams_pb2.ReadResp]:
        name = options.stream.stream_identifier.stream_name.decode()
        where = options.stream.WhichOneof("revision_option")
        yield _confirmation()
        with self.log.changed:  # the catch-up and where live starts, at one moment
            seen = self.log.size()
            try:
                events = self.log.stream(name) or []
            except Deleted:
                events = None
            last = self.log.last_revision(name)
        if events is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Event stream '{name}' is deleted.")
        after = last if where == "end" else options.stream.revision if where == "revision" else -1
        for record in events:
            if record.revision > after:
                after = record.revision
                yield from self._send(record, context)
        yield _caught_up()
        for record in self._live(seen, context):
            if record.stream != name:
                continue
            if record.revision == DELETED:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Event stream '{name}' is deleted.")
            if record.revision > after:
                after = record.revision
                yield from self._send(record, context)

    def _after(self, position: int) -> int:
        """The index in the log of the first record after ``position``."""
        at = self.log.index(position)
        following = self.log.slice(at, at + 1)
        return at + 1 if following and following[0].position == position else at

    def _live(self, seen: int, context: grpc.ServicerContext) -> Iterator[Record]:
        """Every record appended after the first ``seen``, as it comes, while the caller is there."""
        while context.is_active():
            with self.log.changed:
                if self.log.size() == seen:
                    self.log.changed.wait(POLL_S)
                new = self.log.slice(seen)
            seen += len(new)
            yield from new

    def _send(self, record: Record, context: grpc.ServicerContext) -> Iterator[streams_pb2.ReadResp]:
        drop = self.faults.next_subscription_event()
        if drop is not None:
            abort(context, drop)
        yield self._event(record)


def _confirmation() -> streams_pb2.ReadResp:
    return streams_pb2.ReadResp(confirmation=streams_pb2.ReadResp.SubscriptionConfirmation(subscription_id=str(uuid.uuid4())))


def _checkpoint(position: int) -> streams_pb2.ReadResp:
    return streams_pb2.ReadResp(checkpoint=streams_pb2.ReadResp.Checkpoint(commit_position=position, prepare_position=position))


def _caught_up() -> streams_pb2.ReadResp:
    return streams_pb2.ReadResp(caught_up=streams_pb2.ReadResp.CaughtUp())

