"""Read a results directory into tables, and the two summaries every page uses.

Everything a notebook shows comes from here: records are read (and validated) from the files, never
from memory of the run. ``point_summary`` gives each measurement point's median over repetitions
with a bootstrap CI and an instability flag; ``merged_latency`` merges the HDR histograms of all
repetitions of a point before reading percentiles from them.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from eventstore.plugins import engines

from . import environment as environment_module
from . import stats
from .records import read_records

#: Record fields; a workload parameter with one of these names would be ambiguous.
RECORD_FIELDS = (
    "schema_version", "kind", "run_id", "workload", "engine", "profile", "backend", "product", "engine_version", "emulator",
    "mode", "metric", "value", "unit", "repetition", "hdr", "note", "recorded_at", "label",
)


@dataclass(eq=False)
class Results:
    """The records of a results directory: ``measurements`` (params as columns) and ``engines``."""

    results_dir: Path
    measurements: pd.DataFrame
    engines: pd.DataFrame
    environment: dict[str, Any] | None
    #: Summary tables already computed from these records (see ``cached``).
    cache: dict[tuple[Any, ...], pd.DataFrame] = field(default_factory=dict, repr=False)

    def of(self, workload: str) -> pd.DataFrame:
        return self.measurements[self.measurements["workload"] == workload]

    @property
    def profile(self) -> str:
        """The parameter profile of these records: ``decision`` only if every record is decision-grade."""
        profiles = set(self.measurements.get("profile", pd.Series(dtype=str)).dropna()) | set(self.engines.get("profile", pd.Series(dtype=str)).dropna())
        smoke = sorted(profiles - {"decision"})
        return smoke[0] if smoke else "decision"

    def metric(self, workload: str, metric: str) -> pd.DataFrame:
        m = self.measurements
        return m[(m["workload"] == workload) & (m["metric"] == metric)]

    @property
    def run_ids(self) -> list[str]:
        ids = set(self.measurements.get("run_id", pd.Series(dtype=str))) | set(self.engines.get("run_id", pd.Series(dtype=str)))
        return sorted(ids)

    @property
    def figures_dir(self) -> Path:
        path = self.results_dir / "figures"
        path.mkdir(parents=True, exist_ok=True)
        return path


F = TypeVar("F", bound=Callable[..., pd.DataFrame])


def cached(function: F) -> F:
    """Compute a summary table of a ``Results`` once; every caller gets its own copy."""

    @functools.wraps(function)
    def wrapper(results: Results, *args: Any, **kwargs: Any) -> pd.DataFrame:
        key = (function.__qualname__, args, tuple(sorted(kwargs.items())))
        if key not in results.cache:
            results.cache[key] = function(results, *args, **kwargs)
        return results.cache[key].copy()

    return wrapper  # type: ignore[return-value]


def engine_label(engine: str, emulator: Any) -> str:
    """How an engine is named on every table and plot: emulators say so."""
    return f"{engine} [emulator]" if emulator is True else engine


def load(results_dir: str | Path, *, run_id: str | None = None, workload: str | None = None) -> Results:
    """Read and validate the records of ``results_dir`` (optionally one run and one workload)."""
    records = read_records(results_dir, run_id=run_id or None, workload=workload)
    rows, engines = [], []
    not_int: set[str] = set()
    for record in records:
        if record["kind"] == "engine":
            engines.append(record)
            continue
        params = record["params"]
        clash = [k for k in params if k in RECORD_FIELDS]
        if clash:
            raise ValueError(f"parameter name(s) {clash} clash with record fields")
        not_int.update(k for k, v in params.items() if v is not None and (isinstance(v, bool) or not isinstance(v, int)))
        rows.append({k: v for k, v in record.items() if k != "params"} | params)
    measurements = pd.DataFrame(rows)
    if measurements.empty:
        measurements = pd.DataFrame(columns=[f for f in RECORD_FIELDS])
    else:
        for column in set(measurements.columns) - set(RECORD_FIELDS) - not_int:  # int params stay ints beside missing values
            measurements[column] = measurements[column].astype("Int64")
        measurements["label"] = [engine_label(e, x) for e, x in zip(measurements["engine"], measurements["emulator"], strict=True)]
    engine_frame = pd.DataFrame(engines)
    if not engine_frame.empty:
        engine_frame["label"] = [engine_label(e, x) for e, x in zip(engine_frame["engine"], engine_frame.get("emulator", [None] * len(engine_frame)), strict=True)]
    return Results(Path(results_dir), measurements, engine_frame, environment_module.read(results_dir))


def _run_ids(values: pd.Series) -> str:
    return ",".join(sorted(set(values)))


def _groups(rows: pd.DataFrame, keys: list[str]) -> Any:
    """``rows`` grouped by ``keys``; none when there are no rows (whose point columns may then not exist)."""
    return rows.groupby(keys, dropna=False, sort=True) if not rows.empty else ()


def point_summary(frame: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """Per engine and point: median over repetitions, bootstrap 95 % CI, spread, unstable flag, run ids."""
    rows = frame[frame["metric"] == metric]
    keys = ["engine", "label", *by]
    out = []
    for key, group in _groups(rows, keys):
        summary = stats.summarize(group["value"].dropna().tolist())
        out.append({
            **dict(zip(keys, key, strict=True)), "metric": metric, "unit": group["unit"].iloc[0], "n": summary.n, "median": summary.median,
            "ci_low": summary.ci_low, "ci_high": summary.ci_high, "spread": summary.spread, "unstable": summary.unstable,
            "run_id": _run_ids(group["run_id"]),
        })
    return pd.DataFrame(out, columns=[*keys, "metric", "unit", "n", "median", "ci_low", "ci_high", "spread", "unstable", "run_id"])


def merged_histograms(frame: pd.DataFrame, prefix: str, by: list[str]) -> dict[tuple[Any, ...], Any]:
    """Per (engine, label, *by): the merge of every ``<prefix>_histogram`` record's histogram."""
    rows = frame[(frame["metric"] == f"{prefix}_histogram") & frame["hdr"].notna()]
    merged: dict[tuple[Any, ...], Any] = {}
    for key, group in _groups(rows, ["engine", "label", *by]):
        merged[key] = stats.merge(stats.decode(h) for h in group["hdr"])
    return merged


def merged_latency(frame: pd.DataFrame, prefix: str, by: list[str]) -> pd.DataFrame:
    """Per engine and point: percentiles (µs) of the merged histograms of all repetitions, and run ids."""
    rows = frame[frame["metric"] == f"{prefix}_histogram"]
    run_ids = {k: _run_ids(g["run_id"]) for k, g in _groups(rows, ["engine", "label", *by])}
    out = []
    for key, histogram in merged_histograms(frame, prefix, by).items():
        values = stats.percentiles(histogram)
        out.append({**dict(zip(["engine", "label", *by], key, strict=True)), "count": histogram.get_total_count(), **values, "run_id": run_ids[key]})
    return pd.DataFrame(out, columns=["engine", "label", *by, "count", *stats.PERCENTILES, "min", "max", "mean", "run_id"])


def engine_status(results: Results) -> pd.DataFrame:
    """One row per engine and workload: measured or not, and why; version and emulator flag."""
    if results.engines.empty:
        return pd.DataFrame(columns=["workload", "engine", "status", "reason", "product", "engine_version", "emulator", "run_id"])
    frame = results.engines.sort_values("recorded_at").drop_duplicates(["workload", "engine", "run_id"], keep="last")
    columns = ["workload", "engine", "status", "reason", "product", "engine_version", "emulator", "mode", "elapsed_s", "run_id"]
    return frame.reindex(columns=columns).reset_index(drop=True)


def notes(frame: pd.DataFrame, metrics: tuple[str, ...] = ("error", "skipped")) -> pd.DataFrame:
    """The records that explain a gap: failed cases and skipped points, with their reasons."""
    rows = frame[frame["metric"].isin(metrics)]
    keep = [c for c in ("engine", "label", "metric", "repetition", "note", "run_id") if c in rows.columns]
    return rows[keep].drop_duplicates(subset=[c for c in keep if c != "repetition"]).reset_index(drop=True)


def engines_of(results: Results) -> pd.DataFrame:
    """One row per engine: label, product, version, emulator flag, mode, settings and capabilities
    from its latest measured status record (its latest record when it was never measured)."""
    columns = ["engine", "label", "product", "engine_version", "emulator", "mode", "settings", "capabilities", "status", "reason"]
    if results.engines.empty:
        return pd.DataFrame(columns=columns)
    frame = results.engines.sort_values("recorded_at")
    measured = frame[frame["status"] == "measured"].drop_duplicates("engine", keep="last")
    rest = frame[~frame["engine"].isin(measured["engine"])].drop_duplicates("engine", keep="last")
    out = pd.concat([measured, rest]).reindex(columns=columns)
    # The registry's listing order (engines a run measured in turn finish in any order), then unknown ones as recorded.
    listed = list(engines())
    seen = list(dict.fromkeys(frame["engine"]))
    order = {name: n for n, name in enumerate([*[e for e in listed if e in seen], *[e for e in seen if e not in listed]])}
    return out.sort_values("engine", key=lambda s: s.map(order)).reset_index(drop=True)
