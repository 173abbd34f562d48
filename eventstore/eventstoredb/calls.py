"""Every call of the store to the server: the client's errors become the API's, and the ones that say
"try again" are tried again, with the same request, until ``RETRY_S`` has passed.

Tried again (the client has already retried once or twice itself; these outlast that):

- Unavailable: the server is not ready ("Server Is Not Ready", a node starting or electing) or too
  busy, or the connection broke. Nothing was done, or an append's answer was lost after the write.
- a deadline exceeded, or the server's own timeout (ABORTED "Operation timed out"): the outcome is unknown.
- the client's bare root error: esdbclient raises it for a batch append answered with a status it cannot
  read, which is how the server answers "Server Is Not Ready" inside a BatchAppend response.
- not the leader, when the server named the leader: the client reconnects to it first (the server asks
  for the leader by default; the client follows it by itself only for cluster URIs).

A retried append is the same request, the same event ids and expected version, so the server's
idempotency check turns a write whose answer was lost into the original result instead of a second copy:
with an exact expected version or NO_STREAM always, with ANY or EXISTS while the ids are in the server's
cache of recent commits (which a quick retry is). Not tried again: the server's answers (a wrong expected
version, a missing or deleted stream), which the caller handles, and every other error, which is
``StoreUnavailable`` at once; a position the server calls invalid is ``InvalidInput``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import InvalidInput, StoreUnavailable
from .client import ClientAPI

LOG = logging.getLogger("eventstore.eventstoredb")
T = TypeVar("T")
#: Seconds within which a failed call is tried again; beyond it the call fails with ``StoreUnavailable``.
RETRY_S = 10.0
#: Pauses between tries: the first, doubling up to the last.
FIRST_PAUSE_S = 0.05
MAX_PAUSE_S = 1.0
#: How the server words a ``$all`` position inside a record (``RpcExceptions.InvalidPositionException``).
_INVALID_POSITION = "invalid position"


def retry_on(api: ClientAPI, error: Exception) -> tuple[bool, str | None]:
    """Whether ``error`` says "try again", and the leader to try it on (None: the same node)."""
    if isinstance(error, api.NotLeader):
        leader = api.leader(error)
        return leader is not None, leader
    if isinstance(error, (api.Unavailable, api.DeadlineExceeded, api.Aborted)):  # ABORTED, for the calls made here: the server's timeout
        return True, None
    return type(error) is api.ClientError, None


def call(what: str, attempt: Callable[[], T], *, api: ClientAPI, client: Any, where: str, retry_s: float = RETRY_S) -> T:
    """``attempt()``, tried again while it fails with an error that says so and ``retry_s`` has not passed.

    ``attempt`` makes the same request each time; it handles the server's answers itself (they are client
    errors too, raised here only when it does not)."""
    deadline = time.monotonic() + retry_s
    pause = FIRST_PAUSE_S
    while True:
        try:
            return attempt()
        except api.ClientError as exc:
            if _INVALID_POSITION in str(exc).lower():
                raise InvalidInput(f"EventStoreDB at {where} refused the position: not the position of a record in its log ({what})") from None
            again, leader = retry_on(api, exc)
            if not again or time.monotonic() + pause > deadline:
                raise StoreUnavailable(f"EventStoreDB at {where}: cannot {what}: {exc!r}") from exc
            LOG.info("EventStoreDB at %s: %s failed (%s); trying again%s", where, what, type(exc).__name__, f" on the leader at {leader}" if leader else "")
            if leader is not None:
                try:
                    client.reconnect(leader)
                except api.ClientError as reconnecting:  # kurrentdbclient tries the new connection at once; the next try tells
                    LOG.info("EventStoreDB: the leader at %s does not answer yet (%r)", leader, reconnecting)
        except ValueError as exc:  # grpc: "Cannot invoke RPC on closed channel!"
            if "channel" not in str(exc).lower():
                raise
            raise StoreUnavailable(f"EventStoreDB at {where}: cannot {what}: {exc}") from exc
        time.sleep(pause)
        pause = min(2 * pause, MAX_PAUSE_S)
