"""The overview's figure: each requirement profile's scores per engine."""
from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.display.figures import drawn, empty_figure, legend_below, save
from bench.harness.results import Results


@drawn
def decision_scores(decisions: list[Any], results: Results) -> Figure:
    """One panel per requirement profile: each candidate's weighted score as a stacked bar of the
    points each matrix column earned it (``decide.Decision.breakdown``); engines set aside named below."""
    if not decisions:
        return empty_figure(results, "overview-scores", "no requirement profile to decide")
    columns = min(3, len(decisions))
    rows = math.ceil(len(decisions) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.0 * rows), squeeze=False, layout="constrained")
    keys = list(dict.fromkeys(k for d in decisions for k in d.breakdown["key"]))
    colours = {k: plt.get_cmap("tab20")(n % 20) for n, k in enumerate(keys)}
    headers = {k: c for d in decisions for k, c in zip(d.breakdown["key"], d.breakdown["column"], strict=True)}
    for ax, decision in zip(axes.flat, decisions, strict=False):
        ranking = decision.ranking
        names = list(ranking["name"])[::-1]
        labels = dict(zip(ranking["name"], ranking["engine"], strict=True))
        left = [0.0] * len(names)
        for key in keys:
            part = decision.breakdown[decision.breakdown["key"] == key].set_index("name")
            widths = [float(part.loc[n, "points"]) if n in part.index else 0.0 for n in names]
            ax.barh(range(len(names)), widths, left=left, color=colours[key], label=headers[key])
            left = [a + b for a, b in zip(left, widths, strict=True)]
        for y, total in enumerate(left):
            ax.text(total + 1, y, f"{total:.0f}", va="center", fontsize=8)
        ax.set_yticks(range(len(names)), [labels[n] for n in names])
        ax.set_xlim(0, 110)
        ax.set_title(decision.profile.title, fontsize=9)
        ax.set_xlabel("weighted score (of 100)")
        aside = ", ".join(str(e) for e in decision.set_aside["engine"])
        if aside:
            ax.text(0.99, 0.02, f"set aside: {aside}", transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="#82071e", wrap=True)
        if not names:
            ax.text(0.5, 0.5, "no engine meets every requirement", transform=ax.transAxes, ha="center", va="center", color="#82071e")
            ax.set_yticks([])
    for ax in list(axes.flat)[len(decisions):]:
        ax.set_visible(False)
    legend_below(fig, columns=4)
    fig.suptitle("Weighted score per requirement profile, by the matrix column that earned it")
    words = "; ".join(f"{d.profile.title}: " + (", ".join(f"{r.engine} {r.score:.0f}" for r in d.ranking.itertuples()) or "no engine qualifies") for d in decisions)
    return save(fig, results, "overview-scores", f"Stacked horizontal bars of each candidate's weighted score per requirement profile. {words}.")
