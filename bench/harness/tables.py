"""Table helpers every workload's ``tables.py`` shares: what the load generator says about each
throughput point (its ceiling, client-bound, windows, causes), sums that stay unknown when a value
is, latency curves read from merged histograms, and Pareto fronts.
"""
from __future__ import annotations

import pandas as pd

from . import loadgen
from .results import Results, cached, merged_histograms, point_summary

#: The columns ``load_generator_columns`` adds to a throughput table.
LOAD_GENERATOR_COLUMNS = ["ceiling_throughput", "client_bound", "client", "min_window_s", "min_completions", "cause"]


def load_generator_columns(table: pd.DataFrame, frame: pd.DataFrame, by: list[str], throughput: str) -> pd.DataFrame:
    """What the load generator says about each point of a throughput table: the harness's own
    ``ceiling_throughput`` (median over the repetitions that measured it), ``client_bound`` (the
    median throughput reached ``loadgen.CLIENT_BOUND_SHARE`` of it; NA without a ceiling), whether
    the ``client`` ran as processes or threads, the shortest window and the fewest completions of
    any repetition (``min_window_s``, ``min_completions``: is every window long enough?), and the
    ``cause`` the records give for a zero, or for a repetition that measured nothing (skipped,
    failed); a point whose repetitions were all cut still shows its row when one of them measured."""
    keys = ["engine", *by]
    ceiling = point_summary(frame, "ceiling_throughput", by)[[*keys, "median"]].rename(columns={"median": "ceiling_throughput"})
    table = table.merge(ceiling, on=keys, how="left")
    table["client_bound"] = pd.array([loadgen.client_bound(t, c) for t, c in zip(table[throughput], table["ceiling_throughput"], strict=True)], dtype="boolean")
    for metric, column in (("window_s", "min_window_s"), ("completions", "min_completions")):
        rows = frame[frame["metric"] == metric]
        part = rows.groupby(keys, dropna=False)["value"].min().rename(column).reset_index() if not rows.empty else pd.DataFrame(columns=[*keys, column])
        table = table.merge(part, on=keys, how="left")
    measured = frame[frame["metric"] == "throughput"]
    table["client"] = _per_point(measured, keys, "client", table)
    # a zero says why in its throughput note; a repetition that measured nothing, in its skip or error
    gaps = frame[frame["metric"].isin(["skipped", "error"])]
    if not gaps.empty and not measured.empty:
        done = set(measured.set_index([*keys, "repetition"]).index)
        gaps = gaps[[key not in done for key in gaps.set_index([*keys, "repetition"]).index]]
    noted = pd.concat([measured, gaps])
    table["cause"] = _per_point(noted[noted["note"].notna()], keys, "note", table) if "note" in noted.columns else [None] * len(table)
    return _with_empty_points(table, gaps, keys)


def _with_empty_points(table: pd.DataFrame, gaps: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``table`` plus a row for each point that measured nothing at all (every repetition skipped or
    failed), with its cause, so that an empty point shows as one and never silently disappears."""
    if gaps.empty or any(k not in gaps.columns for k in keys):
        return table
    have = set(table[keys].itertuples(index=False, name=None))
    rows = []
    for key, group in gaps.groupby(keys, dropna=False):
        if key in have:
            continue
        notes = "; ".join(dict.fromkeys(str(n) for n in group["note"].dropna()))
        rows.append({
            **dict(zip(keys, key, strict=True)), "label": group["label"].iloc[0], "unstable": False,
            "run_id": ",".join(sorted(set(group["run_id"]))), "cause": notes or None,
        })
    if not rows:
        return table
    out = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    out["client_bound"] = out["client_bound"].astype("boolean")
    return out


def _per_point(rows: pd.DataFrame, keys: list[str], column: str, table: pd.DataFrame) -> list[str | None]:
    """For each row of ``table``: the distinct values of ``column`` among ``rows`` of its point, joined."""
    if rows.empty or column not in rows.columns or any(k not in rows.columns for k in keys):
        return [None] * len(table)
    values = rows.dropna(subset=[column]).groupby(keys, dropna=False)[column].agg(lambda v: "; ".join(dict.fromkeys(str(x) for x in v)))
    lookup = dict(zip(values.index, values, strict=True))
    return [lookup.get(tuple(row) if len(keys) > 1 else row[0]) for row in table[keys].itertuples(index=False)]


def strict_pivot(rows: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """One column per metric, summed over repetitions; a sum stays unknown (NaN) when any of its
    values is unknown, instead of counting it as 0."""
    sums = rows.groupby([*index, "metric"])["value"].apply(lambda values: values.sum(skipna=False))
    table = sums.unstack("metric").reset_index()
    table.columns.name = None
    return table


#: Where a percentile curve is read: 1/(1-p) spaced evenly on a log scale from p = 0 to p = 99.999 %.
_NINES_GRID = [1.0 - 10 ** (-k / 16) for k in range(0, 5 * 16 + 1)]


@cached
def latency_percentile_curves(results: Results, workload: str, prefix: str, by: tuple[str, ...]) -> pd.DataFrame:
    """Per engine and point (``by``): latency (µs) at percentiles from 0 to 99.999 %, read from the
    merge of every repetition's ``<prefix>_histogram`` (never from averaged percentiles). A curve
    stops where its samples stop resolving the percentile: with n samples, at 1 - 1/n; ``count``
    is n. ``percentile`` is a fraction (0.99 for p99)."""
    columns = ["engine", "label", *by, "count", "percentile", "latency_us"]
    rows = []
    for key, histogram in merged_histograms(results.of(workload), prefix, list(by)).items():
        count = histogram.get_total_count()
        if not count:
            continue
        resolved = 1.0 - 1.0 / count
        grid = [p for p in _NINES_GRID if p < resolved] + [resolved]
        for p in grid:
            rows.append([*key, count, p, float(histogram.get_value_at_percentile(p * 100))])
    return pd.DataFrame(rows, columns=columns)


def pareto_optimal(frame: pd.DataFrame, x: str, y: str, by: str = "label") -> pd.Series:
    """Per group ``by``: True where no other point of the group has at least the ``x`` (a
    throughput: higher is better) and at most the ``y`` (a latency: lower is better), one strictly;
    False for dominated points and for points without both values."""
    optimal = pd.Series(False, index=frame.index)
    for _, group in frame.groupby(by, sort=False):
        points = group[[x, y]].astype(float).dropna()
        for index, (gx, gy) in points.iterrows():
            better = (points[x] >= gx) & (points[y] <= gy) & ((points[x] > gx) | (points[y] < gy))
            optimal[index] = not better.any()
    return optimal
