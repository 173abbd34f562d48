"""The ``Streams`` gRPC service over ``Log``, built on the client's own generated stubs.

Only what the adapter sends: ``Append`` (one event), ``BatchAppend`` (several), ``Read`` (a stream
forwards or backwards; ``$all`` from a position, filtered; catch-up subscriptions to ``$all``) and
``Tombstone``. Errors come back the way the server sends them: a wrong expected version inside
``AppendResp`` for Append but as a ``google.rpc.Status`` wrapping ``WrongExpectedVersion`` for
BatchAppend; a tombstoned stream as FAILED_PRECONDITION; an oversized append as INVALID_ARGUMENT.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from .log import ANY, EXISTS, NO_STREAM, Deleted, Log, Proposed, Record, Written, WrongVersion
from .stubs import code_pb2, shared_pb2, status_pb2, streams_pb2, streams_pb2_grpc

Options: Any = streams_pb2.ReadReq.Options
_POLL_S = 0.2  # how often a waiting subscription checks that its caller is still there


class StreamsDouble(streams_pb2_grpc.StreamsServicer):
    def __init__(self, log: Log, max_append_size: int = 1_048_576) -> None:
        self.log = log
        self.max_append_size = max_append_size

    # -- appends -----------------------------------------------------------------------------

    def Append(self, request_iterator: Iterator[streams_pb2.AppendReq], context: grpc.ServicerContext) -> streams_pb2.AppendResp:
        options = next(request_iterator).options
        stream = options.stream_identifier.stream_name.decode()
        expected = _expected(options, "expected_stream_revision", "revision")
        events = [self._proposed(r.proposed_message, context) for r in request_iterator]
        self._check_size(events, context)
        try:
            outcome = self.log.append(stream, expected, events)
        except Deleted:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Event stream '{stream}' is deleted.")
        if isinstance(outcome, Written):
            position = streams_pb2.AppendResp.Position(commit_position=outcome.position, prepare_position=outcome.position)
            return streams_pb2.AppendResp(success=streams_pb2.AppendResp.Success(current_revision=outcome.last, position=position))
        wrong = streams_pb2.AppendResp.WrongExpectedVersion()
        if outcome.current < 0:
            wrong.current_no_stream.CopyFrom(shared_pb2.Empty())
            wrong.no_stream_20_6_0.CopyFrom(shared_pb2.Empty())
        else:
            wrong.current_revision = outcome.current
            wrong.current_revision_20_6_0 = outcome.current
        if expected >= 0:
            wrong.expected_revision = expected
        else:
            field = {ANY: "expected_any", EXISTS: "expected_stream_exists", NO_STREAM: "expected_no_stream"}[expected]
            getattr(wrong, field).CopyFrom(shared_pb2.Empty())
        return streams_pb2.AppendResp(wrong_expected_version=wrong)

    def BatchAppend(self, request_iterator: Iterator[streams_pb2.BatchAppendReq], context: grpc.ServicerContext) -> Iterator[streams_pb2.BatchAppendResp]:
        pending: dict[str, tuple[str, int, list[Proposed]]] = {}
        for request in request_iterator:
            correlation = request.correlation_id.string
            if request.HasField("options"):
                stream = request.options.stream_identifier.stream_name.decode()
                pending[correlation] = (stream, _expected(request.options, "expected_stream_position", "stream_position"), [])
            stream, expected, events = pending[correlation]
            events.extend(self._proposed(m, context) for m in request.proposed_messages)
            if not request.is_final:
                continue
            del pending[correlation]
            reply = streams_pb2.BatchAppendResp(correlation_id=request.correlation_id, stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode()))
            size = _size(events)
            if size > self.max_append_size:
                reply.error.CopyFrom(_status(code_pb2.INVALID_ARGUMENT, "MaximumAppendSizeExceeded", shared_pb2.MaximumAppendSizeExceeded(maxAppendSize=self.max_append_size)))
                yield reply
                continue
            try:
                outcome = self.log.append(stream, expected, events)
            except Deleted:
                deleted = shared_pb2.StreamDeleted(stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode()))
                reply.error.CopyFrom(_status(code_pb2.NOT_FOUND, "StreamDeleted", deleted))
                yield reply
                continue
            if isinstance(outcome, Written):
                position = shared_pb2.AllStreamPosition(commit_position=outcome.position, prepare_position=outcome.position)
                reply.success.CopyFrom(streams_pb2.BatchAppendResp.Success(current_revision=outcome.last, position=position))
            else:
                reply.error.CopyFrom(_status(code_pb2.ALREADY_EXISTS, "WrongExpectedVersion", _wrong_version(outcome, expected)))
            yield reply

    def Tombstone(self, request: streams_pb2.TombstoneReq, context: grpc.ServicerContext) -> streams_pb2.TombstoneResp:
        stream = request.options.stream_identifier.stream_name.decode()
        try:
            position = self.log.tombstone(stream)
        except Deleted:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Event stream '{stream}' is deleted.")
        return streams_pb2.TombstoneResp(position=streams_pb2.TombstoneResp.Position(commit_position=position, prepare_position=position))

    def _proposed(self, message: streams_pb2.AppendReq.ProposedMessage, context: grpc.ServicerContext) -> Proposed:
        for key in ("type", "content-type"):
            if key not in message.metadata:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Required Metadata Property '{key}' is missing")
        return Proposed(message.id.string, message.metadata["type"], message.metadata["content-type"], message.data, message.custom_metadata)

    def _check_size(self, events: list[Proposed], context: grpc.ServicerContext) -> None:
        if _size(events) > self.max_append_size:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Maximum Append Size of {self.max_append_size} Exceeded.")

    # -- reads -------------------------------------------------------------------------------

    def Read(self, request: streams_pb2.ReadReq, context: grpc.ServicerContext) -> Iterator[streams_pb2.ReadResp]:
        options = request.options
        backwards = options.read_direction == Options.Backwards
        if options.HasField("subscription"):
            if not options.HasField("all"):
                context.abort(grpc.StatusCode.UNIMPLEMENTED, "the double subscribes to $all only")
            yield from self._subscribe(options, context)
            return
        count = options.count
        if options.HasField("stream"):
            yield from self._read_stream(options.stream, backwards, count, context)
            return
        keep = _filter(options)
        records = self.log.snapshot()
        where = options.all.WhichOneof("all_option")
        if backwards:
            records.reverse()
            if where == "position":  # backwards from a position excludes it
                records = [r for r in records if r.position < options.all.position.commit_position]
        elif where == "position":  # forwards from a position includes it
            records = [r for r in records if r.position >= options.all.position.commit_position]
        sent = 0
        for record in records:
            if sent == count:
                return
            if keep(record):
                sent += 1
                yield _event(record)

    def _read_stream(self, stream_options: Options.StreamOptions, backwards: bool, count: int, context: grpc.ServicerContext) -> Iterator[streams_pb2.ReadResp]:
        name = stream_options.stream_identifier.stream_name.decode()
        try:
            events = self.log.stream(name)
        except Deleted:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Event stream '{name}' is deleted.")
        if events is None:
            yield streams_pb2.ReadResp(stream_not_found=streams_pb2.ReadResp.StreamNotFound(stream_identifier=stream_options.stream_identifier))
            return
        where = stream_options.WhichOneof("revision_option")
        if backwards:
            events.reverse()
            if where == "revision":
                events = [e for e in events if e.revision <= stream_options.revision]
        elif where == "revision":
            events = [e for e in events if e.revision >= stream_options.revision]
        for record in events[:count]:
            yield _event(record)

    def _subscribe(self, options: Options, context: grpc.ServicerContext) -> Iterator[streams_pb2.ReadResp]:
        """Confirmation first; then every matching record after the start (a position is excluded), then live ones."""
        yield streams_pb2.ReadResp(confirmation=streams_pb2.ReadResp.SubscriptionConfirmation(subscription_id=str(uuid.uuid4())))
        keep = _filter(options)
        where = options.all.WhichOneof("all_option")
        with self.log.changed:
            if where == "end":
                seen = len(self.log.records)
            elif where == "position":
                seen = sum(1 for r in self.log.records if r.position <= options.all.position.commit_position)
            else:
                seen = 0
        while context.is_active():
            with self.log.changed:
                if len(self.log.records) == seen:
                    self.log.changed.wait(_POLL_S)
                new = self.log.records[seen:]
            seen += len(new)
            for record in new:
                if keep(record):
                    yield _event(record)


def _expected(options: object, oneof: str, revision_field: str) -> int:
    which = options.WhichOneof(oneof)  # type: ignore[attr-defined]
    if which == revision_field:
        return getattr(options, revision_field)
    return {"any": ANY, "no_stream": NO_STREAM, "stream_exists": EXISTS}[which]


def _size(events: list[Proposed]) -> int:
    """As the server counts an append: data + metadata + 2 bytes per UTF-16 unit of the type."""
    return sum(len(e.data) + len(e.metadata) + len(e.type.encode("utf-16-le")) for e in events)


def _status(code: Any, message: str, detail: Any) -> status_pb2.Status:
    status = status_pb2.Status(code=code, message=message)
    status.details.Pack(detail)
    return status


def _wrong_version(outcome: WrongVersion, expected: int) -> shared_pb2.WrongExpectedVersion:
    wrong = shared_pb2.WrongExpectedVersion()
    if outcome.current < 0:
        wrong.current_no_stream.SetInParent()
    else:
        wrong.current_stream_revision = outcome.current
    if expected >= 0:
        wrong.expected_stream_position = expected
    else:
        field = {ANY: "expected_any", EXISTS: "expected_stream_exists", NO_STREAM: "expected_no_stream"}[expected]
        getattr(wrong, field).SetInParent()
    return wrong


def _filter(options: Options) -> Callable[[Record], bool]:
    """The server-side filter of a ``$all`` read: a regex (searched, as .NET's ``IsMatch``) or prefixes,
    on the stream name or on the event type."""
    if options.WhichOneof("filter_option") != "filter":
        return lambda record: True
    by_stream = options.filter.WhichOneof("filter") == "stream_identifier"
    expression = options.filter.stream_identifier if by_stream else options.filter.event_type
    if expression.regex:
        pattern = re.compile(expression.regex)
        matches: Callable[[str], bool] = lambda text: pattern.search(text) is not None
    else:
        prefixes = tuple(expression.prefix)
        matches = lambda text: text.startswith(prefixes)
    return (lambda r: matches(r.stream)) if by_stream else (lambda r: matches(r.type))


def _event(record: Record) -> streams_pb2.ReadResp:
    event = streams_pb2.ReadResp.ReadEvent.RecordedEvent(
        id=shared_pb2.UUID(string=record.id),
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=record.stream.encode()),
        stream_revision=record.revision,
        prepare_position=record.position,
        commit_position=record.position,
        metadata={"type": record.type, "content-type": record.content_type, "created": str(record.created)},
        custom_metadata=record.metadata,
        data=record.data,
    )
    return streams_pb2.ReadResp(event=streams_pb2.ReadResp.ReadEvent(event=event, commit_position=record.position))
