"""The ``Streams`` gRPC service over ``Log``, on the client's own generated stubs.

``Append`` (the client's call for one event), ``BatchAppend`` (several), ``Delete`` (soft delete),
``Tombstone`` (hard delete) and ``Read`` (a stream forwards or backwards, ``$all`` from a position,
filtered, and catch-up subscriptions, see ``subscriptions.py``). Answers as the server sends them
(``Services/Transport/Grpc/Streams.*.cs`` and ``RpcExceptions.cs`` in KurrentDB, as in EventStoreDB 24.10):
a wrong expected version inside ``AppendResp`` for Append, as a ``google.rpc.Status`` wrapping
``WrongExpectedVersion`` for BatchAppend, and as FAILED_PRECONDITION "Delete failed due to
WrongExpectedVersion..." for Delete and Tombstone; a deleted stream as FAILED_PRECONDITION "is deleted"
(a ``StreamDeleted`` status for BatchAppend); an oversized append as INVALID_ARGUMENT; a ``$all``
position inside a record as INVALID_ARGUMENT. Every call first asks ``Faults`` whether to fail.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from .faults import Faults, abort
from .log import ANY, EXISTS, NO_STREAM, Deleted, InvalidPosition, Log, Proposed, Record, Refused, Written
from .stubs import code_pb2, shared_pb2, status_pb2, streams_pb2, streams_pb2_grpc
from .subscriptions import INVALID_POSITION, Subscriptions

Options: Any = streams_pb2.ReadReq.Options


class StreamsDouble(streams_pb2_grpc.StreamsServicer):
    def __init__(self, log: Log, faults: Faults, max_append_size: int = 1_048_576) -> None:
        self.log = log
        self.faults = faults
        self.max_append_size = max_append_size
        self.subscriptions = Subscriptions(log, faults, _event, _filter)

    def _fail(self, method: str, context: grpc.ServicerContext, after_write: bool = False) -> None:
        failure = self.faults.take(method, after_write)
        if failure is not None:
            abort(context, failure)

    # -- appends -----------------------------------------------------------------------------

    def Append(self, request_iterator: Iterator[streams_pb2.AppendReq], context: grpc.ServicerContext) -> streams_pb2.AppendResp:
        self._fail("Append", context)
        options = next(request_iterator).options
        stream = options.stream_identifier.stream_name.decode()
        expected = _expected(options, "expected_stream_revision", "revision")
        events = [self._proposed(r.proposed_message, context) for r in request_iterator]
        if _size(events) > self.max_append_size:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Maximum Append Size of {self.max_append_size} Exceeded.")
        outcome = self.log.append(stream, expected, events)
        self._fail("Append", context, after_write=True)
        if isinstance(outcome, Written):
            position = streams_pb2.AppendResp.Position(commit_position=outcome.position, prepare_position=outcome.position)
            return streams_pb2.AppendResp(success=streams_pb2.AppendResp.Success(current_revision=outcome.last, position=position))
        if outcome.deleted:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Event stream '{stream}' is deleted.")
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
            getattr(wrong, _EXPECTED_FIELD[expected]).CopyFrom(shared_pb2.Empty())
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
            failure = self.faults.take("BatchAppend", after_write=False)
            if failure is not None and failure.in_band_not_ready:  # NotHandled(NotReady): an error response, details Empty
                reply.error.CopyFrom(_status(code_pb2.UNAVAILABLE, failure.details, shared_pb2.Empty()))
                yield reply
                continue
            if failure is not None:
                abort(context, failure)
            if _size(events) > self.max_append_size:
                reply.error.CopyFrom(_status(code_pb2.INVALID_ARGUMENT, "MaximumAppendSizeExceeded", shared_pb2.MaximumAppendSizeExceeded(maxAppendSize=self.max_append_size)))
                yield reply
                continue
            outcome = self.log.append(stream, expected, events)
            self._fail("BatchAppend", context, after_write=True)
            if isinstance(outcome, Written):
                position = shared_pb2.AllStreamPosition(commit_position=outcome.position, prepare_position=outcome.position)
                reply.success.CopyFrom(streams_pb2.BatchAppendResp.Success(current_revision=outcome.last, position=position))
            elif outcome.deleted:
                deleted = shared_pb2.StreamDeleted(stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode()))
                reply.error.CopyFrom(_status(code_pb2.NOT_FOUND, "StreamDeleted", deleted))
            else:
                reply.error.CopyFrom(_status(code_pb2.ALREADY_EXISTS, "WrongExpectedVersion", _wrong_version(outcome, expected)))
            yield reply

    def _proposed(self, message: Any, context: grpc.ServicerContext) -> Proposed:
        for key in ("type", "content-type"):
            if key not in message.metadata:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Required Metadata Property '{key}' is missing")
        return Proposed(message.id.string, message.metadata["type"], message.metadata["content-type"], message.data, message.custom_metadata)

    # -- deletes -----------------------------------------------------------------------------

    def Delete(self, request: streams_pb2.DeleteReq, context: grpc.ServicerContext) -> streams_pb2.DeleteResp:
        position = self._delete("Delete", request.options, False, context)
        return streams_pb2.DeleteResp(position=streams_pb2.DeleteResp.Position(commit_position=position, prepare_position=position))

    def Tombstone(self, request: streams_pb2.TombstoneReq, context: grpc.ServicerContext) -> streams_pb2.TombstoneResp:
        position = self._delete("Tombstone", request.options, True, context)
        return streams_pb2.TombstoneResp(position=streams_pb2.TombstoneResp.Position(commit_position=position, prepare_position=position))

    def _delete(self, method: str, options: Any, hard: bool, context: grpc.ServicerContext) -> int:
        """``Streams.Delete.cs``: both RPCs report a failed check as the operation "Delete"."""
        self._fail(method, context)
        stream = options.stream_identifier.stream_name.decode()
        expected = _expected(options, "expected_stream_revision", "revision")
        outcome = self.log.delete(stream, expected, hard)
        self._fail(method, context, after_write=True)
        if isinstance(outcome, Refused):
            if outcome.deleted:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Event stream '{stream}' is deleted.")
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          f"Delete failed due to WrongExpectedVersion. Stream: {stream}, Expected version: {expected}, Actual version: {outcome.current}")
        assert isinstance(outcome, int)
        return outcome

    # -- reads -------------------------------------------------------------------------------

    def Read(self, request: streams_pb2.ReadReq, context: grpc.ServicerContext) -> Iterator[streams_pb2.ReadResp]:
        self._fail("Read", context)
        options = request.options
        if options.HasField("subscription"):
            yield from (self.subscriptions.to_stream if options.HasField("stream") else self.subscriptions.to_all)(options, context)
        elif options.HasField("stream"):
            yield from self._read_stream(options, context)
        else:
            yield from self._read_all(options, context)

    def _read_all(self, options: Any, context: grpc.ServicerContext) -> Iterator[streams_pb2.ReadResp]:
        backwards = options.read_direction == Options.Backwards
        keep = _filter(options)
        position = options.all.position.commit_position if options.all.WhichOneof("all_option") == "position" else None
        try:
            at = self.log.index(position, backwards)
        except InvalidPosition:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, INVALID_POSITION)
        records = self.log.slice(0, at)[::-1] if backwards else self.log.slice(at)
        sent = 0
        for record in records:
            if sent == options.count:
                return
            if keep(record):
                sent += 1
                yield _event(record)

    def _read_stream(self, options: Any, context: grpc.ServicerContext) -> Iterator[streams_pb2.ReadResp]:
        stream_options = options.stream
        name = stream_options.stream_identifier.stream_name.decode()
        try:
            events = self.log.stream(name)
        except Deleted:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Event stream '{name}' is deleted.")
        if events is None:
            yield streams_pb2.ReadResp(stream_not_found=streams_pb2.ReadResp.StreamNotFound(stream_identifier=stream_options.stream_identifier))
            return
        where = stream_options.WhichOneof("revision_option")
        if options.read_direction == Options.Backwards:
            events = [e for e in reversed(events) if where != "revision" or e.revision <= stream_options.revision]
        elif where == "revision":
            events = [e for e in events if e.revision >= stream_options.revision]
        for record in events[:options.count]:
            yield _event(record)


_EXPECTED_FIELD = {ANY: "expected_any", EXISTS: "expected_stream_exists", NO_STREAM: "expected_no_stream"}


def _expected(options: object, oneof: str, revision_field: str) -> int:
    which = options.WhichOneof(oneof)  # type: ignore[attr-defined]
    if which == revision_field:
        return int(getattr(options, revision_field))
    return {"any": ANY, "no_stream": NO_STREAM, "stream_exists": EXISTS}[which]


def _size(events: list[Proposed]) -> int:
    """As the server counts an append: data + metadata + 2 bytes per UTF-16 unit of the type."""
    return sum(len(e.data) + len(e.metadata) + len(e.type.encode("utf-16-le")) for e in events)


def _status(code: Any, message: str, detail: Any) -> status_pb2.Status:
    status = status_pb2.Status(code=code, message=message)
    status.details.Pack(detail)
    return status


def _wrong_version(outcome: Refused, expected: int) -> shared_pb2.WrongExpectedVersion:
    wrong = shared_pb2.WrongExpectedVersion()
    if outcome.current < 0:
        wrong.current_no_stream.SetInParent()
    else:
        wrong.current_stream_revision = outcome.current
    if expected >= 0:
        wrong.expected_stream_position = expected
    else:
        getattr(wrong, _EXPECTED_FIELD[expected]).SetInParent()
    return wrong


def _filter(options: Any) -> Callable[[Record], bool]:
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

