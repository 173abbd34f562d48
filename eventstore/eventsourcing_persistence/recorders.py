"""The library's recorders over our store: reads through the store's API, writes through the
engine's dialect inside ``store.transaction()``.

Our stream versions are the library's originator versions as given (an aggregate's first event is
version 1, a snapshot stream's versions are sparse); UNIQUE (stream_id, version) is the optimistic
concurrency check, as in the library's own recorders. Each application's events are streams of its
own category (``<application>-<originator id>``), so one store holds several applications and each
reads only its own notification log, through the category index.
"""
from __future__ import annotations

import collections
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DatabaseError,
    DataError,
    Notification,
    OperationalError,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)

from ..errors import EventStoreError, InvalidInput, StoreUnavailable
from ..events import RecordedEvent
from ..store import EventStore
from .codec import Codec, check_category, data_state
from .dialects import Checkpoint, Dialect, Position

#: How long a blocked subscription waits for the engine's signal before it reads again anyway.
WAIT_SECONDS = 0.1


@contextmanager
def library_errors(dialect: Dialect) -> Iterator[None]:
    """Our store's errors and the driver's, as the library's ``PersistenceError`` family."""
    try:
        with dialect.errors():
            yield
    except InvalidInput as exc:
        raise DataError(str(exc)) from exc
    except StoreUnavailable as exc:
        raise OperationalError(str(exc)) from exc
    except EventStoreError as exc:  # any other refusal of our store: still one of the library's family
        raise DatabaseError(str(exc)) from exc


class _Writer:
    """The write step the recorders share: rows and an optional tracking record, one transaction."""

    store: EventStore
    dialect: Dialect

    def _write(self, rows: list[tuple[str, int, str, str]], checkpoint: Checkpoint | None) -> list[int]:
        with library_errors(self.dialect):
            with self.store.transaction() as tx:
                positions = self.dialect.write(tx, rows, checkpoint)
            self.dialect.committed(positions)
        return [self.dialect.notification_id(p) for p in positions]


class StoreAggregateRecorder(_Writer, AggregateRecorder):
    """One category's streams: insert at the library's versions, select by version range."""

    def __init__(self, store: EventStore, dialect: Dialect, codec: Codec) -> None:
        self.store = store
        self.dialect = dialect
        self.codec = codec

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if stored_events:
            self._write(self._rows(stored_events), None)
        return None

    def _rows(self, stored_events: Sequence[StoredEvent]) -> list[tuple[str, int, str, str]]:
        return [self.codec.row(e.originator_id, e.originator_version, e.topic, e.state) for e in stored_events]

    def select_events(
        self,
        originator_id: uuid.UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """Versions are unique integers, so a range bounds the count too: the read asks for no more."""
        low = 0 if gt is None else max(gt + 1, 0)
        if (lte is not None and lte < low) or limit == 0:
            return []
        stream_id = self.codec.stream_id(originator_id)
        if lte is not None:
            span = lte - low + 1
            limit = span if limit is None else min(limit, span)
        with library_errors(self.dialect):
            if not desc:
                found = self.store.read_stream(stream_id, low, limit)
                events = [e for e in found if lte is None or e.version <= lte]
            elif lte == 0:  # a backwards read from version 0 would start at the end
                events = self.store.read_stream(stream_id, 0, 1)
            else:
                found = self.store.read_stream(stream_id, lte or 0, limit, backwards=True)
                events = [e for e in found if e.version >= low]
        return [StoredEvent(originator_id, e.version, e.type, data_state(e.data)) for e in events]


class StoreApplicationRecorder(StoreAggregateRecorder, ApplicationRecorder):
    """Adds the application's notification log: its category of ``read_all``, ids from positions."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        return self._write(self._rows(stored_events), None) if stored_events else None

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        if limit <= 0:
            return []
        after = None
        if start is not None:
            after = self.dialect.position(start - 1 if inclusive_of_start else start)
        with library_errors(self.dialect):
            events = self.store.read_all(after, limit, types=list(topics) or None, categories=[self.codec.category])
        notifications = []
        for event in events:
            notification = self._notification(event)
            if stop is not None and notification.id > stop:
                break
            notifications.append(notification)
        return notifications

    def _notification(self, event: RecordedEvent) -> Notification:
        return Notification(
            id=self.dialect.notification_id(event.position),
            originator_id=self.codec.originator_id(event.stream_id),
            originator_version=event.version,
            topic=event.type,
            state=data_state(event.data),
        )

    def max_notification_id(self) -> int | None:
        with library_errors(self.dialect):
            position = self.dialect.max_position(self.codec.category)
        return None if position is None else self.dialect.notification_id(position)

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        return StoreSubscription(self, gt=gt, topics=topics)


class StoreTrackingRecorder(_Writer, TrackingRecorder):
    """Tracking records as our checkpoints, named ``<this application>.tracking.<upstream>``, which
    only move forward: recording a notification at or before the stored one is an IntegrityError."""

    def __init__(self, store: EventStore, dialect: Dialect, codec: Codec) -> None:
        self.store = store
        self.dialect = dialect
        self.codec = codec

    def _checkpoint_name(self, application_name: str) -> str:
        return f"{self.codec.category}.tracking.{check_category(application_name)}"

    def _checkpoint(self, tracking: Tracking) -> Checkpoint:
        return self._checkpoint_name(tracking.application_name), tracking.notification_id

    def insert_tracking(self, tracking: Tracking) -> None:
        self._write([], self._checkpoint(tracking))

    def max_tracking_id(self, application_name: str) -> int | None:
        with library_errors(self.dialect):
            position: Position | None = self.store.load_checkpoint(self._checkpoint_name(application_name))
        return None if position is None else self.dialect.notification_id(position)


class StoreProcessRecorder(StoreTrackingRecorder, StoreApplicationRecorder, ProcessRecorder):
    """Events and the tracking record of the notification that caused them, in one transaction."""

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        checkpoint = None if tracking is None else self._checkpoint(tracking)
        if not stored_events and checkpoint is None:
            return None
        return self._write(self._rows(stored_events), checkpoint)


class StoreSubscription(Subscription[StoreApplicationRecorder]):
    """Reads pages of the notification log; when caught up, waits for the engine's signal (PostgreSQL
    LISTEN/NOTIFY, SQLite's data_version), at most ``WAIT_SECONDS`` so that ``stop()`` from another
    thread is seen promptly."""

    def __init__(self, recorder: StoreApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._buffer: collections.deque[Notification] = collections.deque()
        self._signal = recorder.store.notifications()
        self._wait = self._signal.__enter__()
        self._open = True

    def __next__(self) -> Notification:
        while not self._has_been_stopped:
            if self._buffer:
                notification = self._buffer.popleft()
                self._last_notification_id = notification.id
                return notification
            page = self._recorder.select_notifications(
                self._last_notification_id, 500, topics=self._topics, inclusive_of_start=False
            )
            if page:
                self._buffer.extend(page)
            else:
                self._wait(WAIT_SECONDS)
        self._close()
        raise StopIteration

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._close()

    def _close(self) -> None:
        if self._open:
            self._open = False
            self._signal.__exit__(None, None, None)
