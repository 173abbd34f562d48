"""Session-wide engines: each server is started once, on first use, and stopped at the end.

Tests trade crash safety for speed (``Servers(durable=False)``: a PostgreSQL without fsync); an
engine that cannot start fails its tests, except an external-only engine with no server
configured, whose tests skip with the reason."""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eventstore.plugins import Deployment, Servers, ServiceUnavailable, engines


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in this process, as in a terminal, for the tests that send it:
    a suite started as a background job of a script (``make test &``, nohup) inherits SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with Servers(tmp_path_factory.mktemp("servers"), durable=False) as pool:
        yield pool


@pytest.fixture(scope="session")
def deployment(servers: Servers) -> Iterator[Callable[[str], Deployment]]:
    """``deployment(name)``: the named engine deployed once for the session (its stores dropped at the end)."""
    deployed: dict[str, Deployment] = {}
    unreachable: dict[str, str] = {}  # an external-only engine is tried once, not once per test
    contexts = []

    def get(name: str) -> Deployment:
        if name in unreachable:
            pytest.skip(unreachable[name])
        if name not in deployed:
            engine = engines()[name]
            context = engine.deploy(servers)
            try:
                deployed[name] = context.__enter__()
            except ServiceUnavailable as exc:
                if engine.external_only:
                    unreachable[name] = f"{name} not measured: {exc}"
                    pytest.skip(unreachable[name])
                raise
            contexts.append(context)
        return deployed[name]

    yield get
    for context in reversed(contexts):
        context.__exit__(None, None, None)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Deployment]:
    """The embedded SQLite engine, deployed for one test in its own directory."""
    with Servers(tmp_path) as servers, engines()["sqlite"].deploy(servers) as deployment:
        yield deployment


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Deployment]:
    """The in-process memory engine, deployed for one test."""
    with Servers(tmp_path) as servers, engines()["memory"].deploy(servers) as deployment:
        yield deployment


@pytest.fixture(scope="session")
def pg_dsn(servers: Servers) -> str:
    """A PostgreSQL server: ``EVENTSTORE_POSTGRES_DSN`` if set, else the session's throwaway one."""
    from eventstore.postgres.engine import REFERENCE

    return REFERENCE.server(servers)[0]


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bool]:
    """(results root, run dir, every notebook succeeded) of one quick-profile report on every default
    engine, built once for the tests that read it (the notebooks' and the browser's)."""
    from bench.report import build

    root = tmp_path_factory.mktemp("results")
    run_dir, ok = build.build_report(root, profile="quick", progress=False)
    return root, run_dir, ok
