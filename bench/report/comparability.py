"""Which results are not comparable, and why: the tags an engine's row or a cell carries.

Derived from the records only, never from an engine's name: the engine status records (``mode``,
``emulator``, the ``settings`` the deployment and the store reported) and the matrix cells
(``n``, ``client_bound``, ``unstable``). An engine states two facts among its deployment settings,
one short phrase each, whose first words this module reads:

- ``durability``: what an acknowledged commit survives. ``fsync per commit ...`` or
  ``replicated ...`` is durable; ``no fsync ...`` or ``in memory ...`` is not; anything else
  (``as configured on the external server``) leaves it unknown.
- ``process``: where the engine runs. ``in-process ...`` (inside the client's process: no socket),
  ``local server ...`` (a server the run started on this machine), ``external server ...``, or
  ``serverless service ...`` (a managed service; where an emulator stands in, the phrase says so).

"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.display.tables import short_reason
from bench.harness.results import Results, engines_of

DURABLE_PREFIXES = ("fsync per commit", "replicated")
NON_DURABLE_PREFIXES = ("no fsync", "in memory")
IN_PROCESS, LOCAL_SERVER, EXTERNAL_SERVER, SERVERLESS = "in-process", "local server", "external server", "serverless service"
NAIVE_MODE = "naive"


@dataclass(frozen=True)
class Tag:
    """A reason a number is not comparable with its neighbours, as a word and as a sentence."""

    key: str
    label: str
    meaning: str
    level: str = "warn"  # how the tag is drawn: "" (a fact), "warn", "bad"


TAGS: dict[str, Tag] = {t.key: t for t in (
    Tag("emulator", "emulator", "measured on an emulator: its timings say nothing about the real service's", "bad"),
    Tag("naive", "naive design", "a deliberately broken design (mode naive), shown as a counter-example to measure what the fix buys", "bad"),
    Tag("non_durable", "no fsync per commit", "an acknowledged commit is not on disk yet: a power loss can lose it, and skipping the fsync is part of its speed"),
    Tag("durability_unknown", "durability unknown", "the engine did not state what an acknowledged commit survives (an external server, as configured)"),
    Tag("in_process", "in-process", "runs inside the client's process: no socket round trip, unlike a server"),
    Tag("n1", "n = 1", "one repetition: no confidence interval"),
    Tag("unstable", "unstable", "its 95 % CI reaches further than ±5 % of the median"),
    Tag("client_bound", "client-bound", "the load generator reached its own ceiling here: the number measures the client, not the engine"),
)}


def durability_class(text: Any) -> bool | None:
    """True (durable), False (not) or None (unknown) from a ``durability`` phrase."""
    if not isinstance(text, str):
        return None
    words = text.strip().lower()
    if words.startswith(DURABLE_PREFIXES):
        return True
    if words.startswith(NON_DURABLE_PREFIXES):
        return False
    return None


def process_class(text: Any) -> str | None:
    """``in-process``, ``local server``, ``external server``, ``serverless service`` or None."""
    if not isinstance(text, str):
        return None
    words = text.strip().lower()
    return next((kind for kind in (IN_PROCESS, LOCAL_SERVER, EXTERNAL_SERVER, SERVERLESS) if words.startswith(kind)), None)


def engine_facts(results: Results) -> pd.DataFrame:
    """``engines_of`` plus what makes each engine's numbers comparable or not: ``naive``,
    ``durable`` (True, False, None: unknown), ``durability`` and ``process`` in the engine's
    words, ``process_kind``, and ``tags`` (keys of ``TAGS`` that apply to the whole row)."""
    frame = engines_of(results)
    rows = []
    for row in frame.to_dict("records"):
        settings = row["settings"] if isinstance(row["settings"], dict) else {}
        durable = durability_class(settings.get("durability"))
        kind = process_class(settings.get("process"))
        tags = []
        if row["emulator"] is True:
            tags.append("emulator")
        if row["mode"] == NAIVE_MODE:
            tags.append("naive")
        if durable is False:
            tags.append("non_durable")
        elif durable is None and row["status"] == "measured":
            tags.append("durability_unknown")
        if kind == IN_PROCESS:
            tags.append("in_process")
        rows.append({
            **row, "naive": row["mode"] == NAIVE_MODE, "durable": durable, "durability": settings.get("durability"),
            "process": settings.get("process"), "process_kind": kind, "tags": tags,
        })
    return pd.DataFrame(rows, columns=[*frame.columns, "naive", "durable", "durability", "process", "process_kind", "tags"])


def cell_tags(cell: Any) -> list[str]:
    """Keys of ``TAGS`` that apply to one matrix cell (a row of ``matrix_cells``)."""
    tags = []
    if pd.notna(cell["value"]):
        if cell["unstable"]:
            tags.append("unstable")
        if cell["n"] == 1:
            tags.append("n1")
        if cell["client_bound"]:
            tags.append("client_bound")
    return tags


def caveats(results: Results, facts: pd.DataFrame | None = None) -> list[str]:
    """What a reader must know before comparing any two numbers of these records, in sentences."""
    facts = engine_facts(results) if facts is None else facts
    measured = facts[facts["status"] == "measured"]
    out = []
    env = results.environment or {}
    cores = (env.get("cpu") or {}).get("logical_cores")
    where = f"the same {cores} logical cores" if cores else "the same machine"
    local = measured[measured["process_kind"].isin([IN_PROCESS, LOCAL_SERVER]) | measured["emulator"].eq(True)]
    if not local.empty:
        out.append(f"The load generator ran on {where} as {', '.join(local['label'])}: client and engine compete for the CPU, "
                   "so a heavier client costs the engine throughput, and nothing crosses a network.")
    servers = measured[measured["process_kind"] == LOCAL_SERVER]
    if not servers.empty:
        out.append(f"Servers the run started ({', '.join(servers['label'])}) are single nodes on this machine: no replication, "
                   "so neither its cost nor its protection is in these numbers.")
    emulated = measured[measured["emulator"].eq(True)]
    if not emulated.empty:
        out.append(f"{', '.join(emulated['label'])}: measured on an emulator; its timings and its behaviour under load are the emulator's, not the service's.")
    naive = facts[facts["naive"]]
    if not naive.empty:
        out.append(f"{', '.join(naive['label'])}: deliberately broken designs, kept to show what the correct design buys; they are listed apart and never recommended.")
    kinds = {d for d in measured["durable"] if d is not None}
    if len(kinds) > 1 or (kinds == {False}):
        parts = [f"{r.label}: {r.durability}" for r in measured.itertuples() if isinstance(r.durability, str)]
        out.append("Durability differs between engines, and skipping the fsync is part of a speed: " + "; ".join(parts) + ".")
    unknown = measured[measured["durable"].isna()]
    if not unknown.empty:
        out.append(f"{', '.join(unknown['label'])}: did not state what an acknowledged commit survives.")
    in_process = measured[measured["process_kind"] == IN_PROCESS]
    if not in_process.empty and len(in_process) < len(measured):
        out.append(f"{', '.join(in_process['label'])} ran inside the client's process; the others answer over a socket, which costs every call a round trip.")
    not_measured = facts[facts["status"] != "measured"]
    if not not_measured.empty:
        out.append("Not measured: " + "; ".join(f"{r.label} ({short_reason(r.reason)})" for r in not_measured.itertuples()) + ".")
    return out
