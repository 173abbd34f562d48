"""The faults the faults workload injects, and what it must know to inject them without naming an engine.

- A crash: every process working in a server's directory gets SIGKILL at once (for PostgreSQL the
  postmaster and every backend, as a machine crash or the OOM killer would leave it; for Kafka the
  broker's JVM); the server is then restarted on the same data directory.
- A cut: the store's connections go through Toxiproxy, found by the addresses its URL names (in
  its host part or in a URL-valued query parameter such as an endpoint). Whether the client then
  really talks through the proxy is checked, not assumed: some clients (Kafka's) connect to the
  addresses the server advertises instead of the one they were given.
"""
from __future__ import annotations

import logging
import re
import socket
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psutil  # type: ignore[import-untyped]  # psutil ships no type information

from eventstore.servers import Server

#: ``host:port`` as URLs write it (an IPv6 host in brackets).
_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


def addresses(url: str) -> list[str]:
    """Every ``host:port`` the store URL names: in its host part (a comma-separated list counts) and
    in any query parameter whose value is itself a URL with a host and port."""
    parts = urlsplit(url)
    found = [a for a in parts.netloc.rpartition("@")[2].split(",") if _ADDRESS.match(a)]
    for _, value in parse_qsl(parts.query):
        inner = urlsplit(value)
        if inner.scheme and _ADDRESS.match(inner.netloc.rpartition("@")[2]):
            found.append(inner.netloc.rpartition("@")[2])
    return list(dict.fromkeys(found))


def rerouted(url: str, routes: Mapping[str, str]) -> str:
    """``url`` with each ``host:port`` in ``routes`` (as ``addresses`` finds them) replaced by its route."""
    parts = urlsplit(url)
    credentials, at, hosts = parts.netloc.rpartition("@")
    netloc = credentials + at + ",".join(routes.get(a, a) for a in hosts.split(","))
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        inner = urlsplit(value)
        address = inner.netloc.rpartition("@")[2]
        if inner.scheme and address in routes:
            value = urlunsplit(inner._replace(netloc=inner.netloc[: len(inner.netloc) - len(address)] + routes[address]))
        query.append((key, value))
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, quote_via=quote)))


def direct_connections(upstreams: Iterable[str]) -> set[tuple[int, str]]:
    """This process's own open TCP connections to any of ``upstreams`` (``host:port``), which bypass a
    proxy: (local port, upstream) each."""
    wanted = {}
    for address in upstreams:
        host, _, port = address.rpartition(":")
        for *_, sockaddr in socket.getaddrinfo(host.strip("[]"), int(port), proto=socket.IPPROTO_TCP):
            wanted[(sockaddr[0], int(port))] = address
    return {(c.laddr.port, wanted[(c.raddr.ip, c.raddr.port)]) for c in psutil.Process().net_connections(kind="inet")
            if c.raddr and (c.raddr.ip, c.raddr.port) in wanted}


def crash(server: Server, attempts: int = 20) -> float:
    """SIGKILL every process whose working directory lies in ``server``'s directory (the server and
    the children it forked), until none is left; the data directory stays. Returns when the first
    signal went out. The server is left stopped: ``server.restart()`` brings it back on the same data."""
    directory = server.require_started().resolve()
    struck: float | None = None
    for _ in range(attempts):
        doomed = [p for p in psutil.process_iter(["cwd"]) if p.info["cwd"] and Path(p.info["cwd"]).is_relative_to(directory)]
        if not doomed:
            break
        struck = struck or time.time()
        for process in doomed:
            try:
                process.kill()
            except psutil.NoSuchProcess:  # it exited between the listing and the signal: as good
                pass
        psutil.wait_procs(doomed, timeout=5)
        time.sleep(0.01)  # a child forked just before its parent died shows up on the next pass
    struck = struck or time.time()
    server.kill()  # reaps the process the server object started (already dead) and forgets it
    return struck


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.name] += 1


@contextmanager
def counted_logs() -> Iterator[Counter[str]]:
    """While faults are injected, count what gets logged (by logger) instead of printing it: client
    libraries log every dropped connection and failed reconnect, which is expected here and would
    bury a page under thousands of lines. The root logger's handlers are back afterwards."""
    root = logging.getLogger()
    handler = _Count()
    saved = root.handlers[:]
    root.handlers = [handler]
    try:
        yield handler.counts
    finally:
        root.handlers = saved
