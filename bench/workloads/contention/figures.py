"""The contention page's figures: throughput, conflicts and retries against writers, latency by
percentile, and the throughput/latency trade-off, one colour per engine.
"""
from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.display.figures import (
    MARKERS,
    ci_errors,
    drawn,
    empty_figure,
    gap_notes,
    hollow,
    in_engine_order,
    integer_axis,
    legend_with_notes,
    log_if_wide,
    mark_client_bound,
    nines_panels,
    no_data,
    palette,
    plain_ticks,
    save,
    status_notes,
    style_keys,
    tradeoff,
)
from bench.display.tables import number
from bench.harness.results import Results
from bench.harness.tables import latency_percentile_curves, pareto_optimal

from .tables import contention_metric_points, contention_points

#: What ``contention`` calls each metric in its title (the y label comes from the caller).
_CONTENTION_TITLES = {
    "throughput": "Successful commands per second against concurrent writers",
    "conflict_rate": "Share of append attempts refused for a stale expected version",
    "retries_per_success": "Retries per successful command",
}


def _writers(count: Any) -> str:
    return f"{int(count)} writer{'' if int(count) == 1 else 's'}"


def _skew_title(skew: float, table: pd.DataFrame) -> str:
    share = pd.to_numeric(table.loc[table["skew"] == skew, "hot_stream_share"], errors="coerce").median() if "hot_stream_share" in table.columns else math.nan
    words = "uniform stream choice" if skew == 0 else "Zipf stream choice"
    return f"skew {skew:g}: {words}" + (f", busiest stream {share * 100:.0f} % of commands" if pd.notna(share) else "")


def _contention_values(results: Results, metric: str) -> pd.DataFrame:
    """Per engine, writers and skew: ``value``, ``ci_low``, ``ci_high``, ``unstable``, ``client_bound``
    (throughput only), ``cause`` and ``hot_stream_share``, one row for every point of ``contention_points``."""
    points = contention_points(results)
    keys = ["engine", "writers", "skew"]
    if metric == "throughput":
        return points.rename(columns={"throughput": "value", "throughput_ci_low": "ci_low", "throughput_ci_high": "ci_high"})
    part = contention_metric_points(results, metric)[[*keys, "median", "ci_low", "ci_high", "unstable"]].rename(columns={"median": "value"})
    out = points[["engine", "label", "writers", "skew", "cause", "hot_stream_share"]].merge(part, on=keys, how="left")
    out["unstable"] = out["unstable"].astype("boolean").fillna(False).astype(bool)
    out["client_bound"] = pd.array([pd.NA] * len(out), dtype="boolean")
    return out


@drawn
def contention(results: Results, metric: str = "throughput", ylabel: str = "successful commands/s") -> Figure:
    """``metric`` against concurrent writers, one panel per skew on shared axes, engines overlaid in
    their colours (log y when the values span more than 30 times), bootstrap 95 % CIs as bars,
    unstable points hollow, client-bound points ringed red; what is missing is said below."""
    name = f"contention-{metric.replace('_', '-')}"
    table = _contention_values(results, metric)
    if table.empty:
        notes = status_notes(results, "contention", [])
        return empty_figure(results, name, "no contention records in this run" + (": " + "; ".join(notes) if notes else ""))
    colours = palette(results)
    table = in_engine_order(table, colours)
    skews = sorted(float(s) for s in table["skew"].dropna().unique())
    fig, axes = plt.subplots(1, len(skews), figsize=(min(4.6 * len(skews) + 1.2, 15), 3.9), sharex=True, sharey=True, squeeze=False, layout="constrained")
    rate = metric == "throughput"
    bound_any = unstable_any = False
    for ax, skew in zip(axes[0], skews, strict=True):
        part = table[table["skew"] == skew]
        drawn = False
        for label, line in part.groupby("label", sort=False):
            line = line[pd.to_numeric(line["value"], errors="coerce").notna()].sort_values("writers")
            if line.empty:
                continue
            colour = colours.get(str(label))
            values = line["value"].astype(float)
            ax.errorbar(line["writers"].astype(int), values, yerr=ci_errors(values, line["ci_low"].astype(float), line["ci_high"].astype(float)),
                        color=colour, marker="o", capsize=3, label=str(label))
            shaky = line[line["unstable"].fillna(False).astype(bool)]
            if not shaky.empty:
                hollow(ax, shaky["writers"].astype(int), shaky["value"].astype(float), colour)
                unstable_any = True
            if rate:
                bound_any |= mark_client_bound(ax, line.assign(writers=line["writers"].astype(int)), "writers", "value")
            drawn = True
        if not drawn:
            no_data(ax, "no engine measured a value at this skew:\nsee the notes below")
        ax.set_title(_skew_title(skew, table), fontsize=9)
        ax.set_xlabel("concurrent writers")
    first = axes[0][0]
    first.set_ylabel(ylabel)
    integer_axis(first, table["writers"])
    values = pd.to_numeric(table["value"], errors="coerce")
    if rate:
        log_if_wide(first, values)
    if first.get_yscale() != "log":
        first.set_ylim(bottom=0)
    plain_ticks(first)
    notes = status_notes(results, "contention", table["label"]) + gap_notes(
        table, "value", lambda r: f"{_writers(r.writers)} at skew {r.skew:g}", zero_is_gap=rate)
    legend_with_notes(fig, style_keys(unstable_any, bound_any), notes)
    title = _CONTENTION_TITLES.get(metric, f"{ylabel} against concurrent writers")
    fig.suptitle(f"{title}, per stream skew")
    best = []
    for label, part in table.groupby("label", sort=False):
        known = part[pd.to_numeric(part["value"], errors="coerce").notna()]
        if not known.empty and (known["value"].astype(float).max() > 0 or not rate):
            top = known.loc[known["value"].astype(float).idxmax()]
            best.append(f"{label} highest {number(top['value'])} at {_writers(top['writers'])}, skew {float(top['skew']):g}")
    alt = (f"Line chart: {ylabel} (median over repetitions, bars: bootstrap 95 % CI) against concurrent writers "
           f"({', '.join(str(w) for w in sorted({int(w) for w in table['writers'].dropna()}))}), one panel per skew "
           f"({', '.join(f'{s:g}' for s in skews)}) on the same y axis{' (log scale)' if first.get_yscale() == 'log' else ''}, engines overlaid. "
           + ("; ".join(best) + "." if best else "No engine measured a value.") + (" " + " ".join(notes) if notes else ""))
    return save(fig, results, name, alt)


@drawn
def contention_latency(results: Results) -> Figure:
    """Command latency including retries by percentile (x: 0 .. 99.99 on a log(1/(1-p)) scale, as
    OpenMessaging Benchmark draws it), one panel per skew and writers on shared axes, a line per
    engine, read from the merged histograms of every writer and repetition; each line ends (|)
    where its sample count stops resolving percentiles."""
    name = "contention-latency"
    curves = latency_percentile_curves(results, "contention", "command_latency", ("writers", "skew"))
    points = contention_points(results)
    if points.empty:
        notes = status_notes(results, "contention", [])
        return empty_figure(results, name, "no contention records in this run" + (": " + "; ".join(notes) if notes else ""))
    colours = palette(results)
    curves, points = in_engine_order(curves, colours), in_engine_order(points, colours)
    skews = sorted(float(s) for s in points["skew"].dropna().unique())
    writers = sorted(int(w) for w in points["writers"].dropna().unique())
    fig, axes = plt.subplots(len(skews), len(writers), figsize=(min(3.7 * len(writers) + 1.2, 15), 2.7 * len(skews) + 1.4),
                             sharex=True, sharey=True, squeeze=False, layout="constrained")
    panels = [(f"{_writers(w)}, skew {s:g}", curves[(curves["writers"] == w) & (curves["skew"] == s)] if not curves.empty else curves)
              for s in skews for w in writers]
    flat = [ax for row in axes for ax in row]
    nines_panels(fig, flat, curves, panels, colours, lambda rows: [("", rows, "-")], "no engine completed a command here:\nsee the notes below")
    for row in axes:
        row[0].set_ylabel("latency (ms)")
    for ax in axes[-1]:
        ax.set_xlabel("percentile (%)")
    for ax in axes[:-1].flat:
        ax.set_xlabel("")
    notes = status_notes(results, "contention", points["label"]) + gap_notes(
        points, "p50", lambda r: f"{_writers(r.writers)} at skew {r.skew:g}", zero_is_gap=False)
    end = (Line2D([], [], color="grey", marker="|", markersize=8, linestyle="-"), "| : last percentile the samples resolve (1 − 1/n for n commands)")
    legend_with_notes(fig, [end], notes)
    fig.suptitle("Command latency including retries, by percentile (merged histograms of every writer and repetition)")
    tails = []
    for label, part in points.groupby("label", sort=False):
        known = part[pd.to_numeric(part["p99"], errors="coerce").notna()]
        if not known.empty:
            worst = known.loc[known["p99"].astype(float).idxmax()]
            tails.append(f"{label} p99 from {number(known['p99'].min() / 1000)} to {number(worst['p99'] / 1000)} ms (the highest at "
                         f"{_writers(worst['writers'])}, skew {float(worst['skew']):g})")
    alt = (f"Latency in ms (y{', log scale' if flat[0].get_yscale() == 'log' else ''}) against percentile (x: 0, 50, 90, 99, 99.9 on a nines scale), "
           f"one panel per writers ({', '.join(str(w) for w in writers)}) and skew ({', '.join(f'{s:g}' for s in skews)}) on shared axes, a line per engine. "
           + ("; ".join(tails) + "." if tails else "No engine completed a command.") + (" " + " ".join(notes) if notes else ""))
    return save(fig, results, name, alt)


@drawn
def contention_tradeoff(results: Results) -> Figure:
    """Throughput against p99 command latency, as ann-benchmarks draws a speed/quality trade-off: each
    engine's points (writers × skew; marker: skew, number: writers), its Pareto-optimal points (no other
    point of that engine is both faster and lower in p99) joined, dominated points pale."""
    name = "contention-tradeoff"
    table = contention_points(results)
    if table.empty:
        notes = status_notes(results, "contention", [])
        return empty_figure(results, name, "no contention records in this run" + (": " + "; ".join(notes) if notes else ""))
    colours = palette(results)
    table = in_engine_order(table, colours)
    skews = sorted(float(s) for s in table["skew"].dropna().unique())
    markers = {s: MARKERS[n % len(MARKERS)] for n, s in enumerate(skews)}
    fig, ax = plt.subplots(figsize=(9.5, 6.2), layout="constrained")
    unstable, bound = tradeoff(ax, table, "throughput", "p99", "skew", markers, colours, annotate=lambda r: f"{int(r.writers)}w")
    ax.set_xlabel("successful commands/s (median over repetitions, bars: 95 % CI)")
    ax.set_ylabel("p99 command latency incl. retries (ms)")
    keys = [(Line2D([], [], color="grey", marker=markers[s], linestyle="none"), f"skew {s:g}") for s in skews]
    keys += [(Line2D([], [], color="grey", linewidth=1.6), "line: the engine's Pareto front (no point of it both faster and lower)"),
             (Line2D([], [], color="grey", marker="o", alpha=0.35, linestyle="none"), "pale: dominated point"),
             (Line2D([], [], linestyle="none"), "4w: the point's number of writers")]
    notes = status_notes(results, "contention", table["label"]) + gap_notes(
        table.assign(both=table["throughput"].where(table["p99"].notna())), "both", lambda r: f"{_writers(r.writers)} at skew {r.skew:g}")
    legend_with_notes(fig, keys + style_keys(unstable, bound), notes, columns=3)
    fig.suptitle("Throughput against tail latency: each engine's writers × skew points and its Pareto front")
    known = table[table["throughput"].notna() & table["p99"].notna()].copy()
    known["optimal"] = pareto_optimal(known, "throughput", "p99") if not known.empty else []
    fronts = "; ".join(f"{label}: " + ", ".join(f"{number(r.throughput)} commands/s at p99 {number(r.p99 / 1000)} ms ({_writers(r.writers)}, skew {r.skew:g})"
                                                 for r in part[part["optimal"]].sort_values("throughput").itertuples())
                       for label, part in known.groupby("label", sort=False))
    alt = ("Scatter plot of p99 command latency in ms (y) against successful commands per second (x), one colour per engine, marker by skew, "
           "each point labelled with its writers; each engine's Pareto-optimal points are joined. "
           + (f"Pareto fronts: {fronts}." if fronts else "No engine measured both.") + (" " + " ".join(notes) if notes else ""))
    return save(fig, results, name, alt)


#: The file name of ``key_figure``.
KEY_FIGURE = "contention-throughput"


def key_figure(results: Results) -> Figure:
    """The figure the front page and the explorer show for this workload."""
    return contention(results)
