"""The subscriber of the faults workload: a checkpointed consumer that outlives the engine's crashes.

``Subscription.run`` stops at the first error, as it should: whether to go on is the caller's call.
A service's consumer goes on, so this one is supervised the way a service would be: when its
subscription fails (the engine crashed, the connection dropped), it waits a moment, opens the store
again and resumes from its stored checkpoint, so it sees again at most the events since that
checkpoint. It notes the time and id of every event it handles.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from eventstore import EventStore, RecordedEvent, Subscription

NAME = "faults-subscriber"


class SupervisedSubscriber:
    """Parameters:
        connect: opens the store (again after a failure).
        checkpoint_every, batch_size, poll_interval: as for ``EventStore.subscribe``.
        retry_delay: seconds to wait after a failure before opening the store again.
    """

    def __init__(self, connect: Callable[[], EventStore], *, checkpoint_every: int, batch_size: int, poll_interval: float, retry_delay: float = 0.2) -> None:
        self._connect = connect
        self._checkpoint_every = checkpoint_every
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retry_delay = retry_delay
        #: (unix time, event id) of every event handled, repeats included, in handling order.
        self.handled: list[tuple[float, str]] = []
        self._seen: set[str] = set()
        #: Why each subscription failed, in order (each failure was followed by a resume).
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._subscription: Subscription | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SupervisedSubscriber:
        """Start following; after ``stop`` it resumes from its checkpoint, as a restarted consumer does."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._supervise, name="faults-subscriber", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop, and close its store (within ``timeout``)."""
        self._stop.set()
        subscription = self._subscription
        if subscription is not None:
            subscription.stop(timeout=0)
        if self._thread is not None:
            self._thread.join(timeout)

    def has_handled(self, event_id: str) -> bool:
        return event_id in self._seen

    def _handle(self, event: RecordedEvent) -> None:
        event_id = str(event.event_id)
        self.handled.append((time.time(), event_id))
        self._seen.add(event_id)

    def _supervise(self) -> None:
        while not self._stop.is_set():
            store: EventStore | None = None
            try:
                store = self._connect()
                self._subscription = store.subscribe(
                    NAME, self._handle, checkpoint_every=self._checkpoint_every, batch_size=self._batch_size, poll_interval=self._poll_interval,
                )
                if self._stop.is_set():
                    return
                self._subscription.run()
            except Exception as exc:  # the engine crashed or the connection dropped: resume from the checkpoint
                self.failures.append(f"{type(exc).__name__}: {exc}"[:300])
                self._stop.wait(self._retry_delay)
            finally:
                self._subscription = None
                if store is not None:
                    _close(store)


def _close(store: EventStore) -> None:
    try:
        store.close()
    except Exception:  # closing a store whose server just died can fail; the store is abandoned either way
        pass
