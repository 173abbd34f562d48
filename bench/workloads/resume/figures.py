"""The resume page's figures: missed and repeated events per kill, and catch-up times."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from bench.display.figures import ci_errors, drawn, empty_figure, legend_below, log_if_wide, palette, save
from bench.display.tables import number
from bench.harness.results import Results

from .tables import resume_catch_up_points, resume_per_run, resume_summary


@drawn
def resume(results: Results) -> Figure:
    """Per consumer run (the last is the final catch-up): missed events (left, must be 0) and
    repeated events (right), summed over repetitions, engines side by side in their colours."""
    table = resume_per_run(results)
    if table.empty:
        return empty_figure(results, "resume-missed-repeated", "no resume records in this run")
    colours = palette(results)
    labels = list(table["label"].unique())
    sums = table.groupby(["label", "consumer_run"], as_index=False)[["missed_per_run", "repeats_per_run"]].sum(min_count=1)
    runs = sorted(int(r) for r in sums["consumer_run"].unique())
    width = 0.8 / max(1, len(labels))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True, layout="constrained")
    for ax, column, title in ((axes[0], "missed_per_run", "missed events (must be 0)"), (axes[1], "repeats_per_run", "events handled again (at-least-once)")):
        for n, label in enumerate(labels):
            part = sums[sums["label"] == label].set_index("consumer_run").reindex(runs)
            xs = [i + (n - (len(labels) - 1) / 2) * width for i in range(len(runs))]
            ax.bar(xs, part[column].fillna(0), width=width, color=colours.get(str(label)), label=str(label))
        total = sums[column].sum(min_count=1)
        if column == "missed_per_run" and (pd.isna(total) or total == 0):
            ax.text(0.5, 0.5, "no engine missed an event" if total == 0 else "misses unknown", transform=ax.transAxes, ha="center", va="center", color="#1a7f37")
            ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.set_xticks(range(len(runs)), [f"{r}\n(final)" if r == runs[-1] else str(r) for r in runs])
        ax.set_xlabel("consumer run (killed with SIGKILL, then restarted)")
        ax.set_ylabel("events, all repetitions")
    legend_below(fig)
    fig.suptitle("What a consumer killed at random moments misses and repeats")
    totals = resume_summary(results)
    words = "; ".join(f"{r.label}: {'unknown' if pd.isna(r.missed_events) else int(r.missed_events)} missed, {number(r.repeated_events)} repeated"
                      for r in totals.itertuples())
    return save(fig, results, "resume-missed-repeated", f"Bar charts of missed (left) and repeated (right) events per consumer run, engines side by side. Totals: {words}.")


@drawn
def resume_catch_up(results: Results) -> Figure:
    """Per consumer run: median time to caught up from the store being open (left) and from the
    process start (right), ms on a log scale, engines overlaid, bootstrap 95 % CIs as bars."""
    table = resume_catch_up_points(results)
    if table.empty:
        return empty_figure(results, "resume-catch-up", "no catch-up times recorded in this run")
    colours = palette(results)
    runs = sorted(int(r) for r in resume_per_run(results)["consumer_run"].dropna().unique()) or sorted(int(r) for r in table["consumer_run"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True, layout="constrained")
    for ax, metric, title in ((axes[0], "catch_up_time", "from store open to caught up"), (axes[1], "restart_to_caught_up", "from process start to caught up")):
        part = table[table["metric"] == metric]
        for label, line in part.groupby("label", sort=False):
            line = line.sort_values("consumer_run")
            ax.errorbar(line["consumer_run"].astype(int), line["median"] / 1000, yerr=ci_errors(line["median"], line["ci_low"], line["ci_high"], 1 / 1000),
                        color=colours.get(str(label)), marker="o", capsize=2, label=str(label))
        ax.set_title(title)
        ax.set_xlabel("consumer run (the last: final catch-up)")
        ax.set_xticks(runs)
        ax.set_xlim(min(runs) - 0.5, max(runs) + 0.5)
    axes[0].set_ylabel("median time (ms)")
    log_if_wide(axes[0], table["median"] / 1000, ratio=10)
    legend_below(fig)
    fig.suptitle("How long a restarted consumer takes to catch up")
    return save(fig, results, "resume-catch-up", "Median catch-up time in ms per consumer run, from store open (left) and from process start (right), "
                 f"engines overlaid: {', '.join(str(x) for x in table['label'].unique())}; runs killed before catching up have no point.")


#: The file name of ``key_figure``.
KEY_FIGURE = "resume-missed-repeated"


def key_figure(results: Results) -> Figure:
    """The figure the front page and the explorer show for this workload."""
    return resume(results)
