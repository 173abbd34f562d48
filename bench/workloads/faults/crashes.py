"""Crashes and connection cuts on the run's own deployment: which of them an engine gets, how, or why
not (``ProcessFaults.plan``), and striking one (``ProcessFaults.strike``).

- crash: the engine's server gets SIGKILL, every process of it at once, and is restarted on the
  same data directory. An embedded engine runs inside its writers, so its crash is theirs: the
  writer processes get SIGKILL and are started again. An engine whose server the run did not
  start, or one that keeps its data in memory, is not crashed: the records say why.
- cut: the clients' connections go through Toxiproxy, which holds back the server's answers for a
  moment (the requests still arrive and commit) and then closes every connection. A client that
  connects to the addresses its server advertises (Kafka's) would bypass the proxy: such a server
  is asked to advertise the proxy's address instead (``Server.advertise``), and the bypass is
  checked again; an engine whose clients still bypass it gets no cuts, and its record says why.
"""
from __future__ import annotations

import gc
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bench.harness.workload import StoreFactory
from eventstore import NewEvent
from eventstore.servers import Server, ServiceUnavailable

from .audit import Fault
from .injection import addresses, crash, direct_connections, rerouted
from .toxiproxy import Toxiproxy
from .writers import ProcessWriters, ThreadWriters

#: What a process crash can and cannot show, on every record it bears on.
CRASH_LIMIT = (
    "a process crash (SIGKILL): what the OS had accepted (its page cache) survives it, so it cannot show "
    "what a power failure or a kernel crash loses"
)


class FaultTarget(StoreFactory, Protocol):
    """What the workload needs of a deployment besides stores: its name, what it may crash, and its
    settings (``mode``: a deliberately broken design is ``naive``)."""

    @property
    def name(self) -> str: ...

    @property
    def settings(self) -> Mapping[str, Any]: ...

    @property
    def server(self) -> Server | None: ...

    @property
    def no_crash_reason(self) -> str | None: ...


@dataclass
class Plan:
    """How one case injects its faults, and why a kind it cannot inject is left out."""

    crashes: int
    cuts: int
    crash_note: str
    cut_note: str
    url: str  # the URL the writers and the subscriber use (through the proxy when cuts are on)
    proxies: list[str]


class ProcessFaults:
    """Crashes and cuts for one engine's deployment; owns the Toxiproxy it starts on first use."""

    def __init__(self, target: FaultTarget, blackhole_s: float) -> None:
        self.target = target
        self.blackhole_s = blackhole_s
        self._toxiproxy: Toxiproxy | ServiceUnavailable | None = None

    def plan(self, url: str, crashes: int, cuts: int, rng: random.Random) -> Plan:
        """Which faults this engine gets, and the URL its clients use (through the proxy for cuts)."""
        target = self.target
        if target.server is not None:
            crash_note = f"SIGKILL to every process of the {target.server.name} server, restart on the same data; {CRASH_LIMIT}"
        elif target.no_crash_reason is not None:
            crashes, crash_note = 0, f"not measured: {target.no_crash_reason}"
        else:
            crash_note = f"embedded engine: SIGKILL to every writer process (the engine runs inside them), then restart; {CRASH_LIMIT}"
        upstreams = addresses(url)
        if not cuts:
            return Plan(crashes, 0, crash_note, "none asked for", url, [])
        if not upstreams:
            return Plan(crashes, 0, crash_note, "not measured: the store URL names no server address to route through a proxy (an embedded engine has no connection)", url, [])
        if self._toxiproxy is None:  # started on first use, from this long-lived thread (see ``die_with_parent``)
            try:
                self._toxiproxy = Toxiproxy().start()
            except ServiceUnavailable as exc:
                self._toxiproxy = exc
        if isinstance(self._toxiproxy, ServiceUnavailable):
            return Plan(crashes, 0, crash_note, f"not measured: Toxiproxy is not available: {self._toxiproxy}", url, [])
        proxy = self._toxiproxy
        names = [f"faults-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}" for _ in upstreams]
        routes = {address: proxy.proxy(name, address) for name, address in zip(names, upstreams, strict=True)}
        proxied = rerouted(url, routes)
        bypassed = self._bypasses(proxied, upstreams)
        advertised = ""
        if bypassed and target.server is not None:  # a server that names addresses to its clients may name the proxy's
            forward = target.server.advertise(routes) or {}
            for name, address in zip(names, upstreams, strict=True):
                if address in forward:
                    proxy.retarget(name, forward[address])
            if forward:
                bypassed = self._bypasses(proxied, [*upstreams, *forward.values()])
                advertised = f"; the {target.server.name} server advertises the proxy's address to the clients that come through it"
        if bypassed:
            for name in names:
                proxy.remove(name)
            return Plan(crashes, 0, crash_note, f"not measured: the engine's clients connect to {', '.join(bypassed)} directly (addresses "
                        "the server advertises), not through the proxy the URL names, so a proxy cannot cut them", url, [])
        note = f"Toxiproxy ({proxy.version}) holds back the server's answers for {self.blackhole_s:g} s, then closes every connection{advertised}"
        return Plan(crashes, cuts, crash_note, note, proxied, names)

    def strike(self, kind: str, plan: Plan, writers: ThreadWriters | ProcessWriters, start_timeout_s: float) -> Fault:
        """Inject one ``crash`` or ``cut`` and return once the engine answers again."""
        if kind == "cut":
            at = time.time()
            self._proxy().cut(plan.proxies, self.blackhole_s)
        elif isinstance(writers, ProcessWriters):
            at = writers.crash(start_timeout_s)
        else:
            server = self.target.server
            assert server is not None, "crashes are planned only for a server the run started"
            at = crash(server)
            server.restart()
        return Fault(kind, at, time.time())

    def release(self, plan: Plan) -> None:
        """Remove the proxies ``plan`` set up."""
        for name in plan.proxies:
            self._proxy().remove(name)

    def close(self) -> None:
        if isinstance(self._toxiproxy, Toxiproxy):
            self._toxiproxy.stop()
        self._toxiproxy = None

    def _proxy(self) -> Toxiproxy:
        """The Toxiproxy ``plan`` started (only called once a plan routes through it)."""
        assert isinstance(self._toxiproxy, Toxiproxy), "a plan with proxies started it"
        return self._toxiproxy

    def _bypasses(self, proxied: str, upstreams: list[str]) -> list[str]:
        """The upstreams a store opened on ``proxied`` still connects to directly once it has appended and read."""
        gc.collect()  # a closed store's clients may wait for the collector; alive, they would reconnect directly
        before = direct_connections(upstreams)
        store = self.target.connect(proxied)
        try:
            store.append(f"FaultProbe-{uuid.uuid4()}", [NewEvent("Probe", {})])
            store.read_all(limit=1)
            return sorted({address for _, address in direct_connections(upstreams) - before})
        finally:
            store.close()
