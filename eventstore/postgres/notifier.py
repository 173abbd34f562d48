"""Wakes live subscribers after appends, at almost no cost to the appends: both ends of it.

Why not one NOTIFY per append: a NOTIFY inside the appending transaction makes PostgreSQL
serialise every notifying commit on one global lock held through the commit's WAL flush, and a
NOTIFY of its own after each commit is one more transaction per append (plus, from a helper
thread, a fight for the GIL with the appending thread). So the work is split:

- A listener (``listen``) that has seen any sign of activity keeps polling for ``LINGER``
  seconds, every ``LINGER_POLL`` seconds: it compares ``pg_current_snapshot()``, which changes
  whenever any transaction takes an id or ends, and returns as soon as it does. After ``LINGER``
  quiet seconds it waits on LISTEN. The poll is one prepared statement on a socket that is idle
  anyway (about 50 us of the server's time), so polling every millisecond costs a busy listener a
  few per cent of one core and costs writers nothing: that is what keeps live delivery in single
  milliseconds under load (the overhead workload's live_delivery path measures it), where a NOTIFY per append
  would cost every writer a transaction.
- A writer (``Notifier.poke()`` after each commit) sends a NOTIFY only when its previous append is
  more than ``QUIET`` seconds old. An append closer to the previous one needs none: that one was
  either notified or, by the same rule, seen by listeners then still polling, and since
  ``QUIET + LINGER_POLL < LINGER`` they are still polling after this commit too. Under sustained
  load writers send no NOTIFY at all; a lone append after a quiet spell wakes listeners at once.

The NOTIFY goes out on a connection of its own with asynchronous commit (a wake-up call need not
be durable), without waiting for the reply, from the appending thread; a background thread only
connects, and sends a NOTIFY that a poke could not. Listeners also poll every ``poll_interval``
as a fallback, so a lost notification delays delivery, never loses an event.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from .schema import scalar

QUIET = 0.1
LINGER = 1.0
LINGER_POLL = 0.001


class Notifier:
    """The writer's end: ``poke()`` after every commit."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self._conn: psycopg.Connection | None = None
        self._command = b""
        self._send_lock = threading.Lock()
        self._last_poke = float("-inf")
        #: A poke that should have sent a NOTIFY could not: the background thread sends it.
        self._owed = False
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def poke(self) -> None:
        """Something was committed: wake listeners, unless they are still polling anyway."""
        now = time.monotonic()
        previous, self._last_poke = self._last_poke, now
        if now - previous < QUIET:
            return
        if self._send_lock.acquire(blocking=False):
            try:
                if self._send():
                    return
            finally:
                self._send_lock.release()
        self._owed = True
        self._start()
        self._wake.set()

    def _send(self) -> bool:
        """Send one NOTIFY without waiting for its reply (the caller holds ``_send_lock``).

        False when there is no connection yet or the previous NOTIFY is still in flight.
        """
        conn = self._conn
        if conn is None:
            return False
        pgconn = conn.pgconn
        try:
            if pgconn.flush():  # the previous command is not even sent yet
                return False
            pgconn.consume_input()
            while not pgconn.is_busy():
                if pgconn.get_result() is None:  # the previous reply is read: the line is free
                    break
            else:
                return False
            self._owed = False  # before sending: a racing poke owes one more, never one less
            pgconn.send_query(self._command)
            pgconn.flush()
            return True
        except psycopg.Error:
            self._drop()  # listeners fall back on polling; the thread reconnects
            return False

    def _start(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(target=self._run, name=f"notify-{self.channel}", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        """Connects, and sends the NOTIFY a poke could not; idle otherwise."""
        while True:
            self._wake.wait()
            if self._closed:
                break
            self._wake.clear()
            if self._conn is None:
                self._connect()
            with self._send_lock:
                if self._owed and self._conn is not None:
                    self._finish_in_flight()
                    self._send()
            if self._owed or self._closed:  # a poke or close() meanwhile, or no server yet
                if self._conn is None and not self._closed:
                    time.sleep(LINGER)  # listeners poll meanwhile
                self._wake.set()
        self._drop()

    def _connect(self) -> None:
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True)
            # A NOTIFY needs a transaction id, so its commit would wait for a WAL flush.
            conn.execute("SET synchronous_commit = off")
            self._command = sql.SQL("NOTIFY {}").format(sql.Identifier(self.channel)).as_bytes(conn)
            self._conn = conn
        except psycopg.Error:
            pass  # the server is away: listeners poll; retried on the next poke that owes one

    def _finish_in_flight(self) -> None:
        """Wait for the previous NOTIFY's reply (background thread, under ``_send_lock``)."""
        assert self._conn is not None
        pgconn = self._conn.pgconn
        try:
            while pgconn.flush():
                time.sleep(0.001)
            while pgconn.get_result() is not None:
                pass
        except psycopg.Error:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)


@contextmanager
def listen(conn: psycopg.Connection, channel: str) -> Iterator[Callable[[float], bool]]:
    """The listener's end on ``conn`` (autocommit, used for nothing else): yields ``wait(timeout)``,
    True as soon as new events may have been committed (a NOTIFY, or while lingering a changed
    snapshot), False when ``timeout`` passed without either."""
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

    cursor = conn.cursor()  # one cursor and a prepared statement: polled every LINGER_POLL

    def snapshot() -> str:
        return scalar(cursor.execute("SELECT pg_current_snapshot()::text", prepare=True))

    def notified(timeout: float) -> bool:
        return any(True for _ in conn.notifies(timeout=timeout, stop_after=1))

    last = snapshot()
    linger_until = time.monotonic() + LINGER  # a writer may have been busy before we started

    def wait(timeout: float) -> bool:
        nonlocal last, linger_until
        deadline = time.monotonic() + timeout
        while (now := time.monotonic()) < deadline:
            if now < linger_until:
                woke = notified(min(LINGER_POLL, deadline - now))
            else:
                woke = notified(deadline - now)
            current = snapshot()
            if woke or current != last:
                last, linger_until = current, time.monotonic() + LINGER
                return True
        return False

    yield wait
