"""The snapshots page's figures: load time against stream length, and the write cost of snapshotting."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.display.figures import ci_errors, drawn, empty_figure, legend_below, log_if_wide, palette, save
from bench.harness.results import Results

from .tables import snapshot_break_even, snapshot_cost_points, snapshot_load_points


@drawn
def snapshot_loads(results: Results) -> Figure:
    """Load time p50 against stream length, log-log, one panel per snapshot interval (the first:
    full replay) on shared axes, engines overlaid in their colours; warm loads solid, cold dotted;
    bars: bootstrap 95 % CI over repetitions; a star where that interval first beats a full replay."""
    table = snapshot_load_points(results)
    if table.empty:
        return empty_figure(results, "snapshots-load-time", "no snapshot load records in this run")
    even = snapshot_break_even(results)
    colours = palette(results)
    intervals = sorted(int(n) for n in table["snapshot_every"].dropna().unique())
    fig, axes = plt.subplots(1, len(intervals), figsize=(min(3.6 * len(intervals) + 1, 15), 4.0), sharex=True, sharey=True, squeeze=False, layout="constrained")
    for ax, every in zip(axes[0], intervals, strict=True):
        for label, part in table[table["snapshot_every"] == every].groupby("label", sort=False):
            for cache, style in (("warm", "-"), ("cold", ":")):
                line = part[part["cache"] == cache].sort_values("length")
                if line.empty:
                    continue
                ax.errorbar(line["length"], line["median"] / 1000, yerr=ci_errors(line["median"], line["ci_low"], line["ci_high"], 1 / 1000),
                            color=colours.get(str(label)), linestyle=style, marker="o" if cache == "warm" else ".", capsize=2,
                            label=str(label) if cache == "warm" else None)
            point = even[(even["label"] == label) & (even["snapshot_every"] == every)] if every else even.iloc[0:0]
            if not point.empty and pd.notna(point["break_even_length"].iloc[0]):
                length = point["break_even_length"].iloc[0]
                y = part[(part["cache"] == "warm") & (part["length"] == length)]["median"]
                if not y.empty:
                    ax.plot([length], [y.iloc[0] / 1000], marker="*", markersize=13, color=colours.get(str(label)), markeredgecolor="black", linestyle="none")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title("full replay (no snapshots)" if every == 0 else f"snapshot every {every} events")
        ax.set_xlabel("stream length (events)")
    axes[0][0].set_ylabel("load time p50 (ms)")
    styles = [(Line2D([], [], color="grey", linestyle="-", marker="o"), "warm load (repeated)"),
              (Line2D([], [], color="grey", linestyle=":", marker="."), "cold load (new connection)"),
              (Line2D([], [], color="grey", marker="*", markersize=11, markeredgecolor="black", linestyle="none"), "first length where snapshots beat a full replay")]
    legend_below(fig, styles, columns=5)
    fig.suptitle("Time to load an aggregate against its stream length, per snapshot interval")
    engines = ", ".join(str(label) for label in table["label"].unique())
    alt = (f"Load time p50 in ms against stream length in events, log-log, one panel per snapshot interval ({', '.join(str(n) for n in intervals)}; "
           f"0 = full replay), engines overlaid: {engines}. Warm loads solid, cold loads dotted; stars mark where snapshots start to pay off.")
    return save(fig, results, "snapshots-load-time", alt)


@drawn
def snapshot_write_cost(results: Results) -> Figure:
    """Extra time per append that snapshotting every N events adds, as a share of a plain append:
    engines side by side per N, bootstrap 95 % CIs as bars."""
    table = snapshot_cost_points(results)
    if table.empty:
        return empty_figure(results, "snapshots-write-cost", "no snapshot write-cost records in this run")
    colours = palette(results)
    intervals = sorted(int(n) for n in table["snapshot_every"].dropna().unique())
    labels = list(table["label"].unique())
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
    for n, label in enumerate(labels):
        part = table[table["label"] == label].set_index("snapshot_every").reindex(intervals)
        xs = [i + (n - (len(labels) - 1) / 2) * width for i in range(len(intervals))]
        ax.bar(xs, part["median"] * 100, width=width, color=colours.get(str(label)), label=str(label),
               yerr=ci_errors(part["median"], part["ci_low"], part["ci_high"], 100), capsize=2)
    ax.set_xticks(range(len(intervals)), [f"every {n}" for n in intervals])
    ax.set_xlabel("snapshot interval N (events)")
    ax.set_ylabel("extra time per append (% of an append)")
    log_if_wide(ax, table["median"] * 100)
    legend_below(fig)
    fig.suptitle("What snapshotting costs each append")
    alt = (f"Bar chart: extra time per append, as a percentage of a plain append, for snapshot intervals {', '.join(str(n) for n in intervals)}, "
           f"engines side by side: {', '.join(str(x) for x in labels)}.")
    return save(fig, results, "snapshots-write-cost", alt)


#: The file name of ``key_figure``.
KEY_FIGURE = "snapshots-load-time"


def key_figure(results: Results) -> Figure:
    """The figure the front page and the explorer show for this workload."""
    return snapshot_loads(results)
