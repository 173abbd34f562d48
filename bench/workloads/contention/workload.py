"""Append contention: W writers run load-decide-append-retry on S streams chosen with a Zipf skew.

Skew 0 spreads commands uniformly over the streams; larger skews concentrate them on the first
streams, so skew 3 sends about 80 % of commands to one hot stream (the record ``hot_stream_share``
says how much it really was). Each writer is a process of its own (``bench.harness.loadgen``) with its own
connection and its own seeded random stream choice; the writers start each measurement together.
Engines whose stores live inside one process (``memory://``) use threads instead, and their points
say ``client: threads``.

The window follows the load generator's rule: at least ``duration_s``, then on until
``min_completions`` commands succeeded or ``max_duration_s``. Throughput counts successes completed
inside the window over its actual length (``window_s`` and ``completions`` are recorded); latency
(including retries) is recorded for successful commands started inside it. The ``warmup_s`` before
the window is not measured but counts for the correctness check, which compares each stream's final
value and event count with the commands that reported success, from the tallies of every writer (an
append that failed with an engine error may or may not be stored, and is allowed either way). A
command still retrying ``grace_s`` after the window is abandoned (its next decision appends
nothing), so a slow engine cannot stretch a case without bound. A throughput of 0 or a point
without latency samples says why in its note.

The harness's ceiling: in the first ``ceiling_repetitions`` repetitions each point is measured a
second time, right after the engine, by the same writers against private in-memory stores (one per
writer: nothing remote, nothing shared), with the same streams, skew and window rule. An engine
whose throughput reaches 80 % of that ``ceiling_throughput`` is client-bound at that point.
"""
from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Any

from bench.harness import stats
from bench.harness.loadgen import Measured, WindowRule, Workers, resolution_note, window_param, window_problem
from bench.harness.metrics import Dimension, Metric
from bench.harness.model import Register
from bench.harness.params import ConvergingParams, ParameterError, param
from bench.harness.workload import Measurement, Workload, latency_measurements
from eventstore import EventStore, Repository, open_store

from .writer import CEILING, ENGINE, Commands, Writer, WriterTally

#: How long after the grace period a writer's reply may take (one last attempt, a slow engine).
REPLY_SLACK_S = 60.0

#: Longest the writers may take for their one warm-up command each, together.
PRIME_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ContentionParams(ConvergingParams):
    budget_s: float | None = param(120.0, "seconds one engine may spend on this workload; later cases are recorded as skipped")
    max_repetitions: int = param(4, "a point whose 95 % CI is not yet within ±5 % of its median gets more repetitions, up to this many")
    writers: tuple[int, ...] = param((1, 4, 16), "numbers of concurrent writers (processes, each with its own connection)")
    skews: tuple[float, ...] = param((0.0, 3.0), "Zipf exponents of the stream choice: 0 uniform, 3 mostly one hot stream")
    streams: int = param(16, "streams (aggregates) the writers choose from")
    # Longer windows than the calls': a window's throughput varies with the machine's moment, and
    # four seconds average that better than more two-second repetitions do in the same time.
    duration_s: float = window_param("duration_s", 4.0)
    warmup_s: float = window_param("warmup_s")
    min_completions: int = window_param("min_completions")
    max_duration_s: float = window_param("max_duration_s", 8.0)
    ceiling_repetitions: int = window_param("ceiling_repetitions")
    max_attempts: int = param(50, "attempts per command before it gives up (RetriesExhausted)")
    grace_s: float = param(1.0, "a command still retrying this long after the window is abandoned")

    def check(self) -> None:
        super().check()
        if not self.writers or min(self.writers) < 1:
            raise ParameterError("writers must be a non-empty list of counts >= 1")
        if not self.skews or min(self.skews) < 0:
            raise ParameterError("skews must be a non-empty list of Zipf exponents >= 0")
        if self.streams < 1 or self.max_attempts < 1 or self.grace_s < 0:
            raise ParameterError("streams >= 1, max_attempts >= 1, grace_s >= 0")
        problem = window_problem(self)
        if problem:
            raise ParameterError(problem)


def zipf_cumulative(streams: int, skew: float) -> list[float]:
    """Cumulative weights of streams 0..S-1 with weight 1/(rank+1)^skew (skew 0: uniform)."""
    return list(accumulate(1.0 / (rank + 1) ** skew for rank in range(streams)))


class Contention(Workload[ContentionParams]):
    name = "contention"
    title = "Append contention"
    rank = 10
    params_type = ContentionParams
    converge_on = ("throughput",)
    dimensions = (
        Dimension("writers", "concurrent writers (processes, or threads for an in-process engine)", "writers"),
        Dimension("skew", "Zipf exponent of the stream choice (0: uniform)"),
        Dimension("streams", "streams the writers choose from", "streams"),
        Dimension("max_attempts", "attempts per command before it gives up", "attempts"),
        Dimension("client", "whether the writers ran as processes or threads"),
    )
    metrics = (
        Metric("throughput", "commands/s", "successful commands completed inside the measurement window, per second", "higher"),
        Metric("window_s", "s", "length of the measurement window (at least duration_s)"),
        Metric("completions", "commands", "successful commands completed inside the window (the throughput's numerator)"),
        Metric("ceiling_throughput", "commands/s", "the same writers against private in-memory stores: what the load generator itself reaches"),
        Metric("commands", "commands", "commands started inside the measurement window"),
        Metric("conflicts", "conflicts", "attempts refused for a stale expected version", "lower"),
        Metric("conflict_rate", "fraction of attempts", "share of attempts refused for a stale expected version", "lower"),
        Metric("retries_per_success", "retries", "retries per successful command", "lower"),
        Metric("exhausted", "commands", "commands that gave up after max_attempts", "lower"),
        Metric("abandoned", "commands", "commands still retrying grace_s after the window, abandoned", "lower"),
        Metric("fairness_jain", "index", "Jain's index of the writers' completed commands (1: equal shares)", "higher"),
        Metric("fairness_min_max", "ratio", "fewest over most commands completed by one writer", "higher"),
        Metric("hot_stream_share", "fraction", "share of commands that went to the most chosen stream"),
        Metric("errors", "errors", "engine errors (the note holds the first)", "lower"),
        Metric("command_latency", "us", "command latency including retries", "lower", family=True),
        Metric("lost_updates", "commands", "lost updates (successful commands missing from the final value)", "lower", rule="optimistic_concurrency"),
        Metric("duplicate_events", "events", "events stored more often than commands succeeded", "lower", rule="optimistic_concurrency"),
        Metric("missing_events", "events", "acknowledged commands whose events are missing", "lower", rule="optimistic_concurrency"),
        Metric("successful_commands", "commands", "commands told success over the whole case, warmup included"),
        Metric("ambiguous_commands", "commands", "commands whose append failed with an engine error (stored or not)"),
    )

    def cases(self) -> list[dict[str, Any]]:
        p = self.params
        return [
            {"writers": w, "skew": float(s), "repetition": r}
            for r in range(p.repetitions) for s in p.skews for w in p.writers
        ]

    def open(self, stores: Any) -> None:
        super().open(stores)
        self._url = stores.new_url("contention")
        self._audit: EventStore = stores.connect(self._url)  # opened first: it may create the schema or table
        processes = bool(stores.cross_process)
        opener = open_store if processes else stores.connect
        self._writers = Workers(Writer, [(self._url, opener, processes)] * max(self.params.writers), processes=processes, name="writer")
        try:
            self._writers.start()
            # every writer completes one command before any window: no first measured command pays
            # for a cold connection or (Kafka) for taking the writer fence for the first time
            self._writers.call({n: f"Prime-{uuid.uuid4()}" for n in range(len(self._writers))}, PRIME_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop the writers (see ``Workers.close``) and close the audit connection (the deployment
        closes the stores it shares itself)."""
        self._writers.close()
        if self.stores.cross_process:
            self._audit.close()

    def run_case(self, case: dict[str, Any]) -> Iterator[Measurement]:
        p = self.params
        writers, skew, rep = int(case["writers"]), float(case["skew"]), int(case["repetition"])
        if writers > len(self._writers):
            raise ParameterError(f"{writers} writers: this workload was opened with {len(self._writers)} (the largest of writers)")
        group = self._writers.start()  # a no-op unless a failed case left the writers broken
        point = {"writers": writers, "skew": skew, "streams": p.streams, "max_attempts": p.max_attempts, "client": group.client}
        cumulative = tuple(zipf_cumulative(p.streams, skew))
        ids = tuple(str(uuid.uuid4()) for _ in range(p.streams))
        measured = self._measure(ENGINE, ids, cumulative, writers, skew, rep)
        tallies: list[WriterTally] = measured.replies
        yield from self._measurements(measured, point, rep)
        yield from self._correctness(ids, tallies, point, rep)
        if rep < p.ceiling_repetitions:
            ceiling = self._measure(CEILING, tuple(str(uuid.uuid4()) for _ in ids), cumulative, writers, skew, rep)
            completed = sum(t.completed for t in ceiling.replies)
            note = f"{writers} writer(s), each against a private in-memory store: {completed} commands in a {ceiling.window_s:.2f} s window"
            yield Measurement("ceiling_throughput", completed / ceiling.window_s, point, rep, note=note)

    def _measure(self, target: str, ids: tuple[str, ...], cumulative: tuple[float, ...], writers: int, skew: float, rep: int) -> Measured:
        p = self.params
        requests = {
            n: Commands(target, ids, cumulative, f"{p.seed}/{rep}/{writers}/{skew}/{n}", p.max_attempts, p.grace_s)
            for n in range(writers)
        }
        return self._writers.measure(requests, p.warmup_s, WindowRule.of(p), p.grace_s + REPLY_SLACK_S)

    def _measurements(self, measured: Measured, point: dict[str, Any], rep: int) -> Iterator[Measurement]:
        p = self.params
        tallies: list[WriterTally] = measured.replies
        window = measured.window_s
        successes = sum(t.measured_successes for t in tallies)
        commands = sum(t.measured_commands for t in tallies)
        attempts = sum(t.attempts for t in tallies)
        conflicts = sum(t.conflicts for t in tallies)
        per_writer = [t.completed for t in tallies]
        completed = sum(per_writer)
        choices: Counter[int] = sum((t.choices for t in tallies), Counter())
        errors = [e for t in tallies for e in t.errors]
        histogram = stats.merge(stats.decode(t.histogram) for t in tallies)
        cause = None
        if completed == 0 or histogram.get_total_count() == 0:
            cause = _cause(tallies, window, errors, p)

        def m(metric: str, value: float | None, note: str | None = None) -> Measurement:
            return Measurement(metric, value, point, rep, note=note)

        yield m("throughput", completed / window, note=cause if completed == 0 else None)
        yield m("window_s", window)
        yield m("completions", float(completed), note=resolution_note(completed, window, p))
        yield m("commands", float(commands))
        yield m("conflicts", float(conflicts))
        yield m("conflict_rate", conflicts / attempts if attempts else None)
        yield m("retries_per_success", (attempts - commands) / successes if successes else None)
        yield m("exhausted", float(sum(t.exhausted for t in tallies)))
        yield m("abandoned", float(sum(t.abandoned for t in tallies)))
        yield m("fairness_jain", _jain(per_writer))
        yield m("fairness_min_max", min(per_writer) / max(per_writer) if max(per_writer) else None)
        yield m("hot_stream_share", max(choices.values()) / commands if commands else None)
        yield m("errors", float(len(errors)), note=errors[0] if errors else None)
        latency = latency_measurements("command_latency", histogram, point, rep)
        if histogram.get_total_count() == 0:
            latency = [replace(row, note=f"no successful command started inside the window: {cause}") for row in latency]
        yield from latency

    def _correctness(self, ids: tuple[str, ...], tallies: list[WriterTally], point: dict[str, Any], rep: int) -> Iterator[Measurement]:
        """Compare each stream with what every writer was told: every success must show in the value
        (else a lost update) and as one event; a failed append may or may not be stored."""
        successes: Counter[int] = sum((t.successes_all for t in tallies), Counter())
        ambiguous: Counter[int] = sum((t.ambiguous for t in tallies), Counter())
        repo = Repository(self._audit, Register, snapshot_every=0)
        lost = duplicated = missing = 0
        for n, id in enumerate(ids):
            register = repo.load(id)
            expected = successes[n]
            lost += max(0, expected - register.value)
            duplicated += max(0, register.applied - expected - ambiguous[n])
            missing += max(0, expected - register.applied)
        yield Measurement("lost_updates", float(lost), point, rep)
        yield Measurement("duplicate_events", float(duplicated), point, rep)
        yield Measurement("missing_events", float(missing), point, rep)
        yield Measurement("successful_commands", float(sum(successes.values())), point, rep)
        yield Measurement("ambiguous_commands", float(sum(ambiguous.values())), point, rep)


def _cause(tallies: list[WriterTally], window: float, errors: list[str], p: ContentionParams) -> str:
    """Why no command completed (or none started in the window succeeded), in words."""
    started = sum(t.started for t in tallies)
    successes = sum(t.measured_successes for t in tallies)
    exhausted = sum(t.exhausted for t in tallies)
    abandoned = sum(t.abandoned for t in tallies)
    longest = max((t.longest_s for t in tallies), default=0.0)
    causes = []
    if errors:
        causes.append(f"{len(errors)} engine error(s), the first: {errors[0]}")
    if started and not successes and exhausted + abandoned:
        causes.append(
            f"every command started in the window ended without success ({exhausted} exhausted after {p.max_attempts} attempts, "
            f"{abandoned} abandoned {p.grace_s:g} s after the window)"
        )
    if longest > window:
        causes.append(f"the window ({window:.2f} s) is shorter than one command: the longest took {longest:.2f} s")
    if not started:
        causes.append("no command started inside the window (each writer was still in a command begun during the warmup)")
    if not causes:
        causes.append(f"no command completed inside the {window:.2f} s window; the longest took {longest:.2f} s")
    return "; ".join(causes)


def _jain(values: list[int]) -> float | None:
    """Jain's fairness index: 1 when every writer got the same share, 1/n when one got everything."""
    total = sum(values)
    squares = sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else None
