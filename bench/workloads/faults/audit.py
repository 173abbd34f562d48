"""The audit of the faults workload: the writers' journals, the store's final contents and what the
subscriber handled, compared after the faults.

Nothing here trusts the store or the writers: an acknowledged append is one the journal says was
answered, and it counts as kept only if every one of its event ids is in the store, once. Commands
are told apart by the command id in each event's metadata, so a command stored twice under other
event ids is caught as well as one stored twice under the same ids.
"""
from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CommandLog:
    """What a writer's journal says about one command (see ``bench.workloads.faults.writer``)."""

    id: str
    stream: str
    event_ids: tuple[str, ...]
    #: When the first attempt was sent, then when each failed attempt ended: the answered attempt began after it.
    last_attempt: float
    #: When each attempt ended without an answer (the ambiguous outcomes), in order.
    failures: list[float] = field(default_factory=list)
    acknowledged: float | None = None
    versions: tuple[int, int] | None = None
    gave_up: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    command: str | None
    stream: str
    version: int
    recorded_at: float


@dataclass(frozen=True)
class Fault:
    """One injected fault: ``kind`` is ``crash`` or ``cut``; ``recovered`` is when the engine answered
    again (the server restarted, the proxy let connections through again)."""

    kind: str
    at: float
    recovered: float


@dataclass
class Audit:
    """The outcome of one case. Counts are of appends (commands) unless they say events."""

    appends_acknowledged: int
    events_stored: int
    #: Acknowledged appends not wholly in the store afterwards.
    lost: int
    #: Appends stored more than once (more events carry their command id than the append had).
    duplicated: int
    #: Appends at least one of whose attempts ended without an answer.
    ambiguous: int
    #: ... of which the first attempt had landed and the retry returned its result.
    ambiguous_original: int
    #: ... of which the retry wrote the append (the first attempt had not landed).
    ambiguous_written: int
    #: ... of which the retry never got an answer, or its answer is not what the store holds.
    ambiguous_unresolved: int
    #: Appends never answered (given up) whose events are in the store nonetheless.
    unanswered_stored: int
    #: Stored events the subscriber never handled; handled more than once; handled but not stored.
    missed: int
    seen_twice: int
    handled_not_stored: int
    #: Per fault: seconds from it until an append sent after it was acknowledged, and until the
    #: subscriber had handled everything acknowledged up to then (None: no such append).
    write_outage: list[float | None]
    catch_up: list[float | None]


def read_journals(paths: Iterable[Path]) -> dict[str, CommandLog]:
    """Every command in the writers' journals, by command id."""
    commands: dict[str, CommandLog] = {}
    for path in paths:
        if not path.exists():  # the writer never got as far as opening its journal
            continue
        for raw in path.read_text().splitlines():
            kind, _, rest = raw.partition(" ")
            at, _, rest = rest.partition(" ")
            command, _, detail = rest.partition(" ")
            if kind == "P":
                stream, _, ids = detail.partition(" ")
                commands[command] = CommandLog(command, stream, tuple(ids.split(",")), float(at))
                continue
            log = commands.get(command)
            if log is None:
                continue
            if kind in ("F", "C"):
                log.last_attempt = float(at)
            if kind == "F":
                log.failures.append(float(at))
            elif kind == "A":
                first, last = detail.split()
                log.acknowledged, log.versions = float(at), (int(first), int(last))
            elif kind == "X":
                log.gave_up = detail
    return commands


def audit(commands: dict[str, CommandLog], stored: list[StoredEvent], handled: list[tuple[float, str]], faults: list[Fault]) -> Audit:
    """Compare what the writers were told with what the store holds and the subscriber handled."""
    by_command: dict[str | None, list[StoredEvent]] = defaultdict(list)
    for event in stored:
        by_command[event.command].append(event)
    stored_ids = {e.event_id for e in stored}
    acknowledged = [c for c in commands.values() if c.acknowledged is not None]
    lost = [c for c in acknowledged if not set(c.event_ids) <= stored_ids]
    duplicated = [c for c in commands.values() if len(by_command.get(c.id, ())) > len(c.event_ids)]
    ambiguous = [c for c in commands.values() if c.failures]
    lost_ids = {c.id for c in lost}
    original = written = unresolved = 0
    for c in ambiguous:
        copies = by_command.get(c.id, [])
        if c.id in lost_ids:
            continue  # answered, then lost to a later crash: counted as lost
        if c.acknowledged is None or c.versions is None or not _stored_as_answered(c, copies):
            unresolved += 1
        elif min(e.recorded_at for e in copies) < c.failures[0]:
            original += 1
        else:
            written += 1
    unanswered_stored = sum(1 for c in commands.values() if c.acknowledged is None and by_command.get(c.id))
    times = Counter(event_id for _, event_id in handled)
    first_seen: dict[str, float] = {}
    for at, event_id in handled:
        first_seen.setdefault(event_id, at)
    outage, catch_up = _recovery(acknowledged, first_seen, faults)
    return Audit(
        appends_acknowledged=len(acknowledged), events_stored=len(stored), lost=len(lost), duplicated=len(duplicated),
        ambiguous=len(ambiguous), ambiguous_original=original, ambiguous_written=written, ambiguous_unresolved=unresolved,
        unanswered_stored=unanswered_stored, missed=len(stored_ids - set(times)), seen_twice=sum(n - 1 for n in times.values()),
        handled_not_stored=len(set(times) - stored_ids), write_outage=outage, catch_up=catch_up,
    )


def _stored_as_answered(command: CommandLog, copies: list[StoredEvent]) -> bool:
    """The store holds the command once, in its stream, at the versions the writer was told."""
    assert command.versions is not None
    first, last = command.versions
    return (
        sorted(e.event_id for e in copies) == sorted(command.event_ids)
        and all(e.stream == command.stream for e in copies)
        and sorted(e.version for e in copies) == list(range(first, last + 1))
    )


def _recovery(acknowledged: list[CommandLog], first_seen: dict[str, float], faults: list[Fault]) -> tuple[list[float | None], list[float | None]]:
    """Per fault: the time until the first acknowledgement of an attempt sent after the fault (an
    answer already on its way when the fault struck does not count); and the time until the
    subscriber had handled every event acknowledged up to that moment (events it never handled are
    counted as missed, not waited for)."""
    ordered = sorted(acknowledged, key=lambda c: c.acknowledged or 0.0)
    acks = [c.acknowledged or 0.0 for c in ordered]
    handled_by: list[float] = []  # handled_by[n]: when every event of the first n + 1 answered appends had been handled
    latest = float("-inf")
    for c in ordered:
        latest = max([latest, *(first_seen[i] for i in c.event_ids if i in first_seen)])
        handled_by.append(latest)
    outage: list[float | None] = []
    catch_up: list[float | None] = []
    for fault in faults:
        start = bisect.bisect_right(acks, fault.at)
        recovered = next((n for n in range(start, len(ordered)) if ordered[n].last_attempt > fault.at), None)
        if recovered is None:
            outage.append(None)
            catch_up.append(None)
            continue
        outage.append(acks[recovered] - fault.at)
        done = handled_by[recovered]
        catch_up.append(done - fault.at if done != float("-inf") else None)
    return outage, catch_up
