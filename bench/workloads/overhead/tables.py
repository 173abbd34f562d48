"""The overhead page's table: each adapter's rate against its engine's raw path, as paired ratios."""
from __future__ import annotations

import pandas as pd

from bench.harness.abba import STABLE_SPREAD

from .workload import PATHS

#: How the page names each path.
PATH_LABELS = {
    "append_single": "append 1 event",
    "append_batch": "append a batch to a new stream",
    "read_all": "read_all catch-up, paged",
}


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per engine and path from the ``overhead`` records ``frame``: rates and ratio (medians
    over repetitions), the lowest and highest round pair, whether it was stable, the raw path."""
    columns = ["engine", "label", "path", "path_label", "events_per_call", "work", "adapter_rate", "raw_rate", "ratio", "ratio_min", "ratio_max",
               "stability", "raw_path", "run_id"]
    rows = frame[frame["metric"].isin(["adapter_rate", "raw_rate", "ratio", "ratio_min", "ratio_max"])] if not frame.empty else frame
    out = []
    order = {path: n for n, path in enumerate(PATHS)}
    for (engine, label, path), group in rows.groupby(["engine", "label", "path"], sort=True) if not rows.empty else ():
        values = {m: g["value"].dropna() for m, g in group.groupby("metric")}
        median = {m: float(v.median()) if len(v) else None for m, v in values.items()}
        ratio_notes = group.loc[group["metric"] == "ratio", "note"].dropna()
        raw_notes = group.loc[group["metric"] == "raw_rate", "note"].dropna()
        unstable = [n for n in ratio_notes if str(n).startswith("unstable")]
        per_call = _first(group, "events_per_call")
        out.append({
            "engine": engine, "label": label, "path": path, "path_label": PATH_LABELS.get(path, path),
            "events_per_call": per_call, "work": _work(path, per_call, _first(group, "events_in_store")),
            "adapter_rate": median.get("adapter_rate"), "raw_rate": median.get("raw_rate"), "ratio": median.get("ratio"),
            "ratio_min": float(values["ratio_min"].min()) if len(values.get("ratio_min", ())) else None,
            "ratio_max": float(values["ratio_max"].max()) if len(values.get("ratio_max", ())) else None,
            "stability": unstable[0].split(";")[0] if unstable else f"stable (within ±{STABLE_SPREAD * 100:.0f} %)",
            "raw_path": str(raw_notes.iloc[0]).removeprefix("raw path: ") if len(raw_notes) else "",
            "run_id": ",".join(sorted(set(group["run_id"]))),
            "_order": order.get(path, len(order)),
        })
    table = pd.DataFrame(out, columns=[*columns, "_order"])
    return table.sort_values(["label", "_order"]).drop(columns="_order").reset_index(drop=True)


def _first(group: pd.DataFrame, column: str) -> int | None:
    """The first value of an int parameter column in ``group``, or None where no record has it."""
    if column not in group or not group[column].notna().any():
        return None
    return int(group[column].dropna().iloc[0])


def _work(path: str, per_call: int | None, in_store: int | None) -> str:
    """What one call of ``path`` does, in words."""
    if per_call is None:
        return "not recorded"
    if path == "read_all":
        over = f" of a store of {in_store:,} events" if in_store is not None else ""
        return f"a page of up to {per_call:,} events{over}"
    return f"{per_call:,} event{'s' if per_call != 1 else ''} per call"
