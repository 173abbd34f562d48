"""The faults page's tables, from records only: what each engine and setting kept through crashes,
cuts and power cuts, how much each power cut had to drop, and how long recovery took.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from bench.harness.results import Results, cached
from bench.harness.tables import strict_pivot
from eventstore.plugins import DEFAULTS, DurabilitySetting, engines, row_setting

#: The counts ``faults_summary`` sums over repetitions, as the workload records them.
_FAULT_COUNTS = (
    "crashes", "cuts", "power_cuts", "unrecovered", "appends_acknowledged", "lost", "lost_nondurable", "duplicated", "ambiguous",
    "ambiguous_original", "ambiguous_written", "ambiguous_unresolved", "unanswered_stored", "missed", "missed_nondurable", "seen_twice",
    "handled_not_stored",
)
_KEYS = ["engine", "label", "setting", "durable", "power_loss"]
_FAULT_COLUMNS = [
    *_KEYS, "crashes", "cuts", "power_cuts", "appends_acknowledged", "lost", "duplicated", "ambiguous",
    "ambiguous_resolved", "ambiguous_original", "ambiguous_written", "ambiguous_unresolved", "unanswered_stored", "missed",
    "seen_twice", "handled_not_stored", "unrecovered", "unsynced_bytes_per_cut", "entries_per_cut", "cuts_dropping_nothing",
    "write_outage_p50_ms", "write_outage_max_ms", "catch_up_p50_ms", "catch_up_max_ms", "not_measured", "verdict", "run_id",
]


def own_setting(engine: str) -> DurabilitySetting:
    """The setting an engine's row is measured and judged under: the first it declares (its stores'
    default configuration), ``DEFAULTS`` for one that declares none or is not registered here."""
    found = engines().get(engine)
    return row_setting(found) if found is not None else DEFAULTS


def faults_records(results: Results) -> pd.DataFrame:
    """The faults workload's records, with ``power_loss`` False on records from before power cuts."""
    frame = results.of("faults")
    flag = frame["power_loss"] if "power_loss" in frame.columns else pd.Series(False, index=frame.index)
    return frame.assign(power_loss=flag.map(lambda v: v is True or v == 1.0))


@cached
def faults_summary(results: Results) -> pd.DataFrame:
    """One row per engine, setting and kind of case (``power_loss``: power cuts on a power-loss mount,
    or crashes and cuts on the run's deployment), summed over repetitions: faults injected
    (``crashes``, ``cuts``, ``power_cuts``), acknowledged appends ``lost`` afterwards, appends
    ``duplicated``, ``ambiguous`` outcomes and how they resolved (``ambiguous_resolved`` = original
    result returned + written once by the retry), events the subscriber ``missed`` or saw twice,
    power cuts the engine did not come back from (``unrecovered``), what each power cut dropped
    (median unsynced bytes and directory entries, and how many cuts dropped nothing, which then
    tested nothing), median and worst recovery times of crashes and cuts, what could not be measured
    and why (``not_measured``), and a ``verdict`` in words. ``durable`` False marks a setting traded
    for speed; a setting the store did not apply is a row whose verdict says so."""
    frame = faults_records(results)
    rows = frame[frame["metric"].isin(_FAULT_COUNTS)]
    skipped = frame[frame["metric"] == "skipped"]
    if rows.empty and skipped.empty:
        return pd.DataFrame(columns=_FAULT_COLUMNS)
    table = strict_pivot(rows, _KEYS) if not rows.empty else pd.DataFrame(columns=_KEYS)
    table = table.reindex(columns=[*_KEYS, *_FAULT_COUNTS])
    for metric in ("lost", "missed"):  # a setting records one of the pair, by its durability
        table[metric] = table[metric].combine_first(table.pop(f"{metric}_nondurable"))
    table["ambiguous_resolved"] = table["ambiguous_original"] + table["ambiguous_written"]
    for metric, column in (("write_outage", "write_outage"), ("subscriber_catch_up", "catch_up")):
        spread = frame[frame["metric"] == metric].groupby(_KEYS)["value"].agg(["median", "max"]) / 1000.0
        spread.columns = [f"{column}_p50_ms", f"{column}_max_ms"]
        table = table.merge(spread.reset_index(), on=_KEYS, how="left")
    table = table.merge(_per_cut(frame), on=_KEYS, how="left")
    reasons: dict[tuple[Any, ...], set[str]] = {}
    why = frame[frame["metric"].isin(["crashes", "cuts", "power_cuts"]) & (frame["value"] == 0) & frame["note"].fillna("").str.startswith("not measured")]
    for r in why.itertuples():
        reasons.setdefault((r.engine, r.label, r.setting, r.durable, r.power_loss), set()).add(f"{r.metric.replace('_', ' ')}: {r.note.removeprefix('not measured: ')}")
    table["not_measured"] = ["; ".join(sorted(reasons[k])) if k in reasons else None for k in table[_KEYS].itertuples(index=False, name=None)]
    if not skipped.empty:
        gone = skipped.drop_duplicates(_KEYS)[[*_KEYS, "note"]].rename(columns={"note": "not_measured"})
        gone = gone[~gone.set_index(_KEYS).index.isin(table.set_index(_KEYS).index)]
        table = pd.concat([table, gone], ignore_index=True)
    unrecovered = frame[(frame["metric"] == "unrecovered") & (frame["value"] > 0)].groupby(_KEYS)["note"].first()
    table["run_id"] = [",".join(sorted(set(frame[(frame["engine"] == e) & (frame["setting"] == s)]["run_id"]))) for e, s in zip(table["engine"], table["setting"], strict=True)]
    table["verdict"] = [_faults_verdict(r, unrecovered.get(tuple(getattr(r, k) for k in _KEYS))) for r in table.itertuples()]
    order = ["engine", "power_loss", "durable", "setting"]
    return table.reindex(columns=_FAULT_COLUMNS).sort_values(order, ascending=[True, True, False, True]).reset_index(drop=True)


def _per_cut(frame: pd.DataFrame) -> pd.DataFrame:
    """Per engine, setting and kind of case: median unsynced bytes and directory entries one power cut
    dropped, and how many cuts dropped nothing at all."""
    cuts = frame[frame["metric"].isin(["unsynced_bytes_dropped", "entries_dropped"])]
    columns = [*_KEYS, "unsynced_bytes_per_cut", "entries_per_cut", "cuts_dropping_nothing"]
    if cuts.empty:
        return pd.DataFrame(columns=columns)
    each = cuts.pivot_table(index=[*_KEYS, "run_id", "repetition", "fault_no"], columns="metric", values="value", aggfunc="sum").reset_index()
    each["nothing"] = (each["unsynced_bytes_dropped"] == 0) & (each["entries_dropped"] == 0)
    out = each.groupby(_KEYS).agg(unsynced_bytes_per_cut=("unsynced_bytes_dropped", "median"), entries_per_cut=("entries_dropped", "median"),
                                  cuts_dropping_nothing=("nothing", "sum")).reset_index()
    return out.reindex(columns=columns)


def _faults_verdict(row: Any, unrecovered: str | None) -> str:
    power = bool(row.power_loss)
    done = row.power_cuts if power else row.crashes
    if pd.isna(done):
        return str(row.not_measured or "not measured")
    if power:
        faults = f"{int(row.power_cuts)} power cut{'' if row.power_cuts == 1 else 's'}"
        tried = row.power_cuts
    else:
        faults = f"{int(row.crashes)} crash{'' if row.crashes == 1 else 'es'}, {int(row.cuts)} cut{'' if row.cuts == 1 else 's'}"
        tried = row.crashes + row.cuts
    if tried == 0:
        return f"not measured: no fault could be injected ({row.not_measured})"
    problems = []
    if power and row.unrecovered > 0:
        problems.append(f"did not come back: {unrecovered or 'no error recorded'}")
    if pd.isna(row.lost):
        problems.append("losses unknown")
    elif row.lost > 0:
        problems.append(f"lost {int(row.lost)} of {int(row.appends_acknowledged)} acknowledged appends")
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
    if power:
        dropped = row.cuts_dropping_nothing
        untested = f"; {int(dropped)} of them dropped nothing unsynced" if pd.notna(dropped) and dropped > 0 else ""
        if pd.notna(dropped) and dropped == row.power_cuts:
            untested = "; no cut dropped anything unsynced, so power loss was not exercised"
    else:
        untested = "; crashes not measured" if row.crashes == 0 else "; cuts not measured" if row.cuts == 0 else ""
    return f"{prefix}{words} ({faults}{untested})"


def declared_settings(names: list[str]) -> pd.DataFrame:
    """What each engine of ``names`` declares (the registry, not the records): its durability
    settings in order, the first being its row's own configuration, and whether each is declared
    durable (a claim the power cuts check). An engine not registered here is listed as unknown."""
    rows = []
    for name in names:
        engine = engines().get(name)
        declared = (engine.durability_settings or (DEFAULTS,)) if engine is not None else ()
        for n, s in enumerate(declared):
            server = ", ".join(f"{k}={v}" for k, v in s.server)
            rows.append({"engine": name, "setting": s.name, "label": s.label, "durable": s.durable, "row": "its row's own" if n == 0 else "",
                         "applied": f"server of its own: {server}" if server else (f"store URL: {s.query}" if s.query else "the store's default URL")})
        if engine is None:
            rows.append({"engine": name, "setting": None, "label": "not registered here: its declarations are unknown", "durable": None, "row": "", "applied": None})
    return pd.DataFrame(rows, columns=["engine", "setting", "label", "durable", "row", "applied"])


def fault_methods(results: Results) -> pd.DataFrame:
    """Per engine, from the records: how it was crashed, cut and power-cut, or why it was not (the
    first clause of each count's note, under the row's own setting where that was measured)."""
    frame = faults_records(results)
    rows = []
    for engine, mine in frame.groupby("engine"):
        own = mine[mine["setting"] == own_setting(str(engine)).label]
        row = {"engine": engine, "label": mine["label"].iloc[0]}
        for metric in ("crashes", "cuts", "power_cuts"):
            notes = [n for part in (own, mine) for n in part[part["metric"] == metric]["note"].dropna()]
            row[metric] = str(notes[0]).split("; ")[0] if notes else "not run"
        rows.append(row)
    return pd.DataFrame(rows, columns=["engine", "label", "crashes", "cuts", "power_cuts"])


def power_loss_table(results: Results) -> pd.DataFrame:
    """The power-cut rows of ``faults_summary``, with ``promise``: for a setting declared durable,
    ``kept`` or ``broken`` (an acknowledged append lost, or the engine did not come back); for the
    others, ``none made``."""
    table = faults_summary(results)
    table = table[table["power_loss"].eq(True)].reset_index(drop=True)

    def promise(row: Any) -> str:
        if pd.isna(row.power_cuts) or row.power_cuts == 0:
            return "not measured"
        if not row.durable:
            return "none made (non-durable)"
        if row.unrecovered > 0:
            return "broken: did not come back"
        if pd.isna(row.lost):
            return "unknown"
        return f"broken: {int(row.lost)} lost" if row.lost > 0 else "kept"

    table["promise"] = [promise(r) for r in table.itertuples()]
    return table


@cached
def faults_recovery(results: Results) -> pd.DataFrame:
    """Per engine, setting and fault kind (crash or cut): how many faults, and the distribution (ms)
    of the time without a successful append, of the subscriber's catch-up and, for crashes, of the
    restart. Power cuts record no timing (their FUSE layer slows I/O), so they are not here."""
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
