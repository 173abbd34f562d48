"""Faults: what each engine keeps when its server crashes, a connection drops mid-commit, or the power fails.

While several writers append (each command one batch with fixed event ids, retried with the same
ids whenever an attempt ends without an answer: ``writer``) and a checkpointed subscriber follows
(resuming from its checkpoint whenever it fails: ``subscriber``), faults come at random moments,
again and again, each once writes have resumed after the last:

- crashes and connection cuts (``crashes``): on the run's own deployment. A process crash cannot
  show everything: what the OS had accepted (its page cache) survives it.
- power cuts (``power``): on a deployment of the engine's own whose data lives on a power-loss mount,
  where a cut also drops every write not yet fsynced. These runs measure what is kept, never speed:
  the FUSE layer slows I/O, so they record no timing at all.

Then everything settles and the audit (``audit``) compares the writers' journals, the store and the
subscriber's log. Each engine runs every durability setting it declares (``durability_settings``);
the first is its own configuration, the one its row in the report is judged under. A setting
declared durable records ``lost`` (a rule for every engine: under power cuts it checks the
declaration), one traded for speed records ``lost_nondurable`` (shown, no rule). Durability belongs
to an engine's settings, not to its adapter, so it is not a capability.
"""
from __future__ import annotations

import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bench.harness.metrics import EVERY_ENGINE, Dimension, Metric
from bench.harness.params import ParameterError, Params, param
from bench.harness.workload import Measurement, StoreFactory, Workload, read_everything
from bench.powerloss import PowerLossUnavailable, unavailable_reason
from eventstore import EventStore
from eventstore.plugins import DEFAULTS, DurabilitySetting, engines
from eventstore.servers import ServiceUnavailable

from .audit import Audit, Fault, StoredEvent, audit, read_journals
from .crashes import CRASH_LIMIT, FaultTarget, ProcessFaults
from .injection import counted_logs
from .power import EngineLost, PowerCuts, deployed_on_mount
from .subscriber import SupervisedSubscriber
from .writer import WriterConfig
from .writers import ProcessWriters, ThreadWriters

#: Longest wait for the writers to open their stores, at the start and after a crash.
START_TIMEOUT_S = 30.0
#: After power cuts, the store's contents are final once they have not changed for this long.
QUIET_S = 3.0
#: The ``mode`` a deployment reports for a deliberately broken design, kept as a counter-example.
NAIVE_MODE = "naive"

Writers = ThreadWriters | ProcessWriters
Strike = Callable[[str, Writers, SupervisedSubscriber], Fault]


@dataclass(frozen=True)
class FaultsParams(Params):
    repetitions: int = param(1, "repetitions of every engine setting; each one injects every fault below")
    budget_s: float | None = param(420.0, "seconds one engine may spend on all its settings; later faults and settings are recorded as skipped")
    crashes: int = param(10, "engine crashes (SIGKILL, restart on the same data) per setting and repetition")
    cuts: int = param(10, "connection cuts mid-commit per setting and repetition")
    power_cuts: int = param(10, "power cuts per setting and repetition: the engine's data on a power-loss mount, unsynced writes dropped (needs FUSE)")
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
    settings: tuple[str, ...] = param(("all",), "durability settings to measure: all (every one each engine declares), first (each engine's own: "
                                                 "the first it declares) or names such as synchronous-off; an engine with none of them runs its defaults")

    def check(self) -> None:
        super().check()
        low, high = self.fault_every_s
        if min(self.crashes, self.cuts, self.power_cuts) < 0 or self.crashes + self.cuts + self.power_cuts < 1 or not 0 <= low <= high:
            raise ParameterError("crashes, cuts and power_cuts >= 0, at least one fault, 0 <= fault_every_s[0] <= fault_every_s[1]")
        if min(self.writers, self.max_batch, self.streams, self.checkpoint_every, self.batch_size) < 1:
            raise ParameterError("writers, max_batch, streams, checkpoint_every and batch_size must be >= 1")
        if min(self.appends_per_s, self.retry_for_s, self.poll_interval_s, self.settle_s) <= 0 or self.blackhole_s < 0:
            raise ParameterError("appends_per_s, retry_for_s, poll_interval_s and settle_s must be > 0, blackhole_s >= 0")
        known = {"all", "first"} | {s.name for engine in engines().values() for s in engine.durability_settings}
        unknown = [name for name in self.settings if name not in known]
        if unknown:
            raise ParameterError(f"settings: unknown {', '.join(unknown)}; known: {', '.join(sorted(known))}")


@dataclass
class _Outcome:
    """What one case saw: the audit (None when the store could not be read after the faults), the
    faults struck, whether the subscriber caught up, and why the engine was lost, if it was."""

    result: Audit | None
    faults: list[Fault]
    complete: bool
    subscriber: SupervisedSubscriber
    notes: list[str] = field(default_factory=list)
    lost_engine: str | None = None
    #: Why writes stopped recovering (no append sent after a fault was acknowledged within the retry bound).
    stalled: str | None = None


class Faults(Workload[FaultsParams]):
    name = "faults"
    title = "Crashes, connection cuts and power loss"
    rank = 50
    params_type = FaultsParams
    needs_cross_process = True  # embedded engines' writers run as processes
    dimensions = (
        Dimension("setting", "the engine's durability setting"),
        Dimension("durable", "whether the setting is declared to keep every acknowledged append through a power loss"),
        Dimension("power_loss", "whether the case ran power cuts on a power-loss mount (true) or crashes and cuts on the run's own deployment"),
        Dimension("fault", "crash, cut or power cut"),
        Dimension("fault_no", "which fault of the repetition"),
    )
    metrics = (
        Metric("crashes", "faults", "engine crashes injected; the note says how, or why none"),
        Metric("cuts", "faults", "connection cuts injected mid-commit; the note says how, or why none"),
        Metric("power_cuts", "faults", "power cuts injected (unsynced writes dropped); the note says how, or why none"),
        Metric("unsynced_bytes_dropped", "bytes", "per power cut: bytes written since their file's last fsync that the cut dropped (0: nothing to lose)"),
        Metric("entries_dropped", "entries", "per power cut: directory changes (create, rename, remove) not yet fsynced that the cut undid"),
        Metric("unrecovered", "faults", "power cuts after which the engine did not come back (its server did not start, its store could not be opened or read); the note holds the error", "lower"),
        Metric("appends_acknowledged", "appends", "appends the store answered, on the first attempt or a retry"),
        Metric("events_stored", "events", "events in the store after the faults"),
        Metric("lost", "appends", "acknowledged appends missing after the faults, under settings declared durable", "lower", rule=EVERY_ENGINE),
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
        Metric("write_outage", "us", "per crash or cut: time without a successful append, from the fault until an append sent after it was acknowledged", "lower"),
        Metric("subscriber_catch_up", "us", "per crash or cut: from the fault until the subscriber had handled everything acknowledged up to the end of the write outage", "lower"),
        Metric("restart_time", "us", "per crash: from the SIGKILL until the engine answered again", "lower"),
    )

    def __init__(self, params: FaultsParams | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self._process_faults: ProcessFaults | None = None

    @property
    def target(self) -> FaultTarget:
        return cast(FaultTarget, self.stores)

    def settings(self) -> list[DurabilitySetting]:
        """The settings this engine runs: those it declares that are chosen, or its defaults."""
        chosen = self.params.settings
        declared = engines()[self.target.name].durability_settings
        listed = [s for n, s in enumerate(declared) if "all" in chosen or s.name in chosen or ("first" in chosen and n == 0)]
        return listed or [DEFAULTS]

    def cases(self) -> list[dict[str, Any]]:
        """Per repetition: crashes and cuts under the engine's own (first) setting, then power cuts under
        every setting. A power cut is a crash that also drops what was not fsynced, so where power cuts
        can run, crashes and cuts under the other settings would show nothing more (connection cuts
        test the client's retries, which no durability setting changes); where they cannot, crashes
        and cuts run under every setting, after the power cases (which then only record why not)."""
        p, settings = self.params, self.settings()
        process = settings if (p.crashes + p.cuts) else []
        if p.power_cuts and self.power_unmeasurable() is None:
            process = process[:1]
        power = settings if p.power_cuts else []
        order = [*((s, False) for s in process[:1]), *((s, True) for s in power), *((s, False) for s in process[1:])]
        return [{"setting": s.label, "durable": s.durable, "power_loss": on_mount, "repetition": r} for r in range(p.repetitions) for s, on_mount in order]

    def power_unmeasurable(self) -> str | None:
        """Why this engine gets no power cuts here (None: it does): data the run does not own (an
        external server, an emulator's memory), a deliberately broken design (its storage and
        settings are its reference engine's, whose power cuts are measured; left out to keep the
        run within its time), or no FUSE on this machine."""
        if self.target.settings.get("mode") == NAIVE_MODE:
            return ("a deliberately broken design (mode naive), never a candidate: its storage and settings are those of its reference engine, "
                    "whose power cuts are measured, so its own are left out to keep the run within its time")
        return self.target.no_crash_reason or unavailable_reason()

    def close(self) -> None:
        if self._process_faults is not None:
            self._process_faults.close()
        self._process_faults = None

    # -- one case --------------------------------------------------------------------------------

    def run_case(self, case: dict[str, Any]) -> Iterator[Measurement]:
        rep = case["repetition"]
        setting = next(s for s in self.settings() if s.label == case["setting"])
        point = {"setting": setting.label, "durable": setting.durable, "power_loss": case["power_loss"]}
        if case["power_loss"]:
            yield from self._power_case(setting, point, rep)
        else:
            yield from self._process_case(setting, point, rep)

    def _process_case(self, setting: DurabilitySetting, point: dict[str, Any], rep: int) -> Iterator[Measurement]:
        p = self.params
        if setting.server:
            yield Measurement("skipped", 1.0, point, rep, note="not measured: a server setting, which the run's shared server does not take; "
                              "only its power-loss run starts a server of its own with it")
            return
        url = setting.url(self.stores.new_url(f"faults{rep}"))
        reported, wrong = _applied(self.stores, url, setting)
        if wrong:
            yield Measurement("skipped", 1.0, point, rep, note=wrong)
            return
        rng = random.Random(f"{p.seed}/{setting.label}/{rep}")
        if self._process_faults is None:
            self._process_faults = ProcessFaults(self.target, p.blackhole_s)
        faults = self._process_faults
        plan = faults.plan(url, p.crashes, p.cuts, rng)
        try:
            kinds = ["crash"] * plan.crashes + ["cut"] * plan.cuts
            outcome = self._session(self.stores, plan.url, kinds, lambda kind, writers, _: faults.strike(kind, plan, writers, START_TIMEOUT_S), rng, power=False)
        finally:
            faults.release(plan)
        assert outcome.result is not None, "a process case raises when the store cannot be read"
        note = "; ".join(filter(None, [*outcome.notes, _settings_note(reported)]))
        yield from self._measurements(outcome.result, outcome, setting, point, rep, why={"crashes": "; ".join(filter(None, [plan.crash_note, note])), "cuts": plan.cut_note})
        for n, (fault, outage, catch_up) in enumerate(zip(outcome.faults, outcome.result.write_outage, outcome.result.catch_up, strict=True)):
            extra = {**point, "fault": fault.kind, "fault_no": n}
            yield Measurement("write_outage", None if outage is None else outage * 1e6, extra, rep)
            yield Measurement("subscriber_catch_up", None if catch_up is None else catch_up * 1e6, extra, rep)
            if fault.kind == "crash":
                yield Measurement("restart_time", (fault.recovered - fault.at) * 1e6, extra, rep)

    def _power_case(self, setting: DurabilitySetting, point: dict[str, Any], rep: int) -> Iterator[Measurement]:
        """Power cuts on a deployment of the engine's own on a power-loss mount; an engine the run
        does not own the data of, or a machine without FUSE, records why not."""
        p = self.params
        why = self.power_unmeasurable()
        if why is not None:
            yield Measurement("power_cuts", 0.0, point, rep, note=f"not measured: {why}")
            return
        try:
            with deployed_on_mount(engines()[self.target.name], setting) as (mount, deployment):
                base = deployment.new_url(f"power{rep}")
                url = setting.url(base)
                try:
                    reported, wrong = _applied(deployment, url, setting)
                    if wrong:
                        yield Measurement("skipped", 1.0, point, rep, note=wrong)
                        return
                    mount.sync()  # the store's schema, file or topics: the harness's set-up, not the engine's work
                    cuts = PowerCuts(mount, deployment)
                    rng = random.Random(f"{p.seed}/{setting.label}/{rep}/power")
                    outcome = self._session(deployment, url, ["power cut"] * p.power_cuts, lambda _, writers, subscriber: cuts.strike(writers, subscriber, START_TIMEOUT_S),
                                            rng, power=True)
                finally:
                    deployment.release(base)  # it goes with the mount; an engine the cuts broke could not drop it
        except (PowerLossUnavailable, ServiceUnavailable) as exc:
            yield Measurement("power_cuts", 0.0, point, rep, note=f"not measured: the engine could not be started on a power-loss mount: {exc}"[:1500])
            return
        note = "; ".join(filter(None, [cuts.note, *outcome.notes, _settings_note(reported)]))
        yield Measurement("power_cuts", float(len(cuts.cuts)), point, rep, note=note)
        for n, cut in enumerate(cuts.cuts):
            extra = {**point, "fault": "power cut", "fault_no": n}
            yield Measurement("unsynced_bytes_dropped", float(cut.bytes_dropped), extra, rep)
            yield Measurement("entries_dropped", float(cut.entries_dropped), extra, rep)
        unrecovered = outcome.lost_engine or outcome.stalled
        yield Measurement("unrecovered", float(unrecovered is not None), point, rep, note=unrecovered)
        if outcome.result is None:
            suffix = "" if setting.durable else "_nondurable"
            yield Measurement(f"lost{suffix}", None, point, rep, note=f"unknown: {outcome.lost_engine}")
            return
        yield from self._measurements(outcome.result, outcome, setting, point, rep, why={})

    # -- the faults themselves -------------------------------------------------------------------

    def _session(self, stores: StoreFactory, url: str, kinds: list[str], strike: Strike, rng: random.Random, *, power: bool) -> _Outcome:
        """Writers and a subscriber on ``url`` while the faults ``kinds`` strike in random order, then
        the audit. ``power`` (power cuts): an engine that does not come back (``EngineLost``), or
        whose store cannot be read afterwards, is what the case measured, recorded with its error."""
        p = self.params
        target = cast(FaultTarget, stores)
        namespace = uuid.UUID(int=rng.getrandbits(128))
        streams = [f"Fault-{uuid.uuid5(namespace, str(n))}" for n in range(p.streams)]
        seed = f"{p.seed}/{rng.random()}"
        configs = [WriterConfig(n, streams, p.appends_per_s, p.max_batch, p.retry_for_s, seed) for n in range(p.writers)]
        with tempfile.TemporaryDirectory(prefix="faults-") as tmp, counted_logs() as logged:
            journals = [Path(tmp) / f"writer-{n}.journal" for n in range(p.writers)]
            writers: Writers
            if target.server is None and target.no_crash_reason is None:  # embedded: the writers are the engine
                writers = ProcessWriters(target.name, url, configs, journals, Path(tmp) / "writers.err")
            else:
                writers = ThreadWriters(lambda: stores.connect(url), configs, journals)
            subscriber = SupervisedSubscriber(lambda: stores.connect(url), checkpoint_every=p.checkpoint_every,
                                              batch_size=p.batch_size, poll_interval=p.poll_interval_s).start()
            outcome = _Outcome(None, [], True, subscriber)
            stored: list[StoredEvent] | None = None
            try:
                writers.start(START_TIMEOUT_S)
                try:
                    outcome.faults, outcome.stalled = self._inject(kinds, lambda kind: strike(kind, writers, subscriber), journals, rng, outcome.notes)
                except EngineLost as exc:
                    if not power:
                        raise
                    outcome.lost_engine = str(exc)
                writers.stop(5 if outcome.lost_engine else p.retry_for_s + 30)
                commands = read_journals(journals)
                acknowledged = {i for c in commands.values() if c.acknowledged is not None for i in c.event_ids}
                if outcome.lost_engine is None:
                    try:
                        stored = self._final_contents(stores, url, acknowledged, QUIET_S if power else None)
                    except Exception as exc:  # an engine that cannot be read after power cuts is the result measured: kept with its error
                        if not power:
                            raise
                        outcome.lost_engine = f"the store could not be read after the faults: {type(exc).__name__}: {exc}"[:1500]
                if stored is not None:
                    outcome.complete = self._wait_for_subscriber(subscriber, stored)
            finally:
                subscriber.stop()
                writers.stop(5)
            if stored is not None:
                outcome.result = audit(commands, stored, list(subscriber.handled), outcome.faults)
            if not outcome.complete:
                outcome.notes.append(f"the subscriber did not catch up within {p.settle_s:g} s, so misses are unknown")
            outcome.notes += writers.errors
            if logged:
                outcome.notes.append(f"client libraries logged {sum(logged.values())} lines while faults were injected ({', '.join(f'{k}: {n}' for k, n in logged.most_common(3))})")
        return outcome

    def _inject(self, kinds: list[str], strike: Callable[[str], Fault], journals: list[Path], rng: random.Random,
                notes: list[str]) -> tuple[list[Fault], str | None]:
        """Strike ``kinds`` in random order, each once writes have resumed after the last one (so each
        one's recovery is measured, and the retry bound is not spent on a pile-up). Writes that do
        not resume within the retry bound end the injection: the engine no longer recovers, and the
        second item says so."""
        kinds = list(kinds)
        rng.shuffle(kinds)
        faults: list[Fault] = []
        for n, kind in enumerate([*kinds, None]):
            if faults and not _writes_resumed(journals, faults[-1].at, self.params.retry_for_s):
                stalled = (f"writes had not resumed {self.params.retry_for_s:g} s after {faults[-1].kind} {n}: the engine answered, "
                           "but no append sent after it was acknowledged")
                notes.append(stalled + (f"; the {len(kinds) - n} faults left were not injected" if kind else ""))
                return faults, stalled
            if kind is None:
                break
            if self.time_left() <= 0:
                notes.append(f"stopped after {n} of {len(kinds)} faults: the engine's time budget ran out")
                break
            time.sleep(rng.uniform(*self.params.fault_every_s))
            faults.append(strike(kind))
        return faults, None

    def _final_contents(self, stores: StoreFactory, url: str, acknowledged: set[str], quiet_s: float | None = None) -> list[StoredEvent]:
        """The store's events once every acknowledged append is readable, or after ``settle_s`` (an
        engine may hold readers back for a while after a crash, e.g. behind an open transaction).
        ``quiet_s``: after power cuts, also once the events have not changed for that long: under a
        setting that does not fsync, acknowledged appends can be gone for good, and waiting the
        whole ``settle_s`` for them would only cost time (what survived a cut and was acknowledged
        was readable before it, so nothing holds it back)."""
        start = time.monotonic()
        deadline = start + self.params.settle_s
        store = stores.connect(url)
        count, changed = -1, start
        try:
            while True:
                events = read_everything(store)
                now = time.monotonic()
                if len(events) != count:
                    count, changed = len(events), now
                if acknowledged <= {str(e.event_id) for e in events} or now > deadline or (quiet_s is not None and now - changed >= quiet_s):
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

    def _measurements(self, result: Audit, outcome: _Outcome, setting: DurabilitySetting, point: dict[str, Any], rep: int,
                      why: dict[str, str]) -> Iterator[Measurement]:
        """The audit's counts; ``why``: the notes of the fault counts (crashes, cuts) this case records."""
        def m(metric: str, value: float | None, note: str | None = None) -> Measurement:
            return Measurement(metric, value, point, rep, note=note)

        crashes = sum(f.kind == "crash" for f in outcome.faults)
        if "crashes" in why:
            yield m("crashes", float(crashes), why["crashes"])
            yield m("cuts", float(sum(f.kind == "cut" for f in outcome.faults)), why["cuts"])
        yield m("appends_acknowledged", float(result.appends_acknowledged))
        yield m("events_stored", float(result.events_stored))
        suffix = "" if setting.durable else "_nondurable"
        yield m(f"lost{suffix}", float(result.lost), CRASH_LIMIT if crashes else None)
        yield m("duplicated", float(result.duplicated))
        yield m("ambiguous", float(result.ambiguous))
        yield m("ambiguous_original", float(result.ambiguous_original))
        yield m("ambiguous_written", float(result.ambiguous_written))
        yield m("ambiguous_unresolved", float(result.ambiguous_unresolved))
        yield m("unanswered_stored", float(result.unanswered_stored))
        missed_note = None if outcome.complete else "; ".join(outcome.notes)
        yield m(f"missed{suffix}", float(result.missed) if outcome.complete else None, missed_note)
        yield m("seen_twice", float(result.seen_twice))
        yield m("handled_not_stored", float(result.handled_not_stored))
        failures = outcome.subscriber.failures
        yield m("subscriber_resumes", float(len(failures)), failures[0] if failures else None)


def _applied(stores: StoreFactory, url: str, setting: DurabilitySetting) -> tuple[dict[str, Any], str | None]:
    """Open ``url`` once (which creates the schema, file, tables or topics) and read what the store
    reports about its settings; the second item says why the setting is not measured, if the store
    does not report the values ``setting`` expects (it silently ignored it)."""
    store = stores.connect(url)
    try:
        reported = _settings_summary(store)
    finally:
        store.close()
    wrong = [f"{k}={reported.get(k)!r} (expected {v})" for k, v in setting.expect if str(reported.get(k, "")).lower() != v.lower()]
    return reported, f"not measured: the store does not apply this setting; it reports {', '.join(wrong)}" if wrong else None


def _settings_summary(store: EventStore) -> dict[str, Any]:
    """What the store reports about its settings (durability above all); empty if it reports nothing."""
    describe = getattr(store, "settings_summary", None)
    return dict(describe()) if callable(describe) else {}


def _settings_note(reported: dict[str, Any]) -> str:
    return "settings: " + ", ".join(f"{k}={v}" for k, v in reported.items()) if reported else ""


def _writes_resumed(journals: list[Path], since: float, timeout: float) -> bool:
    """Wait until an append sent after ``since`` has been acknowledged (so the last fault's recovery
    is measured), at most ``timeout`` seconds; True if one was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.acknowledged is not None and c.last_attempt > since for c in read_journals(journals).values()):
            return True
        time.sleep(0.1)
    return False
