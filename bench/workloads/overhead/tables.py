"""The overhead page's tables: each adapter's rate and live delivery against its engine's raw path,
as paired ratios, and the paths not measured with their reasons."""
from __future__ import annotations

from typing import Any

import pandas as pd

from bench.harness import results
from bench.harness.abba import STABLE_SPREAD

from .params import PATHS
from .workload import Overhead

#: How the page names each path.
PATH_LABELS = {
    "append_single": "append 1 event",
    "append_batch": "append a batch to a new stream",
    "read_all": "read_all catch-up, paged",
    "append_concurrent": "append 1 event, writers at once",
    "live_delivery": "live delivery, commit to subscriber",
}
RATE_METRICS = ["adapter_rate", "raw_rate", "ratio", "ratio_min", "ratio_max"]
#: The live table's point: the path and what the writers did.
LIVE_POINT = Overhead.by("path", "writers", "rate")


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per engine and rate path from the ``overhead`` records ``frame``: rates and ratio
    (medians over repetitions), the lowest and highest round pair, whether it was stable, the raw
    path; a path not measured on an engine has a row whose ``stability`` gives the reason."""
    columns = ["engine", "label", "path", "path_label", "events_per_call", "writers", "work", "adapter_rate", "raw_rate", "ratio", "ratio_min",
               "ratio_max", "stability", "raw_path", "run_id"]
    rows = frame[frame["metric"].isin(RATE_METRICS)] if not frame.empty else frame
    out = []
    for (engine, label, path), group in rows.groupby(["engine", "label", "path"], sort=True) if not rows.empty else ():
        values = {m: g["value"].dropna() for m, g in group.groupby("metric")}
        median = {m: float(v.median()) if len(v) else None for m, v in values.items()}
        per_call, writers = _first(group, "events_per_call"), _first(group, "writers")
        out.append({
            "engine": engine, "label": label, "path": path, "path_label": PATH_LABELS.get(path, path), "events_per_call": per_call, "writers": writers,
            "work": _work(path, per_call, _first(group, "events_in_store"), writers),
            "adapter_rate": median.get("adapter_rate"), "raw_rate": median.get("raw_rate"), "ratio": median.get("ratio"),
            "ratio_min": _lowest(values, "ratio_min"), "ratio_max": _highest(values, "ratio_max"),
            "stability": _stability(group, "ratio"), "raw_path": _note(group, "raw_rate", "raw path: "), "run_id": _run_ids(group),
        })
    out += _not_measured(frame, [p for p in PATHS if p != "live_delivery"], {"work": ""})
    return _ordered(pd.DataFrame(out, columns=columns))


def live(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per engine and live point: each side's p50 and p99 (ms, from the histograms of every
    repetition merged), the ratios raw/adapter (medians over repetitions of the medians over round
    pairs, with the lowest and highest pair), rates reached, undelivered events and the raw live path;
    an engine whose raw path has no live path has a row whose ``stability`` gives the reason."""
    columns = ["engine", "label", "path", *LIVE_POINT[1:], "adapter_p50_ms", "raw_p50_ms", "ratio_p50", "ratio_p50_min", "ratio_p50_max",
               "adapter_p99_ms", "raw_p99_ms", "ratio_p99", "ratio_p99_min", "ratio_p99_max", "adapter_live_rate", "raw_live_rate",
               "undelivered", "samples", "stability", "raw_path", "run_id"]
    rows = frame[frame["path"] == "live_delivery"] if "path" in frame else frame.iloc[0:0]
    measured = rows[~rows["metric"].isin(["skipped", "error"])]
    latency = {side: results.merged_latency(measured, f"{side}_latency", LIVE_POINT).set_index(["engine", "label", *LIVE_POINT]) for side in ("adapter", "raw")}
    out = []
    for key, group in measured.groupby(["engine", "label", *LIVE_POINT], sort=True) if not measured.empty else ():
        row: dict[str, Any] = dict(zip(["engine", "label", *LIVE_POINT], key, strict=True))
        for side in ("adapter", "raw"):
            found = latency[side].loc[key] if key in latency[side].index else None
            for name in ("p50", "p99"):
                row[f"{side}_{name}_ms"] = float(found[name]) / 1000 if found is not None else None
            row[f"{side}_live_rate"] = _median(group, f"{side}_live_rate")
        for name in ("p50", "p99"):
            at = group[group["percentile"] == name]
            values = {m: g["value"].dropna() for m, g in at.groupby("metric")}
            row[f"ratio_{name}"] = _median(at, "latency_ratio")
            row[f"ratio_{name}_min"], row[f"ratio_{name}_max"] = _lowest(values, "latency_ratio_min"), _highest(values, "latency_ratio_max")
        undelivered = group[group["metric"].isin(["adapter_undelivered", "raw_undelivered"])]["value"].dropna()
        counts = group[group["metric"].isin(["adapter_latency_histogram", "raw_latency_histogram"])]["value"].dropna()
        row.update(undelivered=int(undelivered.sum()), samples=int(counts.sum()), stability=_stability(group, "latency_ratio"),
                   raw_path=_note(group, "raw_live_rate", "raw live path: "), run_id=_run_ids(group))
        out.append(row)
    out += _not_measured(frame, ["live_delivery"], {})
    return _ordered(pd.DataFrame(out, columns=columns))


def _not_measured(frame: pd.DataFrame, paths: list[str], extra: dict[str, Any]) -> list[dict[str, Any]]:
    """A row per engine and path of ``paths`` recorded as not measured (a ``skipped`` record saying
    so), its reason in ``stability``; paths skipped for time are in the page's gaps."""
    if frame.empty or "path" not in frame:
        return []
    rows = frame[(frame["metric"] == "skipped") & frame["path"].isin(paths) & frame["note"].fillna("").str.startswith("not measured")]
    return [
        {"engine": engine, "label": label, "path": path, "path_label": PATH_LABELS.get(path, path), **extra,
         "stability": str(group["note"].iloc[0]), "run_id": _run_ids(group)}
        for (engine, label, path), group in rows.groupby(["engine", "label", "path"], sort=True)
    ]


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    order = {path: n for n, path in enumerate(PATHS)}
    return table.sort_values(["label", "path"], key=lambda s: s.map(order) if s.name == "path" else s).reset_index(drop=True)


def _median(group: pd.DataFrame, metric: str) -> float | None:
    values = group.loc[group["metric"] == metric, "value"].dropna()
    return float(values.median()) if len(values) else None


def _lowest(values: dict[str, pd.Series], metric: str) -> float | None:
    return float(values[metric].min()) if len(values.get(metric, ())) else None


def _highest(values: dict[str, pd.Series], metric: str) -> float | None:
    return float(values[metric].max()) if len(values.get(metric, ())) else None


def _stability(group: pd.DataFrame, metric: str) -> str:
    """The first unstable note of ``metric``'s records, shortened, or that every one was stable."""
    notes = group.loc[group["metric"] == metric, "note"].dropna()
    unstable = [n for n in notes if str(n).startswith("unstable")]
    return unstable[0].split(";")[0] if unstable else f"stable (within ±{STABLE_SPREAD * 100:.0f} %)"


def _note(group: pd.DataFrame, metric: str, prefix: str) -> str:
    notes = group.loc[group["metric"] == metric, "note"].dropna()
    return str(notes.iloc[0]).removeprefix(prefix) if len(notes) else ""


def _run_ids(group: pd.DataFrame) -> str:
    return ",".join(sorted(set(group["run_id"])))


def _first(group: pd.DataFrame, column: str) -> int | None:
    """The first value of an int parameter column in ``group``, or None where no record has it."""
    if column not in group or not group[column].notna().any():
        return None
    return int(group[column].dropna().iloc[0])


def _work(path: str, per_call: int | None, in_store: int | None, writers: int | None) -> str:
    """What one call of ``path`` does, in words."""
    if per_call is None:
        return "not recorded"
    if path == "read_all":
        over = f" of a store of {in_store:,} events" if in_store is not None else ""
        return f"a page of up to {per_call:,} events{over}"
    at_once = f", {writers} writer processes at once" if writers else ""
    return f"{per_call:,} event{'s' if per_call != 1 else ''} per call{at_once}"
