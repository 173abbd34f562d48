"""The faults page's tables, from records only: what each engine and setting kept through crashes
and cuts, and how long recovery took.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from bench.harness.results import Results, cached
from bench.harness.tables import strict_pivot

#: The counts ``faults_summary`` sums over repetitions, as the workload records them.
_FAULT_COUNTS = (
    "crashes", "cuts", "appends_acknowledged", "lost", "lost_nondurable", "duplicated", "ambiguous", "ambiguous_original",
    "ambiguous_written", "ambiguous_unresolved", "unanswered_stored", "missed", "missed_nondurable", "seen_twice", "handled_not_stored",
)
_FAULT_COLUMNS = [
    "engine", "label", "setting", "durable", "crashes", "cuts", "appends_acknowledged", "lost", "duplicated", "ambiguous",
    "ambiguous_resolved", "ambiguous_original", "ambiguous_written", "ambiguous_unresolved", "unanswered_stored", "missed",
    "seen_twice", "handled_not_stored", "write_outage_p50_ms", "write_outage_max_ms", "catch_up_p50_ms", "catch_up_max_ms",
    "not_measured", "verdict", "run_id",
]


@cached
def faults_summary(results: Results) -> pd.DataFrame:
    """One row per engine and setting, summed over repetitions: faults injected (``crashes``, ``cuts``),
    acknowledged appends ``lost`` afterwards, appends ``duplicated``, ``ambiguous`` outcomes and how
    they resolved (``ambiguous_resolved`` = original result returned + written once by the retry),
    events the subscriber ``missed`` or saw twice, median and worst recovery times, what could not be
    measured and why (``not_measured``), and a ``verdict`` in words. ``durable`` False marks a setting
    traded for speed; a setting the store did not apply is a row whose verdict says so."""
    frame = results.of("faults")
    rows = frame[frame["metric"].isin(_FAULT_COUNTS)]
    skipped = frame[frame["metric"] == "skipped"]
    if rows.empty and skipped.empty:
        return pd.DataFrame(columns=_FAULT_COLUMNS)
    keys = ["engine", "label", "setting", "durable"]
    table = strict_pivot(rows, keys) if not rows.empty else pd.DataFrame(columns=keys)
    table = table.reindex(columns=[*keys, *_FAULT_COUNTS])
    for metric in ("lost", "missed"):  # a setting records one of the pair, by its durability
        table[metric] = table[metric].combine_first(table.pop(f"{metric}_nondurable"))
    table["ambiguous_resolved"] = table["ambiguous_original"] + table["ambiguous_written"]
    for metric, column in (("write_outage", "write_outage"), ("subscriber_catch_up", "catch_up")):
        spread = frame[frame["metric"] == metric].groupby(keys)["value"].agg(["median", "max"]) / 1000.0
        spread.columns = [f"{column}_p50_ms", f"{column}_max_ms"]
        table = table.merge(spread.reset_index(), on=keys, how="left")
    reasons: dict[tuple[Any, ...], set[str]] = {}
    why = frame[frame["metric"].isin(["crashes", "cuts"]) & (frame["value"] == 0) & frame["note"].fillna("").str.startswith("not measured")]
    for r in why.itertuples():
        reasons.setdefault((r.engine, r.label, r.setting, r.durable), set()).add(f"{r.metric}: {r.note.removeprefix('not measured: ')}")
    table["not_measured"] = ["; ".join(sorted(reasons[k])) if k in reasons else None for k in table[keys].itertuples(index=False, name=None)]
    if not skipped.empty:
        gone = skipped.drop_duplicates(keys)[keys + ["note"]].rename(columns={"note": "not_measured"})
        gone = gone[~gone.set_index(keys).index.isin(table.set_index(keys).index)]
        table = pd.concat([table, gone], ignore_index=True)
    table["run_id"] = [",".join(sorted(set(frame[(frame["engine"] == e) & (frame["setting"] == s)]["run_id"]))) for e, s in zip(table["engine"], table["setting"], strict=True)]
    table["verdict"] = [_faults_verdict(r) for r in table.itertuples()]
    return table.reindex(columns=_FAULT_COLUMNS).sort_values(["engine", "durable", "setting"], ascending=[True, False, True]).reset_index(drop=True)


def _faults_verdict(row: Any) -> str:
    if pd.isna(row.crashes):
        return str(row.not_measured or "not measured")
    faults = f"{int(row.crashes)} crash{'' if row.crashes == 1 else 'es'}, {int(row.cuts)} cut{'' if row.cuts == 1 else 's'}"
    if row.crashes + row.cuts == 0:
        return f"not measured: no fault could be injected ({row.not_measured})"
    problems = []
    if row.lost > 0:
        problems.append(f"lost {int(row.lost)} acknowledged appends")
    if row.duplicated > 0:
        problems.append(f"stored {int(row.duplicated)} appends twice")
    if row.ambiguous_unresolved > 0:
        problems.append(f"{int(row.ambiguous_unresolved)} of {int(row.ambiguous)} ambiguous appends unresolved")
    if pd.isna(row.missed):
        problems.append("subscriber misses unknown")
    elif row.missed > 0:
        problems.append(f"subscriber missed {int(row.missed)} events")
    if problems:
        words = "; ".join(problems)
    else:
        resolved = f"{int(row.ambiguous_resolved)}/{int(row.ambiguous)} ambiguous appends resolved by their retry" if row.ambiguous else "no append left ambiguous"
        words = f"nothing lost or duplicated, {resolved}, subscriber missed none"
    prefix = "" if row.durable else "non-durable setting: "
    untested = "; crashes not measured" if row.crashes == 0 else "; cuts not measured" if row.cuts == 0 else ""
    return f"{prefix}{words} ({faults}{untested})"


@cached
def faults_recovery(results: Results) -> pd.DataFrame:
    """Per engine, setting and fault kind: how many faults, and the distribution (ms) of the time
    without a successful append, of the subscriber's catch-up and, for crashes, of the restart."""
    frame = results.of("faults")
    metrics = {"write_outage": "outage", "subscriber_catch_up": "catch_up", "restart_time": "restart"}
    rows = frame[frame["metric"].isin(list(metrics))]
    columns = ["engine", "label", "setting", "durable", "fault", "faults"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    keys = ["engine", "label", "setting", "durable", "fault"]
    out = rows[rows["metric"] == "write_outage"].groupby(keys).size().rename("faults").reset_index()
    for metric, short in metrics.items():
        values = rows[rows["metric"] == metric].groupby(keys)["value"]
        spread = values.quantile(0.5).rename(f"{short}_p50_ms").to_frame()
        spread[f"{short}_p95_ms"] = values.quantile(0.95)
        spread[f"{short}_max_ms"] = values.max()
        out = out.merge(spread.reset_index(), on=keys, how="left")
    for column in [c for c in out.columns if c.endswith("_ms")]:
        out[column] = out[column] / 1000.0
    return out.sort_values(keys).reset_index(drop=True)
