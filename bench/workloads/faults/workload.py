"""Faults: what each engine keeps when its server crashes or a connection drops mid-commit.

While several writers append (each command one batch with fixed event ids, retried with the same
ids whenever an attempt ends without an answer: ``bench.fault_writer``) and a checkpointed
subscriber follows (resuming from its checkpoint whenever it fails: ``bench.fault_subscriber``),
faults come at random moments, repeatedly:

- crash: the engine's server gets SIGKILL, every process of it at once, and is restarted on the
  same data directory. An embedded engine (SQLite) runs inside its writers, so its crash is theirs:
  the writer processes get SIGKILL and are started again. An engine whose server the run did not
  start, or one that keeps its data in memory, is not crashed: the records say why.
- cut: the clients' connections go through Toxiproxy, which holds back the server's answers for a
  moment (the requests still arrive and commit) and then closes every connection, so each writer
  waiting for an answer does not know whether its append landed. A client that connects to the
  addresses its server advertises (Kafka's) would bypass the proxy: such a server is asked to
  advertise the proxy's address instead (``Server.advertise``), and the bypass is checked again;
  an engine whose clients still bypass it gets no cuts, and its record says why.

Then everything settles and the audit (``bench.fault_audit``) compares the writers' journals, the
store and the subscriber's log. A process crash cannot show everything: what the OS had accepted
(its page cache) survives it, so losses that only a power failure causes (SQLite synchronous=OFF,
an unsynced Kafka log) do not show here. Settings traded for speed are run beside the durable
ones, labelled (each engine's ``durability_settings``).

The rule "loses nothing" binds every engine under its durable settings: a durable setting records
``lost`` (rule: every engine), one traded for speed records ``lost_nondurable`` (shown, no rule).
Durability belongs to an engine's settings, not to its adapter, so it is not a capability.
"""
from __future__ import annotations

import gc
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from bench.harness.metrics import EVERY_ENGINE, Dimension, Metric
from bench.harness.params import ParameterError, Params, param
from bench.harness.workload import Measurement, StoreFactory, Workload, read_everything
from eventstore import EventStore, NewEvent
from eventstore.plugins import DEFAULTS, DurabilitySetting, engines
from eventstore.servers import Server, ServiceUnavailable

from .audit import Audit, Fault, StoredEvent, audit, read_journals
from .injection import addresses, counted_logs, crash, direct_connections, rerouted
from .subscriber import SupervisedSubscriber
from .toxiproxy import Toxiproxy
from .writer import WriterConfig
from .writers import ProcessWriters, ThreadWriters

#: What a process crash can and cannot show, on every record it bears on.
CRASH_LIMIT = (
    "a process crash (SIGKILL): what the OS had accepted (its page cache) survives it, so it cannot show "
    "what a power failure or a kernel crash loses"
)

#: Longest wait for the writers to open their stores, at the start and after a crash.
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class FaultsParams(Params):
    repetitions: int = param(1, "repetitions of every engine setting; each one injects every fault below")
    budget_s: float | None = param(300.0, "seconds one engine may spend on all its settings; later faults and settings are recorded as skipped")
    crashes: int = param(10, "engine crashes (SIGKILL, restart on the same data) per setting and repetition")
    cuts: int = param(10, "connection cuts mid-commit per setting and repetition")
    fault_every_s: tuple[float, float] = param((0.3, 0.8), "the next fault comes uniformly within this many seconds after writes resumed")
    blackhole_s: float = param(0.2, "a cut holds back the server's answers this long, then closes every connection")
    writers: int = param(4, "concurrent writers, each with its own connections (processes for an embedded engine)")
    appends_per_s: float = param(40.0, "appends per second per writer")
    max_batch: int = param(3, "events per append, uniform from 1 to this")
    streams: int = param(16, "streams the writers append to")
    retry_for_s: float = param(60.0, "how long a writer retries an append without an answer (same event ids) before it gives up")
    checkpoint_every: int = param(20, "the subscriber saves its checkpoint after this many events (and whenever it goes idle)")
    batch_size: int = param(50, "events the subscriber reads per query")
    poll_interval_s: float = param(0.05, "longest wait between the subscriber's polls when the engine does not push")
    settle_s: float = param(15.0, "after the writers stop: longest wait for acknowledged appends to become readable and for the subscriber to catch up")
    settings: tuple[str, ...] = param(("all",), "durability settings to measure: all (every one each engine declares) or names such as synchronous-off; an engine with none of them runs its defaults")

    def check(self) -> None:
        super().check()
        low, high = self.fault_every_s
        if self.crashes < 0 or self.cuts < 0 or self.crashes + self.cuts < 1 or not 0 <= low <= high:
            raise ParameterError("crashes >= 0, cuts >= 0, at least one fault, 0 <= fault_every_s[0] <= fault_every_s[1]")
        if min(self.writers, self.max_batch, self.streams, self.checkpoint_every, self.batch_size) < 1:
            raise ParameterError("writers, max_batch, streams, checkpoint_every and batch_size must be >= 1")
        if min(self.appends_per_s, self.retry_for_s, self.poll_interval_s, self.settle_s) <= 0 or self.blackhole_s < 0:
            raise ParameterError("appends_per_s, retry_for_s, poll_interval_s and settle_s must be > 0, blackhole_s >= 0")
        known = {"all"} | {s.name for engine in engines().values() for s in engine.durability_settings}
        unknown = [name for name in self.settings if name not in known]
        if unknown:
            raise ParameterError(f"settings: unknown {', '.join(unknown)}; known: {', '.join(sorted(known))}")


class FaultTarget(StoreFactory, Protocol):
    """What the workload needs of a deployment besides stores: its name, and what it may crash."""

    @property
    def name(self) -> str: ...

    @property
    def server(self) -> Server | None: ...

    @property
    def no_crash_reason(self) -> str | None: ...


@dataclass
class _Plan:
    """How one case injects its faults, and why a kind it cannot inject is left out."""

    crashes: int
    cuts: int
    crash_note: str
    cut_note: str
    url: str  # the URL the writers and the subscriber use (through the proxy when cuts are on)
    proxies: list[str]


class Faults(Workload[FaultsParams]):
    name = "faults"
    title = "Crashes and connection cuts"
    rank = 50
    params_type = FaultsParams
    needs_cross_process = True  # embedded engines' writers run as processes
    dimensions = (
        Dimension("setting", "the engine's durability setting"),
        Dimension("durable", "whether the setting keeps every acknowledged append through a crash"),
        Dimension("fault", "crash or cut"),
        Dimension("fault_no", "which fault of the repetition"),
    )
    metrics = (
        Metric("crashes", "faults", "engine crashes injected; the note says how, or why none"),
        Metric("cuts", "faults", "connection cuts injected mid-commit; the note says how, or why none"),
        Metric("appends_acknowledged", "appends", "appends the store answered, on the first attempt or a retry"),
        Metric("events_stored", "events", "events in the store after the faults"),
        Metric("lost", "appends", "acknowledged appends missing after the faults, under durable settings", "lower", rule=EVERY_ENGINE),
        Metric("lost_nondurable", "appends", "acknowledged appends missing after the faults, under a setting traded for speed (shown, not a rule)", "lower"),
        Metric("duplicated", "appends", "appends stored more than once (under the same or other event ids)", "lower", rule="idempotent_append"),
        Metric("ambiguous", "appends", "appends an attempt of which ended without an answer"),
        Metric("ambiguous_original", "appends", "ambiguous appends whose first attempt had landed: the retry returned its result"),
        Metric("ambiguous_written", "appends", "ambiguous appends whose first attempt had not landed: the retry wrote them once"),
        Metric("ambiguous_unresolved", "appends", "ambiguous appends the retry left unanswered, or answered with what the store does not hold", "lower", rule="idempotent_append"),
        Metric("unanswered_stored", "appends", "appends given up without an answer whose events are stored nonetheless", "lower"),
        Metric("missed", "events", "stored events the subscriber never handled, under durable settings", "lower", rule="gap_safe_global_order"),
        Metric("missed_nondurable", "events", "stored events the subscriber never handled, under a setting traded for speed", "lower"),
        Metric("seen_twice", "events", "events the subscriber handled again after resuming from its checkpoint", "lower"),
        Metric("handled_not_stored", "events", "events the subscriber handled that the store does not hold afterwards", "lower"),
        Metric("subscriber_resumes", "resumes", "times the subscriber failed and resumed from its checkpoint"),
        Metric("write_outage", "us", "per fault: time without a successful append, from the fault until an append sent after it was acknowledged", "lower"),
        Metric("subscriber_catch_up", "us", "per fault: from the fault until the subscriber had handled everything acknowledged up to the end of the write outage", "lower"),
        Metric("restart_time", "us", "per crash: from the SIGKILL until the engine answered again", "lower"),
    )

    def __init__(self, params: FaultsParams | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self._toxiproxy: Toxiproxy | ServiceUnavailable | None = None

    @property
    def target(self) -> FaultTarget:
        return cast(FaultTarget, self.stores)

    def settings(self) -> list[DurabilitySetting]:
        """The settings this engine runs: those it declares that are chosen, or its defaults."""
        declared = engines()[self.target.name].durability_settings
        listed = [s for s in declared if "all" in self.params.settings or s.name in self.params.settings]
        return listed or [DEFAULTS]

    def cases(self) -> list[dict[str, Any]]:
        return [{"setting": s.label, "durable": s.durable, "repetition": r} for r in range(self.params.repetitions) for s in self.settings()]

    def close(self) -> None:
        if isinstance(self._toxiproxy, Toxiproxy):
            self._toxiproxy.stop()
        self._toxiproxy = None

    # -- one case --------------------------------------------------------------------------------

    def run_case(self, case: dict[str, Any]) -> Iterator[Measurement]:
        p = self.params
        rep = case["repetition"]
        setting = next(s for s in self.settings() if s.label == case["setting"])
        point = {"setting": setting.label, "durable": setting.durable}
        url = setting.url(self.stores.new_url(f"faults{rep}"))
        store = self.stores.connect(url)  # opened first: creates the schema, file, tables or topics
        try:
            reported = _settings_summary(store)
        finally:
            store.close()
        wrong = [f"{k}={reported.get(k)!r} (expected {v})" for k, v in setting.expect if str(reported.get(k, "")).lower() != v.lower()]
        if wrong:
            yield Measurement("skipped", 1.0, point, rep, note=f"not measured: the store does not apply this setting; it reports {', '.join(wrong)}")
            return
        rng = random.Random(f"{p.seed}/{setting.label}/{rep}")
        with tempfile.TemporaryDirectory(prefix="faults-") as tmp, counted_logs() as logged:
            plan = self._plan(url, rng)
            try:
                yield from self._run(url, plan, setting, point, rep, rng, Path(tmp), reported, logged)
            finally:
                for name in plan.proxies:
                    self._proxy().remove(name)

    def _run(self, url: str, plan: _Plan, setting: DurabilitySetting, point: dict[str, Any], rep: int, rng: random.Random, tmp: Path,
             reported: dict[str, Any], logged: Counter[str]) -> Iterator[Measurement]:
        p = self.params
        namespace = uuid.UUID(int=rng.getrandbits(128))
        streams = [f"Fault-{uuid.uuid5(namespace, str(n))}" for n in range(p.streams)]
        configs = [WriterConfig(n, streams, p.appends_per_s, p.max_batch, p.retry_for_s, f"{p.seed}/{rep}") for n in range(p.writers)]
        journals = [tmp / f"writer-{n}.journal" for n in range(p.writers)]
        writers: ThreadWriters | ProcessWriters
        if self.target.server is None and self.target.no_crash_reason is None:  # embedded: the writers are the engine
            writers = ProcessWriters(self.target.name, plan.url, configs, journals, tmp / "writers.err")
        else:
            writers = ThreadWriters(lambda: self.stores.connect(plan.url), configs, journals)
        subscriber = SupervisedSubscriber(lambda: self.stores.connect(plan.url), checkpoint_every=p.checkpoint_every,
                                          batch_size=p.batch_size, poll_interval=p.poll_interval_s).start()
        faults: list[Fault] = []
        notes: list[str] = []
        try:
            writers.start(START_TIMEOUT_S)
            faults = self._inject(plan, writers, journals, rng, notes)
            writers.stop(p.retry_for_s + 30)
            commands = read_journals(journals)
            acknowledged = {i for c in commands.values() if c.acknowledged is not None for i in c.event_ids}
            stored = self._final_contents(url, acknowledged)
            complete = self._wait_for_subscriber(subscriber, stored)
        finally:
            subscriber.stop()
            writers.stop(5)
        result = audit(commands, stored, list(subscriber.handled), faults)
        if not complete:
            notes.append(f"the subscriber did not catch up within {p.settle_s:g} s, so misses are unknown")
        notes += writers.errors
        if logged:
            notes.append(f"client libraries logged {sum(logged.values())} lines while faults were injected ({', '.join(f'{k}: {n}' for k, n in logged.most_common(3))})")
        settings_note = "settings: " + ", ".join(f"{k}={v}" for k, v in reported.items()) if reported else ""
        yield from self._measurements(result, plan, faults, setting, point, rep, complete, subscriber, "; ".join(filter(None, [*notes, settings_note])))

    def _plan(self, url: str, rng: random.Random) -> _Plan:
        """Which faults this engine gets, and the URL its clients use (through the proxy for cuts)."""
        p, target = self.params, self.target
        if target.server is not None:
            crashes, crash_note = p.crashes, f"SIGKILL to every process of the {target.server.name} server, restart on the same data; {CRASH_LIMIT}"
        elif target.no_crash_reason is not None:
            crashes, crash_note = 0, f"not measured: {target.no_crash_reason}"
        else:
            crashes, crash_note = p.crashes, f"embedded engine: SIGKILL to every writer process (the engine runs inside them), then restart; {CRASH_LIMIT}"
        upstreams = addresses(url)
        if not p.cuts:
            return _Plan(crashes, 0, crash_note, "none asked for", url, [])
        if not upstreams:
            return _Plan(crashes, 0, crash_note, "not measured: the store URL names no server address to route through a proxy (an embedded engine has no connection)", url, [])
        if self._toxiproxy is None:  # started on first use, from this long-lived thread (see ``die_with_parent``)
            try:
                self._toxiproxy = Toxiproxy().start()
            except ServiceUnavailable as exc:
                self._toxiproxy = exc
        if isinstance(self._toxiproxy, ServiceUnavailable):
            return _Plan(crashes, 0, crash_note, f"not measured: Toxiproxy is not available: {self._toxiproxy}", url, [])
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
            return _Plan(crashes, 0, crash_note, f"not measured: the engine's clients connect to {', '.join(bypassed)} directly (addresses "
                         "the server advertises), not through the proxy the URL names, so a proxy cannot cut them", url, [])
        note = f"Toxiproxy ({proxy.version}) holds back the server's answers for {p.blackhole_s:g} s, then closes every connection{advertised}"
        return _Plan(crashes, p.cuts, crash_note, note, proxied, names)

    def _proxy(self) -> Toxiproxy:
        """The Toxiproxy ``_plan`` started (only called once a plan routes through it)."""
        assert isinstance(self._toxiproxy, Toxiproxy), "a plan with proxies started it"
        return self._toxiproxy

    def _bypasses(self, proxied: str, upstreams: list[str]) -> list[str]:
        """The upstreams a store opened on ``proxied`` still connects to directly once it has appended and read."""
        gc.collect()  # a closed store's clients may wait for the collector; alive, they would reconnect directly
        before = direct_connections(upstreams)
        store = self.stores.connect(proxied)
        try:
            store.append(f"FaultProbe-{uuid.uuid4()}", [NewEvent("Probe", {})])
            store.read_all(limit=1)
            return sorted({address for _, address in direct_connections(upstreams) - before})
        finally:
            store.close()

    def _inject(self, plan: _Plan, writers: ThreadWriters | ProcessWriters, journals: list[Path], rng: random.Random, notes: list[str]) -> list[Fault]:
        """Inject the planned faults in random order, each once writes have resumed after the last
        one (so each one's recovery is measured, and the retry bound is not spent on a pile-up)."""
        kinds = ["crash"] * plan.crashes + ["cut"] * plan.cuts
        rng.shuffle(kinds)
        faults: list[Fault] = []
        for n, kind in enumerate([*kinds, None]):
            if faults and not _writes_resumed(journals, faults[-1].at, self.params.retry_for_s):
                notes.append(f"writes had not resumed {self.params.retry_for_s:g} s after fault {n}")
            if kind is None:
                break
            if self.time_left() <= 0:
                notes.append(f"stopped after {n} of {len(kinds)} faults: the engine's time budget ran out")
                break
            time.sleep(rng.uniform(*self.params.fault_every_s))
            if kind == "cut":
                at = time.time()
                self._proxy().cut(plan.proxies, self.params.blackhole_s)
            elif isinstance(writers, ProcessWriters):
                at = writers.crash(START_TIMEOUT_S)
            else:
                server = self.target.server
                assert server is not None, "crashes are planned only for a server the run started"
                at = crash(server)
                server.restart()
            faults.append(Fault(kind, at, time.time()))
        return faults

    def _final_contents(self, url: str, acknowledged: set[str]) -> list[StoredEvent]:
        """The store's events once every acknowledged append is readable, or after ``settle_s`` (an
        engine may hold readers back for a while after a crash, e.g. behind an open transaction)."""
        deadline = time.monotonic() + self.params.settle_s
        store = self.stores.connect(url)
        try:
            while True:
                events = read_everything(store)
                if acknowledged <= {str(e.event_id) for e in events} or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        finally:
            store.close()
        return [StoredEvent(str(e.event_id), (e.metadata or {}).get("command"), e.stream_id, e.version, e.recorded_at.timestamp()) for e in events]

    def _wait_for_subscriber(self, subscriber: SupervisedSubscriber, stored: list[StoredEvent]) -> bool:
        """Wait until the subscriber has handled the last stored event; True if it did. Anything it
        passed over by then it has missed for good."""
        if not stored:
            return True
        deadline = time.monotonic() + self.params.settle_s
        while time.monotonic() < deadline:
            if subscriber.has_handled(stored[-1].event_id):
                return True
            time.sleep(0.05)
        return False

    # -- records ---------------------------------------------------------------------------------

    def _measurements(self, result: Audit, plan: _Plan, faults: list[Fault], setting: DurabilitySetting, point: dict[str, Any], rep: int,
                      complete: bool, subscriber: SupervisedSubscriber, note: str) -> Iterator[Measurement]:
        def m(metric: str, value: float | None, extra: dict[str, Any] | None = None, why: str | None = None) -> Measurement:
            return Measurement(metric, value, {**point, **(extra or {})}, rep, note=why)

        crashes = sum(f.kind == "crash" for f in faults)
        yield m("crashes", float(crashes), why="; ".join(filter(None, [plan.crash_note, note])))
        yield m("cuts", float(sum(f.kind == "cut" for f in faults)), why=plan.cut_note)
        yield m("appends_acknowledged", float(result.appends_acknowledged))
        yield m("events_stored", float(result.events_stored))
        suffix = "" if setting.durable else "_nondurable"
        yield m(f"lost{suffix}", float(result.lost), why=CRASH_LIMIT if crashes else None)
        yield m("duplicated", float(result.duplicated))
        yield m("ambiguous", float(result.ambiguous))
        yield m("ambiguous_original", float(result.ambiguous_original))
        yield m("ambiguous_written", float(result.ambiguous_written))
        yield m("ambiguous_unresolved", float(result.ambiguous_unresolved))
        yield m("unanswered_stored", float(result.unanswered_stored))
        yield m(f"missed{suffix}", float(result.missed) if complete else None, why=None if complete else note)
        yield m("seen_twice", float(result.seen_twice))
        yield m("handled_not_stored", float(result.handled_not_stored))
        yield m("subscriber_resumes", float(len(subscriber.failures)), why=subscriber.failures[0] if subscriber.failures else None)
        for n, (fault, outage, catch_up) in enumerate(zip(faults, result.write_outage, result.catch_up, strict=True)):
            extra = {"fault": fault.kind, "fault_no": n}
            yield m("write_outage", None if outage is None else outage * 1e6, extra)
            yield m("subscriber_catch_up", None if catch_up is None else catch_up * 1e6, extra)
            if fault.kind == "crash":
                yield m("restart_time", (fault.recovered - fault.at) * 1e6, extra)


def _settings_summary(store: EventStore) -> dict[str, Any]:
    """What the store reports about its settings (durability above all); empty if it reports nothing."""
    describe = getattr(store, "settings_summary", None)
    return dict(describe()) if callable(describe) else {}


def _writes_resumed(journals: list[Path], since: float, timeout: float) -> bool:
    """Wait until an append sent after ``since`` has been acknowledged (so the last fault's recovery
    is measured), at most ``timeout`` seconds; True if one was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.acknowledged is not None and c.last_attempt > since for c in read_journals(journals).values()):
            return True
        time.sleep(0.1)
    return False
