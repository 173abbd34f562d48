"""The calls page's figures: throughput per call, latency distributions, throughput against p99."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bench.display.figures import (
    MARKERS,
    MISSING_COLOUR,
    ci_errors,
    drawn,
    empty_figure,
    flag,
    gap_notes,
    in_engine_order,
    legend_with_notes,
    log_if_wide,
    nines_panels,
    palette,
    plain_ticks,
    save,
    status_notes,
    style_keys,
    tradeoff,
)
from bench.display.tables import number
from bench.harness import loadgen, stats
from bench.harness.results import Results
from bench.harness.tables import latency_percentile_curves

from .tables import calls_table

#: The order calls are shown in (the workload's own), then any other alphabetically; their names on pages.
CALL_ORDER = ("append_single", "append_batch", "read_stream", "read_all", "live_delivery")
CALL_NAMES = {"append_single": "append one event", "append_batch": "append a batch", "read_stream": "read a stream",
               "read_all": "read all (a page)", "live_delivery": "live delivery"}


def _operations(values: Iterable[Any]) -> list[str]:
    present = {str(v) for v in values if pd.notna(v)}
    return [o for o in CALL_ORDER if o in present] + sorted(present - set(CALL_ORDER))


def _closed_calls(results: Results) -> tuple[pd.DataFrame, dict[str, str]]:
    """The closed-loop rows of the calls table in engine order, and the engines' colours."""
    table = calls_table(results)
    closed = table[table["loop"] == "closed"] if not table.empty else table
    colours = palette(results)
    return (in_engine_order(closed, colours) if not closed.empty else closed), colours


def _no_closed_calls(results: Results) -> str:
    notes = status_notes(results, "calls", [])
    return "no closed-loop call records in this run" + (": " + "; ".join(notes) if notes else "")


@drawn
def calls_throughput(results: Results) -> Figure:
    """Closed-loop calls per second per call, engines side by side in their colours on one shared
    axis (log when the values span more than 30 times), bootstrap 95 % CIs as bars, client-bound bars
    hatched red, unstable bars pale; a call an engine did not measure says so in its slot."""
    name = "calls-throughput"
    closed, colours = _closed_calls(results)
    if closed.empty:
        return empty_figure(results, name, _no_closed_calls(results))
    operations = _operations(closed["operation"])
    labels = list(dict.fromkeys(closed["label"]))
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(min(1.9 * len(operations) + 2.5, 15), 4.2), layout="constrained")
    values = pd.to_numeric(closed["calls_per_s"], errors="coerce")
    log_if_wide(ax, values)
    bound_any = unstable_any = False
    for n, label in enumerate(labels):
        part = closed[closed["label"] == label].set_index("operation").reindex(operations)
        xs = [i + (n - (len(labels) - 1) / 2) * width for i in range(len(operations))]
        heights = pd.to_numeric(part["calls_per_s"], errors="coerce")
        bars = ax.bar(xs, heights.fillna(0), width=width, color=colours.get(str(label)),
                      yerr=ci_errors(heights, pd.to_numeric(part["calls_ci_low"], errors="coerce"), pd.to_numeric(part["calls_ci_high"], errors="coerce")),
                      capsize=2, error_kw={"elinewidth": 1})
        for bar, x, row in zip(bars, xs, part.itertuples(), strict=True):
            value = row.calls_per_s
            if pd.isna(value) or value == 0:
                ax.text(x, 0.02, "not measured" if pd.isna(value) else "0", rotation=90, ha="center", va="bottom", fontsize=7,
                        color=MISSING_COLOUR, transform=ax.get_xaxis_transform())
                continue
            if flag(row.unstable):
                bar.set_alpha(0.45)
                unstable_any = True
            if flag(row.client_bound):
                bar.set_hatch("///")
                bar.set_edgecolor("red")
                bound_any = True
    ax.set_xticks(range(len(operations)), [CALL_NAMES.get(o, o) for o in operations])
    ax.set_xlabel("call (closed loop: one client process calling back to back)")
    ax.set_ylabel("calls/s (median over repetitions)")
    if ax.get_yscale() != "log":
        ax.set_ylim(bottom=0)
    plain_ticks(ax)
    ax.grid(axis="x", visible=False)
    keys = [(Patch(facecolor=colours.get(str(label))), str(label)) for label in labels]  # plain colours, whatever the bars are marked with
    if unstable_any:
        keys.append((Patch(facecolor="grey", alpha=0.45), f"pale: 95 % CI wider than ±{stats.CI_TARGET * 100:g} % of the median (not decision-grade)"))
    if bound_any:
        keys.append((Patch(facecolor="white", edgecolor="red", hatch="///"),
                     f"hatched red: client-bound (≥ {loadgen.CLIENT_BOUND_SHARE * 100:g} % of the load generator's own ceiling)"))
    notes = status_notes(results, "calls", closed["label"]) + gap_notes(closed, "calls_per_s", lambda r: CALL_NAMES.get(r.operation, r.operation))
    legend_with_notes(fig, keys, notes)
    fig.suptitle("Calls per second, per call (closed loop)")
    words = "; ".join(f"{CALL_NAMES.get(op, op)}: " + ", ".join(f"{r.label} {number(r.calls_per_s)}" for r in closed[closed['operation'] == op].itertuples()
                                                               if pd.notna(r.calls_per_s))
                      for op in operations)
    alt = (f"Grouped bar chart of calls per second (closed loop, median over repetitions{', log scale' if ax.get_yscale() == 'log' else ''}) per call, "
           f"engines side by side: {words}." + (" " + " ".join(notes) if notes else ""))
    return save(fig, results, name, alt)


@drawn
def calls_cdf(results: Results) -> Figure:
    """Call latency by percentile (x: 0 .. 99.99 on a log(1/(1-p)) scale, as OpenMessaging Benchmark
    draws it), one panel per call on shared axes, a line per engine (closed loop solid, open loop
    dashed), read from the merged histograms of every repetition; each line ends (|) where its
    sample count stops resolving percentiles."""
    name = "calls-latency-cdf"
    table = calls_table(results)
    curves = latency_percentile_curves(results, "calls", "latency", ("operation", "loop"))
    if table.empty:
        notes = status_notes(results, "calls", [])
        return empty_figure(results, name, "no call records in this run" + (": " + "; ".join(notes) if notes else ""))
    colours = palette(results)
    table, curves = in_engine_order(table, colours), in_engine_order(curves, colours)
    operations = _operations(table["operation"])
    loops = [loop for loop in ("closed", "open") if loop in set(table["loop"])]
    columns = min(3, len(operations))
    rows = math.ceil(len(operations) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(min(4.2 * columns + 1.0, 15), 2.9 * rows + 1.4), sharex=True, sharey=True, squeeze=False, layout="constrained")
    flat = list(axes.flat)
    for ax in flat[len(operations):]:
        ax.set_visible(False)
    panels = [(CALL_NAMES.get(op, op), curves[curves["operation"] == op] if not curves.empty else curves) for op in operations]

    def styles(part: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str]]:
        return [(f" ({loop} loop)" if len(loops) > 1 else "", part[part["loop"] == loop], "-" if loop == "closed" else "--")
                for loop in loops if not part[part["loop"] == loop].empty]

    nines_panels(fig, flat[:len(operations)], curves, panels, colours, styles, "no engine completed this call:\nsee the notes below")
    for n, ax in enumerate(flat[:len(operations)]):
        if n % columns == 0:
            ax.set_ylabel("latency (ms)")
        below = n + columns
        if below >= len(operations):  # the lowest panel of its column
            ax.set_xlabel("percentile (%)")
            ax.xaxis.set_tick_params(labelbottom=True)
    notes = status_notes(results, "calls", table["label"]) + gap_notes(
        table, "count", lambda r: f"{CALL_NAMES.get(r.operation, r.operation)} ({r.loop} loop)")
    keys = [(Line2D([], [], color="grey", marker="|", markersize=8, linestyle="-"), "| : last percentile the samples resolve (1 − 1/n for n calls)")]
    if len(loops) > 1:
        keys += [(Line2D([], [], color="grey", linestyle="--"), "dashed: open loop (latency from the intended start)")]
    legend_with_notes(fig, keys, notes)
    fig.suptitle("Call latency by percentile (merged histograms of every repetition)")
    timed = table[(table["loop"] == "closed") & table["p50"].notna()]
    medians = "; ".join(f"{CALL_NAMES.get(op, op)}: " + ", ".join(f"{r.label} p50 {number(r.p50 / 1000)} ms, p99 {number(r.p99 / 1000)} ms"
                                                                    for r in timed[timed["operation"] == op].itertuples())
                        for op in operations if (timed["operation"] == op).any())
    alt = (f"Latency in ms (y{', log scale' if flat[0].get_yscale() == 'log' else ''}) against percentile (x: 0, 50, 90, 99, 99.9 on a nines scale), "
           "one panel per call on shared axes, a line per engine. " + (f"Closed loop: {medians}." if medians else "No engine completed a call.")
           + (" " + " ".join(notes) if notes else ""))
    return save(fig, results, name, alt)


@drawn
def calls_tradeoff(results: Results) -> Figure:
    """Closed-loop calls per second against p99 latency, as ann-benchmarks draws a trade-off: each
    engine's calls (marker: the call), its Pareto-optimal points joined, dominated points pale."""
    name = "calls-tradeoff"
    closed, colours = _closed_calls(results)
    if closed.empty:
        return empty_figure(results, name, _no_closed_calls(results))
    operations = _operations(closed["operation"])
    markers = {op: MARKERS[n % len(MARKERS)] for n, op in enumerate(operations)}
    fig, ax = plt.subplots(figsize=(9.5, 6.2), layout="constrained")
    unstable, bound = tradeoff(ax, closed, "calls_per_s", "p99", "operation", markers, colours)
    ax.set_xlabel("calls/s, closed loop (median over repetitions, bars: 95 % CI)")
    ax.set_ylabel("p99 call latency (ms)")
    keys = [(Line2D([], [], color="grey", marker=markers[op], linestyle="none"), CALL_NAMES.get(op, op)) for op in operations]
    keys += [(Line2D([], [], color="grey", linewidth=1.6), "line: the engine's Pareto front (no call of it both faster and lower)"),
             (Line2D([], [], color="grey", marker="o", alpha=0.35, linestyle="none"), "pale: dominated point")]
    notes = status_notes(results, "calls", closed["label"]) + gap_notes(
        closed.assign(both=closed["calls_per_s"].where(closed["p99"].notna())), "both", lambda r: CALL_NAMES.get(r.operation, r.operation))
    legend_with_notes(fig, keys + style_keys(unstable, bound), notes, columns=3)
    fig.suptitle("Throughput against tail latency per call: each engine's calls and its Pareto front")
    both = closed[closed["calls_per_s"].notna() & closed["p99"].notna()]
    words = "; ".join(f"{label}: " + ", ".join(f"{CALL_NAMES.get(r.operation, r.operation)} {number(r.calls_per_s)} calls/s at p99 {number(r.p99 / 1000)} ms"
                                               for r in part.itertuples())
                      for label, part in both.groupby("label", sort=False))
    alt = ("Scatter plot of p99 call latency in ms (y) against closed-loop calls per second (x), one colour per engine, one marker per call; "
           "each engine's Pareto-optimal calls are joined. " + (f"{words}." if words else "No engine measured both.") + (" " + " ".join(notes) if notes else ""))
    return save(fig, results, name, alt)


#: The file name of ``key_figure``.
KEY_FIGURE = "calls-latency-cdf"


def key_figure(results: Results) -> Figure:
    """The figure the front page and the explorer show for this workload."""
    return calls_cdf(results)
