"""The comparison matrix: every workload's columns (``bench.workloads.matrix_columns``) for every
engine, as cells with their CIs, flags and reasons, ``matrix.csv``, and the declared capabilities
and limitations beside it. The provenance table lists every cell with its source and the run id
of its records, so any number can be traced back to the run that produced it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bench.display.tables import short_reason
from bench.harness.columns import OperatingPoints
from bench.harness.results import Results, cached, engine_status, engines_of
from bench.harness.stats import percent_up
from bench.workloads import matrix_columns
from eventstore.plugins import CostModel, engines

from .comparability import TAGS, cell_tags, engine_facts

#: The columns of ``matrix_cells`` (and of ``matrix.csv``): numbers and reasons apart.
CELL_COLUMNS = [
    "engine", "name", "key", "column", "value", "ci_low", "ci_high", "ci_relative", "n", "unstable", "client_bound", "reason", "unit", "better",
    "tags", "workload", "source", "metric", "run_id", "samples",
]


@cached
def matrix_cells(results: Results, points: OperatingPoints | None = None) -> pd.DataFrame:
    """Every cell of the matrix, one row each: engine (its label) and ``name`` (its registry name),
    column, value (in the unit shown), CI, repetitions, flags, the reason for a missing value,
    the tags that make it not comparable (``comparability.TAGS`` keys, the row's and the cell's),
    and where it came from."""
    rows = []
    columns = matrix_columns(points)
    for row in engine_facts(results).itertuples():
        for source in columns:
            cell = source.cell(results, str(row.engine))
            out = {
                "engine": row.label, "name": row.engine, "key": source.key, "column": source.column, "value": cell.value, "ci_low": cell.ci_low,
                "ci_high": cell.ci_high, "ci_relative": cell.ci_relative, "n": cell.n, "unstable": cell.unstable, "client_bound": cell.client_bound,
                "reason": cell.reason, "unit": source.shown_unit, "better": source.direction, "workload": source.workload.name,
                "source": source.description, "metric": f"{source.workload.name}/{source.metric_name}", "run_id": cell.run_id,
                "samples": dict(cell.samples),
            }
            out["tags"] = [*row.tags, *cell_tags(out)]
            rows.append(out)
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def write_matrix_csv(cells: pd.DataFrame, path: str | Path) -> Path:
    """``matrix.csv``: every cell, numbers and reasons in separate columns, tags as words joined by ``; ``
    (the per-repetition samples a verdict's confidence redraws stay in the records)."""
    frame = cells.drop(columns=["samples"])
    frame["tags"] = ["; ".join(TAGS[t].label for t in tags) for tags in frame["tags"]]
    path = Path(path)
    frame.to_csv(path, index=False)
    return path


def _shown(cell: pd.Series) -> Any:
    """A cell as the wide matrix shows it: the number, flagged, or the reason it is missing."""
    if pd.isna(cell["value"]):
        return cell["reason"]
    flags = []
    if cell["unstable"]:
        flags.append("unstable: " + (f"CI ±{percent_up(cell['ci_relative'])}" if pd.notna(cell["ci_relative"]) else f"n = {cell['n']}"))
    elif pd.notna(cell["ci_relative"]) and cell["n"] > 1:
        flags.append(f"±{cell['ci_relative']:.0%}")
    if cell["client_bound"]:
        flags.append("client-bound")
    value = f"{cell['value']:,.3g}" if abs(cell["value"]) < 1000 else f"{cell['value']:,.0f}"
    return f"{value} ({'; '.join(flags)})" if flags else value


def comparison_matrix(results: Results, points: OperatingPoints | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matrix, cells): one row per engine and one column per ``Source`` (header: operating point,
    unit and which way is better) with each value's CI or flags, or why it is missing; and the
    long table of cells (``matrix_cells``) the matrix was built from, which is also its provenance."""
    cells = matrix_cells(results, points)
    if cells.empty:
        return pd.DataFrame(columns=["engine"]), cells
    header = {s.column: f"{s.column}, {'higher' if s.direction == 'higher' else 'lower'} is better" for s in matrix_columns(points)}
    cells = cells.assign(shown=cells.apply(_shown, axis=1))
    matrix = cells.pivot(index="engine", columns="column", values="shown")
    matrix = matrix.reindex(index=list(dict.fromkeys(cells["engine"])), columns=list(header)).rename(columns=header)
    return matrix.reset_index().rename_axis(columns=None), cells


CAPABILITY_NAMES = (
    "optimistic_concurrency", "idempotent_append", "atomic_batch", "global_order", "gap_safe_global_order",
    "indexed_category_reads", "push_notifications", "transactional_checkpoints", "snapshots",
    "max_batch_events", "max_batch_bytes", "max_event_bytes",
)


def capabilities_matrix(results: Results) -> pd.DataFrame:
    """Engine x declared capability, from the capabilities records the engines reported."""
    rows = []
    for row in engines_of(results).itertuples():
        caps = row.capabilities if isinstance(row.capabilities, dict) else {}
        rows.append({"engine": row.label, **{name: caps.get(name, "n/a") for name in CAPABILITY_NAMES}})
    return pd.DataFrame(rows)


#: What each declared capability means, in a few words (``eventstore.capabilities.Capabilities``).
CAPABILITY_MEANINGS = {
    "optimistic_concurrency": "append honours expected_version atomically per stream",
    "idempotent_append": "re-appending the same event ids is a no-op",
    "atomic_batch": "a multi-event append is all or nothing",
    "global_order": "read_all returns one total order",
    "gap_safe_global_order": "a checkpointing subscriber never misses a late commit",
    "indexed_category_reads": "read_category uses an index",
    "push_notifications": "live subscribers are woken, not polling",
    "transactional_checkpoints": "handler writes and checkpoint in one transaction",
    "snapshots": "snapshots stored by the engine",
    "max_batch_events": "most events in one atomic append",
    "max_batch_bytes": "largest append (bytes)",
    "max_event_bytes": "largest event (bytes)",
}


def capabilities_table(results: Results) -> pd.DataFrame:
    """Declared capability x engine (one column per engine label, so it stays narrow however many
    capabilities there are): yes / no, a limit, or "unbounded"; "not reported" for an engine that
    was never measured."""
    rows = []
    facts = engines_of(results)
    for name in CAPABILITY_NAMES:
        row: dict[str, Any] = {"capability": name.replace("_", " "), "meaning": CAPABILITY_MEANINGS.get(name, "")}
        for engine in facts.itertuples():
            caps = engine.capabilities if isinstance(engine.capabilities, dict) else None
            value = None if caps is None else caps.get(name)
            if caps is None:
                row[str(engine.label)] = "not reported"
            elif isinstance(value, bool):
                row[str(engine.label)] = "✓ yes" if value else "✗ no"
            elif value is None:
                row[str(engine.label)] = "unbounded" if name.startswith("max_") else "not declared"
            else:
                row[str(engine.label)] = f"{int(value):,}"
        rows.append(row)
    return pd.DataFrame(rows)


def limitations(results: Results) -> dict[str, list[str]]:
    """Engine label -> its declared limitations in plain words (or why it was not measured)."""
    out: dict[str, list[str]] = {}
    status = engine_status(results)
    for row in engines_of(results).itertuples():
        caps = row.capabilities if isinstance(row.capabilities, dict) else None
        if caps is None:
            reasons = dict.fromkeys(short_reason(r, first_clause=False) for r in status[status["engine"] == row.engine]["reason"].dropna())
            out[row.label] = [f"Not measured: {r}" for r in reasons] or ["Not measured."]
        else:
            words = list(caps.get("limitations") or [])
            if row.emulator is True:
                words.append(f"Measured on {row.product}, an emulator: its timings say nothing about the real service's speed.")
            out[row.label] = words or ["No limitations declared."]
    return out


def cost_models(results: Results) -> list[tuple[CostModel, pd.DataFrame]]:
    """The cost model of every engine in ``results`` that declares one (``Engine.cost_model``: a billed
    service), priced for the event size its snapshots workload appended (the model's default when
    that was not measured): the model and its rows as a table."""
    sizes = results.metric("snapshots", "event_bytes")
    found = []
    registered = engines()
    for name in dict.fromkeys(results.engines.get("engine", [])):
        if name not in registered:
            continue
        measured = sizes[sizes["engine"] == name]["value"]
        model = registered[name].cost_model(int(measured.median()) if not measured.empty else None)
        if model is not None:
            found.append((model, pd.DataFrame(model.rows)))
    return found
