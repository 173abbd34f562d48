"""Checkpointed consumers: catch up from the stored checkpoint, then follow live appends.

Delivery is at-least-once: after a crash a consumer resumes from its last checkpoint and sees again
at most the events handled since (``checkpoint_every`` bounds that). With ``transactional=True`` the
handler's writes and the checkpoint commit together, which makes processing effectively once.
The data path: ``append`` -> engine -> ``read_all(after=checkpoint)`` -> handler -> checkpoint.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput, SubscriptionError
from .events import Position, RecordedEvent
from .validation import MAX_NAME_BYTES, check_float, check_identifier

if TYPE_CHECKING:
    from .store import EventStore


class Subscription:
    """A named consumer of ``store.read_all``.

    Parameters:
        store: the event store to read from.
        name: the consumer's name; its checkpoint is stored under it.
        handler: ``handler(event)``, or ``handler(event, tx)`` when ``transactional``.
        types / categories: optional filters, as for ``read_all``.
        batch_size: events read per query.
        checkpoint_every: save the checkpoint after this many handled events (and whenever caught
            up); a crash repeats at most this many events.
        poll_interval: longest wait for new events when the engine does not push notifications.
        transactional: run each batch's handler calls and its checkpoint in one store transaction.
    """

    def __init__(
        self,
        store: "EventStore",
        name: str,
        handler: Callable[..., Any],
        *,
        types: list[str] | None = None,
        categories: list[str] | None = None,
        batch_size: int = 100,
        checkpoint_every: int = 100,
        poll_interval: float = 0.5,
        transactional: bool = False,
    ) -> None:
        self.store = store
        self.name = check_identifier(name, "subscription name", MAX_NAME_BYTES)
        self.handler = handler
        self.types = types
        self.categories = categories
        if batch_size < 1 or checkpoint_every < 1:
            raise InvalidInput("batch_size and checkpoint_every must be >= 1")
        self.batch_size = batch_size
        self.checkpoint_every = checkpoint_every
        self.poll_interval = check_float(poll_interval, "poll_interval")
        self.transactional = transactional
        self.position: Position | None = store.load_checkpoint(self.name)
        self.handled = 0
        self._unsaved = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- running -------------------------------------------------------------------------------

    def run(self, *, until_caught_up: bool = False) -> int:
        """Consume until ``stop()`` (or, with ``until_caught_up``, until no event is left).

        Returns the number of events handled. A handler error raises ``SubscriptionError`` after
        saving the checkpoint of the last event handled successfully.
        """
        start = self.handled
        with self.store.notifications() as wait:
            while not self._stop.is_set():
                batch = self.store.read_all(self.position, self.batch_size, types=self.types, categories=self.categories)
                if batch:
                    self._process(batch)
                    if len(batch) == self.batch_size:
                        continue
                self._checkpoint()  # caught up: a cheap moment to save
                if until_caught_up:
                    break
                wait(self.poll_interval)
        self._checkpoint()
        return self.handled - start

    def catch_up(self) -> int:
        """Handle everything already visible, then return the number of events handled."""
        return self.run(until_caught_up=True)

    def start(self) -> "Subscription":
        """Run in a background thread; ``stop()`` ends it and ``error`` holds any handler failure."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_in_thread, name=f"subscription-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the consumer to stop after the current event, and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def error(self) -> BaseException | None:
        return self._error

    def _run_in_thread(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # reported through .error; the thread must not die silently
            self._error = exc

    # -- one batch -----------------------------------------------------------------------------

    def _process(self, batch: list[RecordedEvent]) -> None:
        if self.transactional:
            self._process_in_transaction(batch)
            return
        for event in batch:
            if self._stop.is_set():
                break
            try:
                self.handler(event)
            except Exception as exc:
                self._checkpoint()
                raise SubscriptionError(self.name, event.position, exc) from exc
            self.position = event.position
            self.handled += 1
            self._unsaved += 1
            if self._unsaved >= self.checkpoint_every:
                self._checkpoint()

    def _process_in_transaction(self, batch: list[RecordedEvent]) -> None:
        """All handler effects of the batch and its checkpoint commit together or not at all."""
        handled = 0
        failing = batch[0]
        try:
            with self.store.transaction() as tx:
                for event in batch:
                    failing = event
                    self.handler(event, tx)
                    handled += 1
                self.store.save_checkpoint(self.name, batch[-1].position, tx=tx)
        except Exception as exc:
            raise SubscriptionError(self.name, failing.position, exc) from exc
        self.position = batch[-1].position
        self.handled += handled

    def _checkpoint(self) -> None:
        if self._unsaved and self.position is not None:
            self.store.save_checkpoint(self.name, self.position)
            self._unsaved = 0
