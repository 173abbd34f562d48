"""The faults page's figures: outcomes per engine and setting, and recovery times."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from bench.display.figures import drawn, empty_figure, save
from bench.harness.results import Results

from .tables import faults_summary


@drawn
def faults_outcomes(results: Results) -> Figure:
    """Per engine and setting: how its ambiguous appends resolved (stacked: the retry returned the
    original result, wrote the append once, or left it unresolved), and beside each bar what was
    lost, duplicated or missed by the subscriber, in red when not zero. Non-durable settings are marked;
    crashes and cuts, and power cuts, are rows of their own."""
    table = faults_summary(results)
    table = table[table["crashes"].notna() | table["power_cuts"].fillna(0).gt(0)].reset_index(drop=True)
    if table.empty:
        return empty_figure(results, "faults-outcomes", "no faults records")
    names = [f"{r.label} · {r.setting}" + (" · power cuts" if r.power_loss else " · crashes, cuts") + ("" if r.durable else " (non-durable)")
             for r in table.itertuples()]
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * len(table)))
    left = [0.0] * len(table)
    for column, legend, color in (("ambiguous_original", "first attempt had landed: retry returned it", "tab:green"),
                                  ("ambiguous_written", "first attempt had not landed: retry wrote it once", "yellowgreen"),
                                  ("ambiguous_unresolved", "unresolved", "tab:orange")):
        values = table[column].fillna(0).tolist()
        ax.barh(range(len(table)), values, left=left, color=color, label=legend)
        left = [a + b for a, b in zip(left, values, strict=True)]
    end = max(max(left), 1.0)
    for y, row in enumerate(table.itertuples()):
        missed = "unknown" if pd.isna(row.missed) else int(row.missed)
        lost = "unknown" if pd.isna(row.lost) else int(row.lost)
        bad = bool(pd.isna(row.lost) or row.lost or row.duplicated or pd.isna(row.missed) or row.missed)
        ax.text(left[y] + end * 0.01, y, f"lost {lost} · duplicated {'unknown' if pd.isna(row.duplicated) else int(row.duplicated)} · missed {missed}",
                va="center", fontsize=7, color="tab:red" if bad else "dimgray", fontweight="bold" if bad else "normal")
    ax.set_xlim(0, end * 1.45)
    ax.set_yticks(range(len(table)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ambiguous appends (all repetitions), and what the audit found")
    ax.legend(fontsize=7, loc="lower right")
    return save(fig, results, "faults-outcomes")


@drawn
def faults_recovery(results: Results) -> Figure:
    """Distributions per engine and setting: time without a successful append after each fault
    (left) and until the subscriber had caught up (right); crashes and cuts apart."""
    frame = results.of("faults")
    rows = frame[frame["metric"].isin(["write_outage", "subscriber_catch_up"]) & frame["value"].notna()]
    if rows.empty:
        return empty_figure(results, "faults-recovery", "no recovery times recorded")
    groups = sorted({(r.label, r.setting, r.fault) for r in rows.itertuples()})
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.5 + 0.35 * len(groups)), sharey=True)
    for ax, (metric, title) in zip(axes, (("write_outage", "no successful append (ms)"), ("subscriber_catch_up", "until the subscriber caught up (ms)")), strict=True):
        data = [rows[(rows["metric"] == metric) & (rows["label"] == label) & (rows["setting"] == setting) & (rows["fault"] == fault)]["value"] / 1000.0
                for label, setting, fault in groups]
        parts = ax.boxplot([d if len(d) else [float("nan")] for d in data], vert=False, widths=0.6, patch_artist=True)
        for patch, (_, _, fault) in zip(parts["boxes"], groups, strict=True):
            patch.set_facecolor("tab:red" if fault == "crash" else "tab:blue")
            patch.set_alpha(0.5)
        ax.set_xscale("log")
        ax.set_title(title)
        ax.set_xlabel("after each fault: red a crash, blue a cut")
    axes[0].set_yticks(range(1, len(groups) + 1), [f"{label} · {setting} · {fault}" for label, setting, fault in groups], fontsize=7)
    axes[0].invert_yaxis()
    return save(fig, results, "faults-recovery")


#: The file name of ``key_figure``.
KEY_FIGURE = "faults-outcomes"


def key_figure(results: Results) -> Figure:
    """The figure the front page and the explorer show for this workload."""
    return faults_outcomes(results)
