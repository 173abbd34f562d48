"""The load generator: persistent worker processes, started together, each reporting its own tallies.

A workload starts its workers once per engine (``Workers.start``, in its ``open``): each is a
process of a ``forkserver`` context (never a fork of the harness, which holds connections and
threads) that builds a *job* from picklable arguments, typically opening its own store from the
URL, and then answers requests until it is told to stop. A measurement (``Workers.measure``) sends
each chosen worker its request with one start time on the system-wide monotonic clock
(``time.perf_counter()`` is CLOCK_MONOTONIC on Linux, comparable across processes), so they all
begin together; after ``warmup_s`` the window opens, and the parent closes it by the window rule
(``WindowParams``): at least ``duration_s``, then on until ``min_completions`` have completed or
``max_duration_s``. Workers publish their completions and read the end of the window on a
``Board`` of shared memory, keep their own tallies and HDR histograms, and send them back; the
parent merges them (percentiles only from merged histograms).

Workers ignore Ctrl-C (the parent stops them: ``close`` asks them to end their window and quit,
then terminates what is left), and die with the parent: a watchdog thread in each worker exits the
process at the end of file on a *lifeline* pipe that only the parent holds open, even in the middle
of a window (the fork server itself stays up while any worker does, so PR_SET_PDEATHSIG, which is
armed too, covers only its death). Engines whose stores live inside one process (``cross_process`` False) run the same jobs
in threads of the harness instead (``Workers(processes=False)``), which the records say.

As with any multiprocessing program, a script that runs these workloads must guard its entry with
``if __name__ == "__main__":`` (``python -m bench`` and notebooks need nothing).
"""
from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

from eventstore.plugins import engine_modules
from eventstore.servers import die_with_parent

#: Imported once by the fork server, so a worker starts without importing them again: this module,
#: the engine plugins ``open_store`` loads (what each store then imports itself is not known here)
#: and the module of the first workers' job (``Workers.start`` adds it before the server starts).
PRELOAD = [__name__, *engine_modules()]
#: How far ahead of now a measurement's common start time is set (requests must reach every worker).
LEAD_S = 0.1
#: A throughput point is client-bound when the engine reached this share of the harness's ceiling.
CLIENT_BOUND_SHARE = 0.8
#: The ``client`` point parameter: the load generator's workers were processes, or threads.
PROCESSES, THREADS = "processes", "threads"

#: Workers are forked by multiprocessing's fork server, a clean process started once, never forked
#: from the harness (which holds connections and threads).
_context = mp.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


#: The window parameters every load-generating workload declares (``window_param``): default, help.
WINDOW_PARAMS: dict[str, tuple[Any, str]] = {
    "duration_s": (2.0, "shortest measured window per repetition, in seconds (decision-grade: at least 2)"),
    "warmup_s": (0.2, "unmeasured seconds before each window, under the same load"),
    "min_completions": (100, "a window goes on past duration_s until this many operations completed (1 % resolution) ..."),
    "max_duration_s": (6.0, "... or until it is this long"),
    "ceiling_repetitions": (1, "repetitions (from the first) in which each point also measures the harness's ceiling (private in-memory stores)"),
}


def window_param(name: str, default: Any = None) -> Any:
    """A ``Params`` field of the window rule, declared here once for every workload that uses it
    (``default``: the workload's own, where its noise needs longer windows than the common one)."""
    common, help = WINDOW_PARAMS[name]
    return dataclasses.field(default=common if default is None else default, metadata={"help": help})


def window_problem(params: Any) -> str | None:
    """Why a workload's window parameters are out of range, or None (its ``check`` raises it)."""
    p = params
    if p.duration_s <= 0 or p.warmup_s < 0 or p.min_completions < 0 or p.max_duration_s < p.duration_s:
        return "duration_s > 0, warmup_s >= 0, min_completions >= 0 and max_duration_s >= duration_s"
    if p.ceiling_repetitions < 1:
        return "ceiling_repetitions must be >= 1: every point measures the harness's ceiling at least once"
    return None


@dataclass(frozen=True)
class WindowRule:
    """When the parent closes a window: not before ``duration_s``; then once ``min_completions``
    completed, or at ``max_duration_s``."""

    duration_s: float
    min_completions: int
    max_duration_s: float

    @classmethod
    def of(cls, params: Any) -> WindowRule:
        return cls(params.duration_s, params.min_completions, params.max_duration_s)


@dataclass(frozen=True)
class Timing:
    """One measurement's clock, in ``time.perf_counter()`` seconds: everyone starts at ``start_at``,
    the window opens at ``measure_from`` and ends when ``Board.end_at`` says."""

    start_at: float
    measure_from: float

    def wait_for_start(self, board: Board) -> None:
        """Sleep until the common start (returns at once if the measurement was aborted)."""
        while not board.aborted:
            left = self.start_at - time.perf_counter()
            if left <= 0:
                return
            time.sleep(min(left, 0.05))


class Board:
    """Shared memory between the parent and its workers: the end of the current window (infinite
    until the parent closes it), an abort flag, and each worker's completions inside the window
    (each worker writes only its own slot)."""

    _END, _ABORT, _FIRST = 0, 1, 2

    def __init__(self, slots: int) -> None:
        self._values = _context.RawArray("d", self._FIRST + slots)
        self.reset()

    def reset(self) -> None:
        """A new measurement: no end yet, every tally at 0 (the abort flag stays)."""
        self._values[self._END] = math.inf
        for n in range(self._FIRST, len(self._values)):
            self._values[n] = 0.0

    @property
    def end_at(self) -> float:
        """The end of the window (``perf_counter`` seconds); infinite while it is still open."""
        return self._values[self._END]

    def finish(self, at: float) -> None:
        self._values[self._END] = at

    @property
    def aborted(self) -> bool:
        return self._values[self._ABORT] != 0.0

    def abort(self) -> None:
        """Workers end their window now (the harness is closing)."""
        self._values[self._ABORT] = 1.0
        self._values[self._END] = min(self._values[self._END], time.perf_counter())

    def completed(self, slot: int, n: int = 1) -> None:
        self._values[self._FIRST + slot] += n

    def completions(self) -> int:
        return int(sum(self._values[self._FIRST:]))


class Job(Protocol):
    """What a worker runs: built in the worker from picklable arguments, it answers requests."""

    def handle(self, request: Any, timing: Timing | None) -> Any:
        """Answer one request (``timing`` is set for a measurement); the reply must be picklable."""

    def close(self) -> None:
        """Release what the job opened."""


#: ``factory(*args, board=board, slot=n)`` builds worker n's job (a module-level callable: picklable).
JobFactory = Callable[..., Job]


class WorkerError(RuntimeError):
    """A worker failed: its job raised (the message ends with the job's error), it died, or it did not answer."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        #: The worker's traceback, when its job raised.
        self.detail = detail


@dataclass(frozen=True)
class Measured:
    """One measurement: its clock, the window the parent closed, and each worker's reply in order."""

    timing: Timing
    end_at: float
    replies: list[Any]

    @property
    def window_s(self) -> float:
        return self.end_at - self.timing.measure_from


class Workers:
    """Persistent workers of one kind of job, one per ``args`` entry.

    Parameters:
        factory: builds a job in the worker (module level, so processes can import it).
        args: the positional arguments of each worker's job (picklable for processes).
        processes: True for worker processes; False runs the same jobs in threads of this process
            (engines whose stores cannot be opened from another process).
        name: what messages call the workers ("writer", "client").
        start_timeout_s: longest wait for every worker to have built its job.
    """

    def __init__(self, factory: JobFactory, args: Sequence[tuple[Any, ...]], *, processes: bool, name: str = "worker", start_timeout_s: float = 120.0) -> None:
        self.factory = factory
        self.args = [tuple(a) for a in args]
        self.processes = processes
        self.name = name
        self.start_timeout_s = start_timeout_s
        self.board = Board(len(self.args))
        #: A request was sent whose reply never came: the next ``start`` begins afresh.
        self.broken = False
        self._conns: list[Connection] = []
        self._runners: list[Any] = []
        #: Never written: the workers see end of file on it once this process is gone, whatever they are doing.
        self._lifeline: Connection | None = None
        #: How the last closed processes ended (0: they quit when asked; negative: a signal ended them).
        self.exitcodes: list[int | None] = []

    @property
    def client(self) -> str:
        """The ``client`` point parameter: ``processes`` or ``threads``."""
        return PROCESSES if self.processes else THREADS

    def __len__(self) -> int:
        return len(self.args)

    def start(self) -> Workers:
        """Start every worker and wait until each has built its job; a failure closes them all and
        raises ``WorkerError`` with the first worker's error. Restarts a broken group."""
        if self._runners and not self.broken:
            return self
        self.close()
        self.broken = False
        if self.processes:  # no effect once the fork server runs: a later job's module is imported per worker
            _context.set_forkserver_preload([*PRELOAD, self.factory.__module__])
        self.board = Board(len(self.args))
        lifeline, self._lifeline = _context.Pipe(duplex=False) if self.processes else (None, None)
        try:
            for n, args in enumerate(self.args):
                parent, child = _context.Pipe()
                runner: Any
                if self.processes:
                    runner = _context.Process(target=serve, args=(self.factory, args, n, child, self.board, lifeline), name=f"{self.name}-{n}", daemon=True)
                else:
                    runner = threading.Thread(target=serve, args=(self.factory, args, n, child, self.board, None), name=f"{self.name}-{n}", daemon=True)
                runner.start()
                if self.processes:
                    child.close()  # the worker holds its end; EOF then means the worker is gone
                self._conns.append(parent)
                self._runners.append(runner)
            if lifeline is not None:
                lifeline.close()  # only the workers read it; the write end stays here until close()
            self._gather(range(len(self.args)), self.start_timeout_s, "start")
        except BaseException:
            self.close()
            raise
        return self

    def call(self, requests: dict[int, Any], timeout_s: float) -> dict[int, Any]:
        """Send each worker its request (no timing) and return the replies by worker."""
        try:
            for n, request in requests.items():
                self._send(n, (request, None), "request")
            return dict(zip(requests, self._gather(list(requests), timeout_s, "request"), strict=True))
        except BaseException:
            self.broken = True
            raise

    def measure(self, requests: dict[int, Any], warmup_s: float, rule: WindowRule, reply_timeout_s: float) -> Measured:
        """One measurement: every worker in ``requests`` starts at the same time, warms up for
        ``warmup_s``, and runs until the parent closes the window by ``rule``; then each replies.

        Workers that all replied before the window's earliest end (they gave up or failed) close it
        at that earliest end, so a window is never shorter than ``rule.duration_s``."""
        self.board.reset()
        start_at = time.perf_counter() + LEAD_S
        timing = Timing(start_at, start_at + warmup_s)
        try:
            for n, request in requests.items():
                self._send(n, (request, timing), "measurement")
            end_at = self._close_window(list(requests), timing, rule)
            replies = self._gather(list(requests), reply_timeout_s, "measurement")
        except BaseException:
            self.broken = True
            raise
        return Measured(timing, end_at, replies)

    def _send(self, n: int, message: Any, what: str) -> None:
        try:
            self._conns[n].send(message)
        except (OSError, ValueError):
            self.broken = True
            code = getattr(self._runners[n], "exitcode", None)
            raise WorkerError(f"{self.name} {n} is gone: it cannot take its {what}" + (f" (exit code {code})" if code is not None else "")) from None

    def _close_window(self, workers: list[int], timing: Timing, rule: WindowRule) -> float:
        earliest = timing.measure_from + rule.duration_s
        latest = timing.measure_from + max(rule.max_duration_s, rule.duration_s)
        while True:
            now = time.perf_counter()
            if now >= earliest and self.board.completions() >= rule.min_completions:
                break
            if now >= latest:
                break
            if all(self._conns[n].poll() for n in workers):  # every worker is done already
                now = max(now, earliest)
                break
            time.sleep(0.005 if now >= earliest else min(0.02, earliest - now))
        self.board.finish(now)
        return now

    def _gather(self, workers: Sequence[int], timeout_s: float, what: str) -> list[Any]:
        """Every worker's reply; errors are raised once all have answered (the pipes stay in step)."""
        deadline = time.monotonic() + timeout_s
        replies: list[Any] = []
        failures: list[tuple[str, str]] = []
        for n in workers:
            conn = self._conns[n]
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                self.broken = True
                raise WorkerError(f"{self.name} {n} did not answer its {what} within {timeout_s:.0f} s")
            try:
                status, value = conn.recv()
            except (EOFError, OSError):
                self.broken = True
                code = getattr(self._runners[n], "exitcode", None)
                raise WorkerError(f"{self.name} {n} exited during its {what}" + (f" (exit code {code})" if code is not None else "")) from None
            if status == "error":
                failures.append((f"{self.name} {n}: {value[0]}", value[1]))
            replies.append(value)
        if failures:
            if what == "start":
                self.broken = True
            message, detail = failures[0]
            more = f" (and {len(failures) - 1} other {self.name}s failed)" if len(failures) > 1 else ""
            raise WorkerError(message + more, detail)
        return replies

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop every worker: end any window, ask each to quit, wait ``timeout_s``, then terminate
        (and kill) the processes still running. Threads end with their window (they are daemons)."""
        if not self._runners:
            return
        self.board.abort()
        for conn in self._conns:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + timeout_s
        for conn, runner in zip(self._conns, self._runners, strict=True):
            while runner.is_alive() and time.monotonic() < deadline:
                _drain(conn)  # a reply still in the pipe would block a worker on its way out
                runner.join(0.05)
        for runner in self._runners:
            if self.processes and runner.is_alive():
                runner.terminate()
                runner.join(2.0)
                if runner.is_alive():
                    runner.kill()
                    runner.join(2.0)
        for conn in self._conns:
            conn.close()
        if self._lifeline is not None:
            self._lifeline.close()
            self._lifeline = None
        self.exitcodes = [runner.exitcode if self.processes else None for runner in self._runners]
        for runner in self._runners:
            if self.processes and not runner.is_alive():
                runner.close()
        self._conns, self._runners = [], []

    def pids(self) -> list[int]:
        """The worker processes' ids (none for threads): what tests check is gone after ``close``."""
        return [r.pid for r in self._runners if self.processes and r.pid is not None]

    def __enter__(self) -> Workers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drain(conn: Connection) -> None:
    try:
        while conn.poll():
            conn.recv()
    except (EOFError, OSError):
        pass


def serve(factory: JobFactory, args: tuple[Any, ...], slot: int, conn: Connection, board: Board, lifeline: Connection | None) -> None:
    """A worker's life: build the job, say ``ready``, answer ``(request, timing)`` until ``None`` or
    end of file (the parent is gone), close the job. A process worker (``lifeline`` set) also exits
    as soon as the harness is gone, even in the middle of a window."""
    if lifeline is not None:
        die_with_parent(signal.SIGTERM)  # the fork server, which lives as long as any worker it forked
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
        threading.Thread(target=_watch, args=(lifeline,), name="lifeline", daemon=True).start()
    try:
        job = factory(*args, board=board, slot=slot)
    except Exception:
        _reply(conn, "error", _error_text())
        conn.close()
        return
    try:
        _reply(conn, "ready", None)
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message is None:
                break
            request, timing = message
            try:
                reply = ("ok", job.handle(request, timing))
            except Exception:
                reply = ("error", _error_text())
            if not _reply(conn, *reply):
                break
    finally:
        job.close()
        conn.close()


def _watch(lifeline: Connection) -> None:
    """Wait for the end of file that says the harness is gone, then end this worker at once."""
    try:
        lifeline.recv()
    except (EOFError, OSError):
        pass
    os._exit(70)


def _reply(conn: Connection, status: str, value: Any) -> bool:
    try:
        conn.send((status, value))
        return True
    except (OSError, ValueError):
        return False


def _error_text() -> tuple[str, str]:
    """The current exception as (its last line, what a record's note shows; the whole traceback)."""
    text = traceback.format_exc().strip()
    return (text.splitlines()[-1] if text else "unknown error")[:1000], text[-8000:]


def resolution_note(completions: int, window_s: float, params: Any) -> str | None:
    """For a window that reached ``max_duration_s`` with fewer than ``min_completions``: what the
    throughput's resolution then is. None when the window rule was met."""
    if completions >= params.min_completions:
        return None
    resolution = f"about {100 / completions:.0f} %" if completions else "none"
    return (f"only {completions} completions in a {window_s:.2f} s window (max_duration_s {params.max_duration_s:g} s, "
            f"min_completions {params.min_completions}): the throughput's resolution is {resolution}")


def client_bound(throughput: float | None, ceiling: float | None) -> bool | None:
    """True when ``throughput`` reached ``CLIENT_BOUND_SHARE`` of the ceiling; None when either is unknown."""
    if throughput is None or ceiling is None or math.isnan(throughput) or math.isnan(ceiling) or ceiling <= 0:
        return None
    return throughput >= CLIENT_BOUND_SHARE * ceiling
