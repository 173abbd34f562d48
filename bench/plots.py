"""Figures for the report pages, drawn from the summary tables (so from records only).

Each function takes ``Results``, draws one figure, saves it as ``<results_dir>/figures/<name>.png``
and returns it. Emulator engines carry ``[emulator]`` in every title and legend.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from . import stats, summaries
from .results import Results, merged_histograms

DPI = 100
plt.rcParams.update({"figure.dpi": 72, "axes.grid": True, "grid.alpha": 0.3, "font.size": 9})


def _panels(labels: Iterable[str], width: float = 4.2, height: float = 3.0) -> tuple[Figure, dict[str, plt.Axes]]:
    labels = list(labels)
    columns = min(3, max(1, len(labels)))
    rows = max(1, math.ceil(len(labels) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[len(labels):]:
        ax.set_visible(False)
    return fig, dict(zip(labels, flat))


def _save(fig: Figure, results: Results, name: str) -> Figure:
    fig.tight_layout()
    fig.savefig(results.figures_dir / f"{name}.png", dpi=DPI)
    return fig


def _empty(results: Results, name: str, message: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return _save(fig, results, name)


# -- contention --------------------------------------------------------------------------------------


def contention(results: Results, metric: str = "throughput", ylabel: str = "successful commands/s") -> Figure:
    """``metric`` against writers, one line per skew, one panel per engine (CI bars when known)."""
    table = summaries.contention_points(results)
    name = f"contention-{metric.replace('_', '-')}"
    if table.empty:
        return _empty(results, name, "no contention records")
    fig, panels = _panels(table["label"].unique())
    for label, ax in panels.items():
        part = table[table["label"] == label]
        for skew, line in part.groupby("skew"):
            line = line.sort_values("writers")
            if metric == "throughput":
                errors = [line["throughput"] - line["throughput_ci_low"], line["throughput_ci_high"] - line["throughput"]]
                ax.errorbar(line["writers"], line["throughput"], yerr=errors, marker="o", capsize=3, label=f"skew {skew:g}")
            else:
                ax.plot(line["writers"], line[metric], marker="o", label=f"skew {skew:g}")
        ax.set_xscale("log", base=2)
        ax.set_title(label)
        ax.set_xlabel("writers")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    return _save(fig, results, name)


def contention_latency(results: Results) -> Figure:
    """Command latency including retries (p50 solid, p99 dashed, p99.9 dotted) against writers."""
    table = summaries.contention_points(results)
    if table.empty:
        return _empty(results, "contention-latency", "no contention records")
    fig, panels = _panels(table["label"].unique())
    for label, ax in panels.items():
        part = table[table["label"] == label]
        for n, (skew, line) in enumerate(part.groupby("skew")):
            line = line.sort_values("writers")
            color = f"C{n}"
            ax.plot(line["writers"], line["p50"] / 1000, color=color, marker="o", label=f"skew {skew:g} p50")
            ax.plot(line["writers"], line["p99"] / 1000, color=color, linestyle="--", label=f"skew {skew:g} p99")
            ax.plot(line["writers"], line["p999"] / 1000, color=color, linestyle=":", label=f"skew {skew:g} p99.9")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(label)
        ax.set_xlabel("writers")
        ax.set_ylabel("command latency incl. retries (ms)")
        ax.legend(fontsize=6, ncol=1)
    return _save(fig, results, "contention-latency")


# -- snapshots ---------------------------------------------------------------------------------------


def snapshot_loads(results: Results) -> Figure:
    """Load time (p50) against stream length, log-log: full replay vs snapshot every N; warm solid,
    cold dashed; a marker where each N starts to pay off."""
    table = summaries.snapshot_loads(results)
    if table.empty:
        return _empty(results, "snapshots-load-time", "no snapshot records")
    even = summaries.snapshot_break_even(results)
    fig, panels = _panels(table["label"].unique(), height=3.3)
    for label, ax in panels.items():
        part = table[table["label"] == label]
        for n, (every, variant) in enumerate(part.groupby("snapshot_every")):
            name = "no snapshots" if every == 0 else f"snapshot every {every}"
            for cache, style in (("warm", "-"), ("cold", "--")):
                line = variant[variant["cache"] == cache].sort_values("length")
                ax.plot(line["length"], line["p50"] / 1000, linestyle=style, marker="o", color=f"C{n}", label=f"{name} ({cache})" if cache == "warm" or n == 0 else None)
            point = even[(even["label"] == label) & (even["snapshot_every"] == every)]
            if not point.empty and pd.notna(point["break_even_length"].iloc[0]):
                length = point["break_even_length"].iloc[0]
                y = variant[(variant["cache"] == "warm") & (variant["length"] == length)]["p50"]
                if not y.empty:
                    ax.plot([length], [y.iloc[0] / 1000], marker="*", markersize=12, color=f"C{n}", linestyle="none")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(label)
        ax.set_xlabel("stream length (events)")
        ax.set_ylabel("load time p50 (ms)")
        ax.legend(fontsize=6, title="solid warm, dashed cold; * break-even", title_fontsize=6)
    return _save(fig, results, "snapshots-load-time")


def snapshot_write_cost(results: Results) -> Figure:
    """Extra time per append, as a share of a plain append, for each snapshot interval N."""
    table = summaries.snapshot_write_cost(results)
    if table.empty or "extra_time_share" not in table.columns:
        return _empty(results, "snapshots-write-cost", "no snapshot write-cost records")
    pivot = table.pivot_table(index="label", columns="snapshot_every", values="extra_time_share") * 100
    fig, ax = plt.subplots(figsize=(7, 3))
    pivot.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("extra time per append (% of an append)")
    ax.set_xlabel("")
    ax.legend(title="snapshot every N", fontsize=7)
    return _save(fig, results, "snapshots-write-cost")


# -- resume ------------------------------------------------------------------------------------------


def resume(results: Results) -> Figure:
    """Missed (red) and repeated (blue) events per consumer run, summed over repetitions."""
    table = summaries.resume_per_run(results)
    if table.empty:
        return _empty(results, "resume-missed-repeated", "no resume records")
    totals = summaries.resume_summary(results).set_index("label")
    fig, panels = _panels(table["label"].unique())
    for label, ax in panels.items():
        part = table[table["label"] == label].groupby("consumer_run", as_index=False)[["missed_per_run", "repeats_per_run"]].sum(min_count=1)
        x = part["consumer_run"].astype(int)
        ax.bar(x - 0.2, part["missed_per_run"], width=0.4, color="tab:red", label="missed")
        ax.bar(x + 0.2, part["repeats_per_run"], width=0.4, color="tab:blue", label="repeated")
        missed = totals.loc[label, "missed_events"] if label in totals.index else float("nan")
        ax.set_title(f"{label}: {'unknown' if pd.isna(missed) else int(missed)} missed in total")
        ax.set_xlabel("consumer run (last = final catch-up)")
        ax.set_ylabel("events (all repetitions)")
        ax.set_xticks(list(x))
        ax.set_ylim(0, max(1.0, float(part[["missed_per_run", "repeats_per_run"]].max().max() or 0)) * 1.1)
        ax.legend(fontsize=7)
    return _save(fig, results, "resume-missed-repeated")


def resume_catch_up(results: Results) -> Figure:
    """Per consumer run: from store open to caught up (left), from process start to caught up (right)."""
    table = summaries.resume_per_run(results)
    if table.empty or table["catch_up_ms"].isna().all():
        return _empty(results, "resume-catch-up", "no catch-up times recorded")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
    for ax, column, title in ((axes[0], "catch_up_ms", "store open -> caught up"), (axes[1], "restart_ms", "process start -> caught up")):
        for label, part in table.groupby("label"):
            part = part.groupby("consumer_run", as_index=False)[column].median()
            ax.plot(part["consumer_run"], part[column], marker="o", label=label)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("consumer run")
    axes[0].set_ylabel("median (ms)")
    axes[1].legend(fontsize=7)
    return _save(fig, results, "resume-catch-up")


# -- calls -------------------------------------------------------------------------------------------


def calls_throughput(results: Results) -> Figure:
    table = summaries.calls_table(results)
    closed = table[table["loop"] == "closed"]
    if closed.empty:
        return _empty(results, "calls-throughput", "no closed-loop call records")
    pivot = closed.pivot_table(index="operation", columns="label", values="calls_per_s")
    fig, ax = plt.subplots(figsize=(8, 3.2))
    pivot.plot.bar(ax=ax, rot=0, logy=True)
    ax.set_ylabel("calls/s (closed loop, one client)")
    ax.set_xlabel("")
    ax.legend(fontsize=7)
    return _save(fig, results, "calls-throughput")


def calls_cdf(results: Results) -> Figure:
    """Latency CDF per call from the merged histograms: closed loop solid, open loop dashed."""
    frame = results.of("calls")
    histograms = merged_histograms(frame, "latency", ["operation", "loop"])
    if not histograms:
        return _empty(results, "calls-latency-cdf", "no call latency records")
    operations = sorted({key[2] for key in histograms})
    labels = sorted({key[1] for key in histograms})
    fig, panels = _panels(operations)
    for operation, ax in panels.items():
        for n, label in enumerate(labels):
            for loop, style in (("closed", "-"), ("open", "--")):
                histogram = next((h for k, h in histograms.items() if k[1] == label and k[2] == operation and k[3] == loop), None)
                if histogram is None:
                    continue
                xs, ys = stats.cdf(histogram)
                ax.step([x / 1000 for x in xs], ys, where="post", linestyle=style, color=f"C{n}", label=f"{label} ({loop})")
        ax.set_xscale("log")
        ax.set_title(operation)
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("fraction of calls")
        ax.legend(fontsize=6)
    return _save(fig, results, "calls-latency-cdf")
