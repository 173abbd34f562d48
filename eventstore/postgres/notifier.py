"""Wakes live subscribers after appends commit, off the append path.

A NOTIFY inside the appending transaction makes PostgreSQL serialise every notifying commit on
one global lock held through the commit's WAL flush: writers on unrelated streams would queue
behind each other. So appends only ``poke()`` this notifier, and one background connection sends
the NOTIFY after the commit: at once after a quiet spell, and under load at most one every
``min_interval`` seconds (each NOTIFY is a transaction the server must run too). Listeners still poll as a fallback, so a lost
notification (or a row inserted by hand) delays delivery by at most the poll interval.
"""
from __future__ import annotations

import threading
import time

import psycopg


class Notifier:
    def __init__(self, conninfo: str, channel: str, min_interval: float = 0.01) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.min_interval = min_interval
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def poke(self) -> None:
        """Something was committed: NOTIFY soon (many pokes in a burst become one NOTIFY)."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(target=self._run, name=f"notify-{self.channel}", daemon=True)
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        while True:
            self._wake.wait()
            if self._closed:
                break
            self._wake.clear()
            try:
                if conn is None or conn.closed:
                    # A NOTIFY needs a transaction id, so its commit would wait for a WAL flush; a
                    # wake-up call need not be durable.
                    conn = psycopg.connect(self.conninfo, autocommit=True, options="-c synchronous_commit=off")
                conn.execute("SELECT pg_notify(%s, '')", (self.channel,))
            except psycopg.Error:
                conn = None  # listeners fall back on polling; reconnect on the next poke
            time.sleep(self.min_interval)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
