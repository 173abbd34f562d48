"""Checkpointed consumers: catch up from the stored checkpoint, then follow live appends.

Delivery is at-least-once: after a crash a consumer resumes from its last checkpoint and sees again
at most the events handled since (``checkpoint_every`` bounds that). With ``transactional=True`` the
handler's writes and the checkpoint commit together, which makes processing effectively once.
The data path: ``append`` -> engine -> ``read_all(after=checkpoint)`` -> handler -> checkpoint.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .errors import InvalidInput, SubscriptionError
from .events import Position, RecordedEvent
from .validation import MAX_NAME_BYTES, check_float, check_identifier

#: ``wait(timeout)``: True when the engine signalled that new events may exist, False on timeout.
Wait = Callable[[float], bool]

#: The longest a consumer waits in one go: ``stop()`` takes effect within about this long.
WAIT_SLICE = 0.2


class SubscribableStore(Protocol):
    """What a subscription needs of a store (``EventStore`` provides it); a Protocol, so this module
    does not import ``store``, which imports this one."""

    def read_all(
        self,
        after: Position | None = None,
        limit: int | None = None,
        *,
        types: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
    ) -> list[RecordedEvent]: ...

    def load_checkpoint(self, name: str) -> Position | None: ...

    def save_checkpoint(self, name: str, position: Position, tx: Any = None) -> None: ...

    def transaction(self) -> AbstractContextManager[Any]: ...

    def notifications(self) -> AbstractContextManager[Wait]: ...


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
        poll_interval: seconds between reads while idle, unless the engine signals new events
            sooner (see ``EventStore.notifications``).
        transactional: run each batch's handler calls and its checkpoint in one store transaction.
    """

    def __init__(
        self,
        store: SubscribableStore,
        name: str,
        handler: Callable[..., Any],
        *,
        types: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
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
                if until_caught_up:
                    break
                self._idle(wait)
        self._checkpoint()
        return self.handled - start

    def _idle(self, wait: Wait) -> None:
        """Wait up to ``poll_interval`` for a signal, in slices short enough for ``stop()`` to act.

        The checkpoint is saved once a slice passes with nothing new: an idle moment is the cheap
        one. Saving each time the consumer catches up would, under a steady trickle of events, put
        a write (and the wake-up its commit causes) between every two deliveries."""
        deadline = time.monotonic() + self.poll_interval
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or wait(min(left, WAIT_SLICE)):
                return
            self._checkpoint()

    def catch_up(self) -> int:
        """Handle everything already visible, then return the number of events handled."""
        return self.run(until_caught_up=True)

    def start(self) -> Subscription:
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
