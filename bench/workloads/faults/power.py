"""Power cuts: the engine's data on a power-loss mount (``bench.powerloss``), every process using it
killed at once, every write not yet fsynced dropped, and the engine started again on what is left,
as a machine finds its disk after a power failure.

A power cut needs a deployment of its own: the engine is deployed a second time (``Engine.deploy``)
on a ``Servers`` whose data directories lie on a fresh mount, for one case, and removed with the
mount after it; the run's shared servers are never touched. A server's directory is on the mount
(``data_in_workdir``), and so is an embedded engine's (its deployment's files go under the
``Servers`` workdir). The harness's own set-up writes (configuration files, the store's schema or
topics) are made durable with ``mount.sync()`` before the first cut: a real disk would have had
them for long, and a cut must test the engine, not the harness.

Every cut is counted (``CutStats``: unsynced bytes, files and namespace entries dropped), so a page
can tell "kept everything" from "had nothing to lose". An engine that does not start again, or whose
store can no longer be opened or read, is a result (``EngineLost``, with its error), not a failure
of the run.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.powerloss import CutStats, PowerLossMount
from eventstore.plugins import Deployment, DurabilitySetting, Engine, Servers
from eventstore.servers import ServiceUnavailable

from .audit import Fault
from .injection import crash
from .subscriber import SupervisedSubscriber
from .writers import ProcessWriters, ThreadWriters

#: What a power cut does, on every record of one (after what was on the mount: ``PowerCuts.note``).
POWER_NOTE = (
    "on a power-loss mount (FUSE): every process using it gets SIGKILL, every write not fsynced (data, and directory "
    "entries whose directory was not fsynced) is dropped, and the engine starts again on what is left"
)


class EngineLost(Exception):
    """The engine did not come back after a power cut: its server did not start, or its store could
    not be opened or read. The message says which cut and why."""


@contextmanager
def deployed_on_mount(engine: Engine, setting: DurabilitySetting) -> Iterator[tuple[PowerLossMount, Deployment]]:
    """A fresh power-loss mount and a deployment of ``engine`` of its own whose data lives there (with
    the server settings ``setting`` needs); both removed afterwards, whatever state the cuts left the
    engine in. The caller releases the stores it made (``Deployment.release``): they go with the
    mount, and an engine the cuts broke could not drop them. Raises ``PowerLossUnavailable`` where
    FUSE is missing and ``ServiceUnavailable`` when the engine cannot start on the mount."""
    with (PowerLossMount() as mount, Servers(mount.path, data_in_workdir=True, server_settings=dict(setting.server)) as servers,
          engine.deploy(servers) as deployment):
        mount.sync()  # the server's configuration and formatted storage, written by the harness without fsync
        try:
            yield mount, deployment
        finally:
            # Nothing on the mount outlives it, so the engine is killed rather than shut down (a clean
            # shutdown would checkpoint through FUSE, for nothing).
            mount.kill_users()
            if deployment.server is not None:
                deployment.server.kill()


class PowerCuts:
    """Strikes the power cuts of one case on ``mount``, where ``deployment`` keeps its data, and
    counts what each dropped (``cuts``)."""

    def __init__(self, mount: PowerLossMount, deployment: Deployment) -> None:
        self.mount = mount
        self.deployment = deployment
        self.cuts: list[CutStats] = []

    @property
    def note(self) -> str:
        """What a cut struck, in words."""
        server = self.deployment.server
        where = f"the {server.name} server's data directory" if server is not None else (
            "the store's files (embedded: its writer processes go down with it, and the subscriber's store is closed)")
        return f"{where} {POWER_NOTE}"

    def strike(self, writers: ThreadWriters | ProcessWriters, subscriber: SupervisedSubscriber, start_timeout_s: float) -> Fault:
        """One power cut: SIGKILL to the engine (an embedded engine's writers, and the subscriber's
        store closed, as its machine would lose them too), the unsynced writes dropped, then the engine
        started again. Raises ``EngineLost`` if it does not come back."""
        number = len(self.cuts) + 1
        server = self.deployment.server
        at = time.time()
        if isinstance(writers, ProcessWriters):
            subscriber.stop()  # it runs in this process, which the cut must spare: its store closes instead
            writers.kill()
        if server is not None:
            crash(server)
        self.mount.kill_users()
        self.cuts.append(self.mount.power_cut())
        if server is not None:
            try:
                server.restart()
            except ServiceUnavailable as exc:
                raise EngineLost(f"the {server.name} server did not start again after power cut {number}: {exc}"[:1500]) from None
        if isinstance(writers, ProcessWriters):
            writers.start(start_timeout_s)
            if not writers.alive():
                raise EngineLost(f"the writers could not open the store again after power cut {number}: {' | '.join(writers.errors) or 'no error'}"[:1500])
            subscriber.start()
        return Fault("power cut", at, time.time())
