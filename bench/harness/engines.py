"""The engines a run can measure: the plugin registry (``eventstore.plugins``) as the harness sees it.

Engines are found through the ``eventstore.engines`` entry point group; this module only resolves
names, starts an engine for a run and says why one could not be measured. Servers are shared for
the length of one run through ``Servers``: ``postgres`` and ``postgres-naive`` use the same
throwaway PostgreSQL, each store in its own schema, ``kafka`` and ``kafka-naive`` the same broker.
Every store a run creates is dropped when the engine's deployment closes, so runs against an
external server leave nothing behind. An engine that cannot start becomes a ``NotMeasured`` with
the reason; it is never dropped from the report.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from eventstore import Capabilities, EngineInfo
from eventstore.plugins import Deployment, Engine, Servers, engines

__all__ = ["Deployment", "Engine", "NotMeasured", "Servers", "default_engines", "engines", "probe", "resolve", "started"]


class NotMeasured(Exception):
    """An engine could not be used; ``str(exc)`` is the reason the report shows."""


def default_engines() -> list[str]:
    return [name for name, engine in engines().items() if engine.default]


def resolve(names: str | list[str] | None) -> list[str]:
    """Engine names from ``"default"``, ``"all"``, a comma-separated string or a list; unknown names raise."""
    if names is None or names == "default" or names == ["default"]:
        return default_engines()
    if names == "all" or names == ["all"]:
        return list(engines())
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in engines()]
    if unknown:
        raise ValueError(f"unknown engine(s) {unknown}; known: {', '.join(engines())}")
    return list(dict.fromkeys(names))


@contextmanager
def started(name: str, servers: Servers) -> Iterator[Deployment]:
    """Deploy engine ``name``; a failure to start raises ``NotMeasured`` with the reason."""
    with ExitStack() as stack:
        try:
            deployment = stack.enter_context(engines()[name].deploy(servers))
        except Exception as exc:  # ServiceUnavailable, ImportError, a server that would not start ...: all reported
            raise NotMeasured(reason(exc)) from exc
        yield deployment


def probe(deployment: Deployment) -> tuple[EngineInfo, Capabilities, dict[str, Any]]:
    """Open one store to learn (EngineInfo, Capabilities, settings it reports); failures raise ``NotMeasured``."""
    try:
        store = deployment.connect(deployment.new_url("probe"))
    except Exception as exc:  # any failure to open a store means the engine cannot be measured
        raise NotMeasured(reason(exc)) from exc
    try:
        describe = getattr(store, "settings_summary", None)
        extra = dict(describe()) if callable(describe) else {}
        return store.engine, store.capabilities, extra
    finally:
        if deployment.cross_process:
            store.close()


def reason(exc: BaseException) -> str:
    """An exception as the one line the report shows for an engine that was not measured."""
    if isinstance(exc, ModuleNotFoundError):
        return f"backend or dependency not installed: {exc}"
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()] or [type(exc).__name__]
    return f"{type(exc).__name__}: {' | '.join(lines[:4])}"[:600]
