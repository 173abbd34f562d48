"""Server-side faults on demand: a test arms one, and the double answers the next calls as a server in
trouble does, so a client's handling of each can be tested.

The answers are the server's own, from ``Services/Transport/Grpc/RpcExceptions.cs`` (KurrentDB; the
same in EventStoreDB 24.10):

- not ready (a node starting, or electing): UNAVAILABLE "Server Is Not Ready" (``ServerNotReady``);
  BatchAppend answers it inside its response instead (``Streams.BatchAppend.cs``, ``NotHandled``);
- not the leader: NOT_FOUND "Leader info available", the leader's address in the trailers
  ``leader-endpoint-host`` and ``leader-endpoint-port`` (``LeaderInfo``);
- a deadline: DEADLINE_EXCEEDED, what a client sees when its call outlives its deadline;
- a subscription dropped mid-stream: the call ends with a status after some events;
- an answer lost after the write (``after_write``): the server did the work, the client hears an error.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

NOT_READY = "Server Is Not Ready"
LEADER_INFO = "Leader info available"
#: The RPCs an append is: the client sends one event with Append and several with BatchAppend.
APPENDS = ("Append", "BatchAppend")


@dataclass
class Failure:
    """One armed answer: ``code`` and ``details``, with ``trailers``, for the next ``left`` calls of ``methods``."""

    methods: tuple[str, ...]  # empty: every RPC
    code: grpc.StatusCode
    details: str
    left: int
    after_write: bool
    trailers: tuple[tuple[str, str], ...] = ()

    @property
    def in_band_not_ready(self) -> bool:
        """The not-ready answer BatchAppend sends as a response, not as the call's status."""
        return self.code == grpc.StatusCode.UNAVAILABLE and self.details == NOT_READY and not self.after_write


class Faults:
    """What a test arms (``fail_next``, ``not_ready``, ``not_leader``, ``drop_subscription``) and the
    double consults; ``fired`` lists every fault delivered, so a test can check that its fault happened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[Failure] = []
        self._not_ready_until = 0.0
        self._drop: Failure | None = None
        self.fired: list[tuple[str, grpc.StatusCode, bool]] = []  # (method, code, after the write)

    # -- arming ----------------------------------------------------------------------------------

    def fail_next(self, method: str | Sequence[str], code: grpc.StatusCode, details: str = "", *, times: int = 1,
                  after_write: bool = False, trailers: Sequence[tuple[str, str]] = ()) -> None:
        """The next ``times`` calls of ``method`` (an RPC name, several, or ``"*"``) fail with ``code``;
        with ``after_write`` the call does its work first and only its answer is lost."""
        methods = () if method == "*" else (method,) if isinstance(method, str) else tuple(method)
        with self._lock:
            self._failures.append(Failure(methods, code, details, times, after_write, tuple(trailers)))

    def not_ready(self, seconds: float) -> None:
        """Every call answers "Server Is Not Ready" for ``seconds``, as a node does while it starts."""
        with self._lock:
            self._not_ready_until = time.monotonic() + seconds

    def not_leader(self, host: str, port: int, *, method: str | Sequence[str] = "*", times: int = 1) -> None:
        """The next ``times`` calls answer that this node is not the leader, and where the leader is."""
        trailers = (("exception", "not-leader"), ("leader-endpoint-host", host), ("leader-endpoint-port", str(port)))
        self.fail_next(method, grpc.StatusCode.NOT_FOUND, LEADER_INFO, times=times, trailers=trailers)

    def drop_subscription(self, after_events: int = 0, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE, details: str = NOT_READY) -> None:
        """The next subscription to deliver ``after_events`` more events then ends with ``code``,
        before its next event: the subscriber must resubscribe to see it."""
        with self._lock:
            self._drop = Failure((), code, details, after_events, False)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._not_ready_until = 0.0
            self._drop = None

    # -- consulted by the double -----------------------------------------------------------------

    def take(self, method: str, after_write: bool) -> Failure | None:
        """The failure due for this call of ``method``, before (``after_write`` False) or after its work."""
        with self._lock:
            if not after_write and time.monotonic() < self._not_ready_until:
                found: Failure | None = Failure((method,), grpc.StatusCode.UNAVAILABLE, NOT_READY, 1, False)
            else:
                found = next((f for f in self._failures if f.after_write == after_write and (not f.methods or method in f.methods)), None)
                if found is not None:
                    found.left -= 1
                    if found.left == 0:
                        self._failures.remove(found)
            if found is not None:
                self.fired.append((method, found.code, after_write))
            return found

    def next_subscription_event(self) -> Failure | None:
        """The drop due before a subscription sends its next event, if one is armed and due."""
        with self._lock:
            drop = self._drop
            if drop is None:
                return None
            if drop.left > 0:
                drop.left -= 1
                return None
            self._drop = None
            self.fired.append(("Read", drop.code, False))
            return drop


def abort(context: grpc.ServicerContext, failure: Failure) -> None:
    """End the call with the failure's status (and trailers), as the server's ``RpcException`` does."""
    if failure.trailers:
        context.set_trailing_metadata(failure.trailers)
    context.abort(failure.code, failure.details)
