"""The writers of one faults case, as threads (server engines: the server crashes, the writers live
on) or as processes (embedded engines: the engine runs inside its writers, so its crash is theirs).

Both run ``bench.workloads.faults.writer`` against one journal per writer, so the audit reads them alike.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

from eventstore import EventStore
from eventstore.servers import die_with_parent

from . import writer as fault_writer
from .writer import Journal, WriterConfig

_context = multiprocessing.get_context("forkserver")


class ThreadWriters:
    """Writer threads, each with its own store (its own connections)."""

    def __init__(self, connect: Callable[[], EventStore], configs: list[WriterConfig], journals: list[Path]) -> None:
        self._connect = connect
        self._configs = configs
        self.journals = journals
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        #: Why a writer thread ended early, if one did.
        self.errors: list[str] = []

    def start(self, timeout: float) -> None:
        """Start every writer and wait (up to ``timeout``) until each has opened its store."""
        for config, path in zip(self._configs, self.journals, strict=True):
            thread = threading.Thread(target=self._write, args=(config, path), name=f"faults-writer-{config.writer}", daemon=True)
            thread.start()
            self._threads.append(thread)
        _wait_for_starts(self.journals, 1, timeout, lambda: all(t.is_alive() for t in self._threads))

    def stop(self, timeout: float) -> None:
        """Stop after each writer's command in hand is settled (``timeout`` bounds the whole wait;
        a thread still retrying then is a daemon and does not hold up the exit)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _write(self, config: WriterConfig, path: Path) -> None:
        journal = Journal(path)
        try:
            store = self._connect()
            try:
                fault_writer.run(store, journal, config, self._stop.is_set)
            finally:
                store.close()
        except Exception as exc:  # reported with the case's results; the other writers go on
            self.errors.append(f"writer {config.writer}: {type(exc).__name__}: {exc}"[:300])
        finally:
            journal.close()


class ProcessWriters:
    """Writer processes; ``crash`` SIGKILLs them all and starts them again on their journals, as a
    crashed application is restarted.

    They are forked by multiprocessing's fork server (a clean process started once, never a fork of
    the harness, which holds connections and threads), where the workbench's modules are already
    imported (``bench.harness.loadgen`` preloads them), so a restart costs what the engine's recovery costs
    rather than an interpreter's start-up. A writer exits when the harness is gone (a watchdog: the
    fork server may outlive it), and Ctrl-C reaches it with the rest of the process group."""

    def __init__(self, engine: str, url: str, configs: list[WriterConfig], journals: list[Path], errors: Path) -> None:
        self._engine = engine
        self._url = url
        self._configs = configs
        self.journals = journals
        self._errors = errors
        self._processes: list[BaseProcess] = []
        self._incarnation = 0

    @property
    def errors(self) -> list[str]:
        """The writers' stderr, if they wrote any (a crash leaves none)."""
        text = self._errors.read_text(errors="replace").strip() if self._errors.exists() else ""
        return [" | ".join(text.splitlines()[-3:])] if text else []

    def start(self, timeout: float) -> None:
        """Start every writer process and wait (up to ``timeout``) until each has opened its store."""
        self._processes = [_context.Process(target=_writer_process, args=(self._argv(c, p), str(self._errors), os.getpid()), daemon=True)
                           for c, p in zip(self._configs, self.journals, strict=True)]
        for process in self._processes:
            process.start()
        _wait_for_starts(self.journals, self._incarnation + 1, timeout, lambda: all(p.is_alive() for p in self._processes))

    def crash(self, timeout: float) -> float:
        """SIGKILL every writer at once, then start them again (each settles its unanswered command
        first) and wait until they have opened the store. Returns when the first signal went out."""
        struck = time.time()
        self.kill()
        self.start(timeout)
        return struck

    def kill(self) -> None:
        """SIGKILL every writer at once and reap them; ``start`` brings them back on their journals."""
        for process in self._processes:
            process.kill()
        for process in self._processes:
            process.join()
        self._incarnation += 1

    def alive(self) -> bool:
        """Every writer is running (one that could not open its store has exited)."""
        return bool(self._processes) and all(p.is_alive() for p in self._processes)

    def stop(self, timeout: float) -> None:
        """SIGTERM: each writer stops after settling its command in hand; SIGKILL after ``timeout`` in all."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()

    def _argv(self, config: WriterConfig, journal: Path) -> list[str]:
        return [
            self._engine, self._url, str(journal), "--writer", str(config.writer), "--streams", ",".join(config.streams),
            "--appends-per-s", str(config.appends_per_s), "--max-batch", str(config.max_batch), "--retry-for", str(config.retry_for_s),
            "--seed", f"{config.seed}/{self._incarnation}",
        ]


def _writer_process(argv: list[str], errors: str, harness: int) -> None:
    """A writer process: its stderr to ``errors``, gone with the fork server or with the harness."""
    die_with_parent(signal.SIGKILL)
    os.dup2(os.open(errors, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), 2)
    threading.Thread(target=_exit_without, args=(harness,), daemon=True).start()
    fault_writer.main(argv)


def _exit_without(harness: int) -> None:
    while True:
        time.sleep(0.5)
        try:
            os.kill(harness, 0)
        except ProcessLookupError:
            os._exit(1)


def _wait_for_starts(journals: list[Path], starts: int, timeout: float, alive: Callable[[], bool]) -> None:
    """Wait until every journal shows ``starts`` starts; a writer that died, or a timeout, ends the
    wait early (the case then reports what the writers managed, and their errors)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        if all(fault_writer.starts(path) >= starts for path in journals):
            return
        time.sleep(0.01)
