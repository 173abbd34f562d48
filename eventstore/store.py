"""The one API every backend implements.

``EventStore`` validates input and enforces the rules that do not depend on the engine; a backend
implements the underscored methods. The rules that do depend on the engine (the expected-version
check and idempotency, which must happen inside the engine's own atomic step) use the helpers at
the bottom of this module, so every backend reports them with the same errors.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .capabilities import Capabilities, EngineInfo
from .errors import ConcurrencyError, DuplicateEventError, InvalidInput, UnsupportedOperation
from .events import AppendResult, ExpectedVersion, NewEvent, Position, RecordedEvent, Snapshot, StreamState
from .subscriptions import Subscription, Wait
from .validation import (
    MAX_NAME_BYTES,
    PreparedEvent,
    check_expected_version,
    check_identifier,
    check_limit,
    check_stream_id,
    check_version,
    encode_json,
    prepare_batch,
)


class EventStore(ABC):
    """Append-only streams of events with a global order, checkpoints and snapshots."""

    capabilities: Capabilities
    engine: EngineInfo

    # -- writing -------------------------------------------------------------------------------

    def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = StreamState.ANY,
    ) -> AppendResult:
        """Append ``events`` to ``stream_id`` atomically, if the stream is at ``expected_version``.

        Raises ``ConcurrencyError`` (nothing written) on a version mismatch, ``DuplicateEventError``
        when some ids are already stored other than as this exact batch, ``InvalidInput`` for bad
        input. Re-appending an already stored batch returns the original result.
        """
        stream_id = check_stream_id(stream_id)
        expected = check_expected_version(expected_version)
        batch = prepare_batch(events, self.capabilities)
        return self._append(stream_id, batch, expected)

    @abstractmethod
    def _append(self, stream_id: str, batch: list[PreparedEvent], expected: ExpectedVersion) -> AppendResult: ...

    # -- reading -------------------------------------------------------------------------------

    def read_stream(
        self, stream_id: str, from_version: int = 0, limit: int | None = None, backwards: bool = False
    ) -> list[RecordedEvent]:
        """One stream's events from ``from_version`` (inclusive); backwards reads go down from it.

        ``from_version`` is ignored for a backwards read when it is 0: that reads from the end.
        """
        stream_id = check_stream_id(stream_id)
        from_version = check_version(from_version)
        limit = check_limit(limit)
        if limit == 0:
            return []
        return self._read_stream(stream_id, from_version, limit, backwards)

    @abstractmethod
    def _read_stream(
        self, stream_id: str, from_version: int, limit: int | None, backwards: bool
    ) -> list[RecordedEvent]: ...

    def stream_version(self, stream_id: str) -> int | None:
        """The stream's last version, or None when it has no events."""
        last = self.read_stream(stream_id, limit=1, backwards=True)
        return last[0].version if last else None

    def read_all(
        self,
        after: Position | None = None,
        limit: int | None = None,
        *,
        types: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
    ) -> list[RecordedEvent]:
        """Every stream's events in global order, strictly after the cursor ``after``.

        ``types`` and ``categories`` filter by event type and by stream category.
        """
        limit = check_limit(limit)
        type_list = self._names(types, "event type")
        category_list = self._names(categories, "category")
        if limit == 0:
            return []
        return self._read_all(self._check_position(after), limit, type_list, category_list)

    def read_category(self, category: str, after: Position | None = None, limit: int | None = None) -> list[RecordedEvent]:
        """The events of every stream named ``category-...``, in global order, after ``after``."""
        category = check_identifier(category, "category", MAX_NAME_BYTES)
        return self.read_all(after, limit, categories=[category])

    @abstractmethod
    def _read_all(
        self, after: Position | None, limit: int | None, types: list[str] | None, categories: list[str] | None
    ) -> list[RecordedEvent]: ...

    def _check_position(self, after: object) -> Position | None:
        """Backends with composite positions override this to accept their tuples."""
        if after is None:
            return None
        if isinstance(after, bool) or not isinstance(after, int):
            raise InvalidInput(f"position must be an int from a recorded event of this store, not {after!r}")
        return after

    @staticmethod
    def _names(values: Iterable[str] | None, what: str) -> list[str] | None:
        if values is None:
            return None
        if isinstance(values, str):
            raise InvalidInput(f"{what} filters must be a list of strings, not a single string")
        return [check_identifier(v, what, MAX_NAME_BYTES) for v in values]

    # -- checkpoints ---------------------------------------------------------------------------

    def load_checkpoint(self, name: str) -> Position | None:
        """The last position the named consumer recorded, or None."""
        return self._load_checkpoint(check_identifier(name, "subscription name", MAX_NAME_BYTES))

    def save_checkpoint(self, name: str, position: Position, tx: Any = None) -> None:
        """Record that the named consumer has processed everything up to ``position``.

        ``tx`` is the transaction handle from ``transaction()`` when the backend supports
        transactional checkpoints.
        """
        name = check_identifier(name, "subscription name", MAX_NAME_BYTES)
        checked = self._check_position(position)
        if checked is None:
            raise InvalidInput("checkpoint position must not be None")
        self._save_checkpoint(name, checked, tx)

    @abstractmethod
    def _load_checkpoint(self, name: str) -> Position | None: ...

    @abstractmethod
    def _save_checkpoint(self, name: str, position: Position, tx: Any) -> None: ...

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A transaction that handler writes and ``save_checkpoint(..., tx=...)`` share."""
        raise UnsupportedOperation(f"{self.engine.backend} does not support transactional checkpoints")
        yield  # pragma: no cover

    # -- snapshots -----------------------------------------------------------------------------

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store a snapshot; a snapshot is a cache, so losing one never changes a result."""
        check_stream_id(snapshot.stream_id)
        check_version(snapshot.version, "snapshot version")
        check_version(snapshot.schema_version, "snapshot schema_version")
        encode_json(snapshot.state, "snapshot state")
        self._save_snapshot(snapshot)

    def load_snapshot(self, stream_id: str, schema_version: int | None = None) -> Snapshot | None:
        """The newest snapshot of ``stream_id`` (of ``schema_version`` when given), or None."""
        check_stream_id(stream_id)
        if schema_version is not None:
            check_version(schema_version, "schema_version")
        return self._load_snapshot(stream_id, schema_version)

    def delete_snapshots(self, stream_id: str | None = None) -> None:
        """Drop the snapshots of one stream, or all of them."""
        if stream_id is not None:
            check_stream_id(stream_id)
        self._delete_snapshots(stream_id)

    @abstractmethod
    def _save_snapshot(self, snapshot: Snapshot) -> None: ...

    @abstractmethod
    def _load_snapshot(self, stream_id: str, schema_version: int | None) -> Snapshot | None: ...

    @abstractmethod
    def _delete_snapshots(self, stream_id: str | None) -> None: ...

    # -- subscriptions -------------------------------------------------------------------------

    def subscribe(
        self,
        name: str,
        handler: Callable[..., Any],
        *,
        types: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
        batch_size: int = 100,
        checkpoint_every: int = 100,
        poll_interval: float = 0.5,
        transactional: bool = False,
    ) -> Subscription:
        """A named, checkpointed consumer of ``read_all``; ``Subscription`` documents the options."""
        return Subscription(
            self,
            name,
            handler,
            types=types,
            categories=categories,
            batch_size=batch_size,
            checkpoint_every=checkpoint_every,
            poll_interval=poll_interval,
            transactional=transactional,
        )

    @contextmanager
    def notifications(self) -> Iterator[Wait]:
        """Yields ``wait(timeout)``: True as soon as the engine signals that new events may exist,
        False when ``timeout`` passed without a signal.

        The default has no signal: it sleeps the whole timeout and returns False, so subscribers
        poll. Engines that can wake a waiter override this.
        """

        def wait(timeout: float) -> bool:
            time.sleep(timeout)
            return False

        yield wait

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027  an optional hook: a store holding no connections keeps the no-op
        """Release connections; the store is unusable afterwards."""

    @abstractmethod
    def drop(self) -> None:
        """Delete this store and everything in it (schema, file, tables or topics), then close it.

        The harness and the conformance suite call it for every store they create, so runs against
        an external server leave nothing behind."""

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        e = self.engine
        return f"<{type(self).__name__} {e.engine} {e.version} mode={e.mode}>"


# -- engine-independent rules, applied by backends inside their atomic step ----------------------


def check_expected(stream_id: str, expected: ExpectedVersion, current: int | None) -> None:
    """Raise ``ConcurrencyError`` unless a stream at ``current`` satisfies ``expected``."""
    if expected is StreamState.ANY:
        return
    if expected is StreamState.NO_STREAM:
        ok = current is None
    elif expected is StreamState.EXISTS:
        ok = current is not None
    else:
        ok = current == expected
    if not ok:
        raise ConcurrencyError(stream_id, expected, current)


def match_retry(
    stream_id: str,
    batch: list[PreparedEvent],
    expected: ExpectedVersion,
    stored: Sequence[tuple[Any, str, int, Position]],
) -> AppendResult | None:
    """Decide what stored copies of a batch's ids mean.

    ``stored`` holds ``(event_id, stream_id, version, position)`` for those ids of the batch that are
    already stored. None stored: a new batch (returns None). All stored as this batch, in this
    stream, at consecutive versions in batch order (and where an exact expected version was given,
    right after it): an idempotent retry (returns the original result). Anything else raises
    ``DuplicateEventError``.
    """
    if not stored:
        return None
    by_id = {str(row[0]): row for row in stored}
    ids = [str(e.id) for e in batch]
    rows = [by_id.get(i) for i in ids]
    found = [r for r in rows if r is not None]
    if len(found) == len(rows):
        first = found[0][2]
        same_place = all(r[1] == stream_id and r[2] == first + n for n, r in enumerate(found))
        if isinstance(expected, int) and not isinstance(expected, bool):
            same_place = same_place and first == expected + 1
        elif expected is StreamState.NO_STREAM:
            same_place = same_place and first == 0
        if same_place:
            return AppendResult(stream_id, first, found[-1][2], found[-1][3])
    overlap = [i for i, r in zip(ids, rows, strict=True) if r]
    raise DuplicateEventError(
        f"{len(overlap)} of {len(ids)} event ids are already stored, but not as this batch at these "
        f"versions of {stream_id!r}; nothing was written",
        event_ids=overlap,
    )
