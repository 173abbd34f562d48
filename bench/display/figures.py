"""What every figure shares: one look, one colour per engine, legends outside the data, plain
numbers on the axes, the marks for unstable and client-bound points, saving with alt text.

A workload's ``figures.py`` draws its figures from its tables (so from records only) with these
helpers; each public figure function is ``drawn`` (the report's look, applied only while it draws,
never to the caller's matplotlib settings), ``save``s the figure as ``<results_dir>/figures/<name>.png``
and returns it. Emulator engines carry ``[emulator]`` in every title and legend.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import html
import io
import json
import math
import textwrap
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.ticker import Formatter, FuncFormatter, NullLocator

from bench.harness import loadgen, stats
from bench.harness.results import Results, engines_of
from bench.harness.tables import pareto_optimal

from .tables import smoke_label

#: Resolution of the figures embedded in pages and saved as files.
DPI = 100
#: The look of every figure, applied while one is drawn (``drawn``).
RC: dict[Any, Any] = {"figure.dpi": 72, "axes.grid": True, "grid.alpha": 0.3, "font.size": 9}
F = TypeVar("F", bound=Callable[..., Figure])


def drawn(function: F) -> F:
    """Draw ``function``'s figure in the report's look (``RC``); matplotlib's global settings stay as they were."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with plt.rc_context(RC):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def describe_figure(fig: Any) -> str:
    """Alt text for a figure from what it says about itself: its title, then its panels: what each
    plots against what (and which axis is on a log scale) and its series; panels alike are described once."""
    parts = []
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    if title:
        parts.append(title.strip().replace("\n", ". "))
    kinds: dict[str, list[str]] = {}
    for ax in fig.axes:
        if not ax.get_visible() or not (ax.lines or ax.patches or ax.collections or ax.images):
            continue
        bits = []
        x, y = ax.get_xlabel(), ax.get_ylabel()
        if y or x:
            logs = [a for a, scale in (("x", ax.get_xscale()), ("y", ax.get_yscale())) if scale == "log"]
            bits.append(f"{y or 'value'} against {x or 'category'}" + (f" ({' and '.join(logs)} on a log scale)" if logs else ""))
        legend = ax.get_legend()
        labels = [t.get_text() for t in legend.get_texts() if t.get_text()] if legend is not None else []
        if labels:
            bits.append("series: " + ", ".join(labels[:8]) + ("…" if len(labels) > 8 else ""))
        kinds.setdefault("; ".join(bits) or "a plot", []).append(ax.get_title())
    for what, titles in kinds.items():
        named = [t for t in titles if t]
        parts.append((f"{len(titles)} panels ({', '.join(named)}): " if len(titles) > 1 and named else f"{named[0]}: " if named else "") + what)
    return ". ".join(parts) or "A figure of this run's records."


def figure_html(fig: Any, alt: str | None = None) -> str:
    """The figure as an embedded PNG with alt text (``alt``, else what ``plots`` attached, else
    ``describe_figure``). A figure ``save`` wrote is embedded as the PNG it wrote, not drawn again."""
    png = getattr(fig, "bench_png", None)
    if png is None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
        png = buffer.getvalue()
    data = base64.b64encode(png).decode("ascii")
    text = alt or getattr(fig, "bench_alt", None) or describe_figure(fig)
    return f"<figure class='bench-figure'><img src='data:image/png;base64,{data}' alt='{html.escape(text, quote=True)}'></figure>"


#: Where ``save`` writes figures: off inside ``unsaved()`` (the explorer draws without touching the run's files).
_SAVING = [True]


@contextlib.contextmanager
def unsaved() -> Iterator[None]:
    """Draw figures without writing them to the run's ``figures/`` (what the explorer does)."""
    _SAVING.append(False)
    try:
        yield
    finally:
        _SAVING.pop()


def save(fig: Figure, results: Results, name: str, alt: str | None = None) -> Figure:
    """Label a smoke-sized run's figure, lay it out, attach its alt text (``alt``, else one read from
    the figure: ``describe_figure``) and write ``figures/<name>.png`` and ``figures/alt.json``."""
    fig.bench_alt = alt or describe_figure(fig)  # type: ignore[attr-defined]
    label = smoke_label(results.profile)
    if label:  # a figure saved on its own must still say that it comes from a smoke-sized run
        own = fig.get_suptitle()
        if own:
            fig.suptitle(f"{own}\n{label.upper()}", fontsize=10)
        else:
            fig.suptitle(label.upper(), color="#b00", fontsize=9, fontweight="bold")
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    if _SAVING[-1]:
        # Drawn once: the page embeds these same bytes (``figure_html``), so a figure is final
        # once saved. Drawing is most of a figure's cost (about 1.5 s for a panelled one).
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
        fig.bench_png = buffer.getvalue()  # type: ignore[attr-defined]
        (results.figures_dir / f"{name}.png").write_bytes(fig.bench_png)  # type: ignore[attr-defined]
        path = results.figures_dir / "alt.json"
        try:
            texts = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, json.JSONDecodeError):
            texts = {}
        texts[name] = fig.bench_alt  # type: ignore[attr-defined]
        path.write_text(json.dumps(texts, indent=1, sort_keys=True))
    return fig


@drawn
def empty_figure(results: Results, name: str, message: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return save(fig, results, name, alt=f"No figure: {message}.")


def palette(results: Results) -> dict[str, str]:
    """Engine label -> colour, in the engines' order, so an engine looks the same on every figure."""
    labels = list(dict.fromkeys([*engines_of(results)["label"], *results.measurements.get("label", pd.Series(dtype=str)).dropna()]))
    return {label: f"C{n % 10}" for n, label in enumerate(labels)}


def legend_below(fig: Figure, extra: Iterable[tuple[Any, str]] = (), columns: int = 4) -> None:
    """One legend for the whole figure, below the panels (outside the data), each label once;
    ``extra``: (handle, label) pairs explaining line styles and markers. Needs constrained layout."""
    seen: dict[str, Any] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label and not label.startswith("_"):
                seen.setdefault(label, handle)
    for handle, label in extra:
        seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=min(columns, len(seen)), frameon=False)


def log_if_wide(ax: plt.Axes, values: Iterable[float], axis: str = "y", ratio: float = 30.0) -> None:
    """A log scale on ``axis`` when the positive values span more than ``ratio`` times."""
    positive = [float(v) for v in values if pd.notna(v) and float(v) > 0]
    if positive and max(positive) / min(positive) > ratio:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def ci_errors(median: pd.Series, low: pd.Series, high: pd.Series, scale: float = 1.0) -> list[list[float]]:
    """Error bar lengths below and above from a bootstrap CI (0 where the CI is unknown)."""
    below = ((median - low) * scale).clip(lower=0).fillna(0)
    above = ((high - median) * scale).clip(lower=0).fillna(0)
    return [below.tolist(), above.tolist()]


#: Marker per skew (contention) or per call (calls) on the trade-off plots.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

#: Percentiles labelled on a latency-by-percentile axis (x = 1/(1-p) on a log scale).
_NINES = (0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999)
MISSING_COLOUR = "#82071e"


class _PlainLog(Formatter):
    """Log-axis tick labels as plain numbers with thousands separators (1,000 rather than 10³):
    every decade, and between decades as many of 2, 3, 5 as the axis has room for."""

    def __init__(self, minor: bool = False) -> None:
        self.minor = minor

    def __call__(self, x: float, pos: int | None = None) -> str:
        if x <= 0 or self.axis is None:
            return ""
        mantissa = round(x / 10 ** math.floor(math.log10(x) + 1e-9), 6)
        if not self.minor:
            return _tick_text(x) if mantissa == 1 else ""
        low, high = sorted(self.axis.get_view_interval())
        decades = math.log10(high / low) if low > 0 else math.inf
        shown = {2.0, 5.0} if decades <= 2.3 else set()
        if decades <= 1:
            shown |= {3.0}
        if decades <= 0.5:
            shown |= {4.0, 6.0, 8.0}
        return _tick_text(x) if mantissa in shown else ""


def _tick_text(value: float) -> str:
    """A tick's number: thousands separators, as few decimals as it needs (12.5 stays 12.5), never 1e3."""
    for decimals in range(4):
        if abs(value - round(value, decimals)) <= 1e-9 * max(1.0, abs(value)):
            return f"{value:,.{decimals}f}"
    return f"{value:.3g}"


def plain_ticks(ax: plt.Axes, axis: str = "y") -> None:
    """Plain numbers on ``axis`` (call after its scale is set): no scientific notation, separators."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    if (ax.get_yscale() if axis == "y" else ax.get_xscale()) == "log":
        target.set_major_formatter(_PlainLog())
        target.set_minor_formatter(_PlainLog(minor=True))
    else:
        target.set_major_formatter(FuncFormatter(lambda v, _: _tick_text(v)))


def integer_axis(ax: plt.Axes, values: Iterable[Any], axis: str = "x") -> None:
    """An integer axis (writers): exactly the values measured as ticks, on a log2 scale when they span
    4 times or more, no minor ticks."""
    ticks = sorted({int(v) for v in values if pd.notna(v)})
    if not ticks:
        return
    target = ax.xaxis if axis == "x" else ax.yaxis
    if ticks[0] > 0 and ticks[-1] / ticks[0] >= 4:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=2)
        low, high = ticks[0] / 1.3, ticks[-1] * 1.3
    else:
        pad = max(0.5, (ticks[-1] - ticks[0]) * 0.08)
        low, high = ticks[0] - pad, ticks[-1] + pad
    (ax.set_xticks if axis == "x" else ax.set_yticks)(ticks, [str(t) for t in ticks])
    target.set_minor_locator(NullLocator())
    (ax.set_xlim if axis == "x" else ax.set_ylim)(low, high)


def _nines_axis(ax: plt.Axes, top: float) -> None:
    """x: the percentile on a log(1/(1-p)) scale, labelled 0, 50, 90, 99, 99.9, ... up to the first
    label at or beyond ``top`` (the largest 1/(1-p) drawn; at least p99)."""
    ax.set_xscale("log")
    ticks = []
    for p in _NINES:
        ticks.append(p)
        if 1 / (1 - p) >= max(top, 100) * 0.999:
            break
    ax.set_xticks([1 / (1 - p) for p in ticks], [f"{round(p * 100, 3):g}" for p in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(1, 1 / (1 - ticks[-1]))


def status_notes(results: Results, workload: str, shown: Iterable[str]) -> list[str]:
    """Why each engine run for ``workload`` that has no row in the figure's table was not measured."""
    frame = results.engines
    if frame.empty or "workload" not in frame.columns:
        return []
    rows = frame[(frame["workload"] == workload) & ~frame["label"].isin(list(shown))].drop_duplicates("label", keep="last")
    return [f"{r.label}: not measured ({r.reason or r.status})" for r in rows.itertuples()]


def gap_notes(table: pd.DataFrame, value: str, point: Callable[[Any], str], zero_is_gap: bool = True) -> list[str]:
    """Per engine: the points of ``table`` without a ``value`` (or with 0, when ``zero_is_gap``), with the
    cause its records give, so that a figure says why a line is short or missing."""
    notes = []
    for label, part in table.groupby("label", sort=False):
        values = pd.to_numeric(part[value], errors="coerce")
        gap = values.isna() | ((values == 0) if zero_is_gap else False)
        if not gap.any():
            continue
        causes = "; ".join(dict.fromkeys(bit for c in part.loc[gap, "cause"].dropna() for bit in str(c).split("; "))) if "cause" in part.columns else ""
        causes = causes or "no record says why: see the table of every point"
        zero = zero_is_gap and bool((values[gap] == 0).any())
        if gap.all():
            what = ("measured 0 at every point" if values.notna().all() else "0 or nothing at every point") if zero else "nothing measured"
        else:
            where = ", ".join(point(r) for r in part[gap].itertuples())
            what = f"{'0 or nothing' if zero else 'nothing'} at {where}"
        notes.append(f"{label}: {what} ({causes})")
    return notes


def legend_with_notes(fig: Figure, extra: Iterable[tuple[Any, str]] = (), notes: Iterable[str] = (), columns: int = 4) -> None:
    """``legend_below``, with ``notes`` (what the figure does not show, and why) above its entries,
    in as many columns (up to ``columns``) as fit the figure's width."""
    extra = list(extra)
    width = int(fig.get_figwidth() * 14)  # characters of 8 pt text across the figure
    text = "\n".join(textwrap.fill(n, width, subsequent_indent="    ") for n in notes)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    while True:
        legend_below(fig, extra, columns=columns)
        if not fig.legends:
            if text:
                fig.legend([], [], loc="outside lower center", title=text, title_fontsize=8, frameon=False).get_title().set_color(MISSING_COLOUR)
            return
        legend = fig.legends[-1]
        if text:
            legend.set_title(text, prop=FontProperties(size=8))
            legend.get_title().set_color(MISSING_COLOUR)
        columns = min(columns, len(legend.legend_handles))
        if columns <= 1 or legend.get_window_extent(renderer).width <= fig.bbox.width * 0.98:  # never wider than the figure
            return
        legend.remove()
        columns -= 1


def no_data(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=MISSING_COLOUR, fontsize=8, wrap=True)


def style_keys(unstable: bool, bound: bool) -> list[tuple[Any, str]]:
    """Legend entries explaining the hollow (unstable) and red-ringed (client-bound) markers."""
    keys = []
    if unstable:
        keys.append((Line2D([], [], color="grey", marker="o", markerfacecolor="white", linestyle="none"),
                     f"hollow: 95 % CI wider than ±{stats.CI_TARGET * 100:g} % of the median (not decision-grade)"))
    if bound:
        keys.append((Line2D([], [], marker="o", markersize=10, markerfacecolor="none", markeredgecolor="red", markeredgewidth=1.5, linestyle="none"),
                     f"ringed red: client-bound (≥ {loadgen.CLIENT_BOUND_SHARE * 100:g} % of the load generator's own ceiling)"))
    return keys


def hollow(ax: plt.Axes, xs: Any, ys: Any, colour: str | None, marker: str = "o") -> None:
    ax.plot(xs, ys, marker=marker, linestyle="none", markerfacecolor="white", markeredgecolor=colour, zorder=4)


def in_engine_order(table: pd.DataFrame, colours: dict[str, str]) -> pd.DataFrame:
    """``table``'s rows with the engines in the palette's order (the order of every legend)."""
    if table.empty or "label" not in table.columns:
        return table
    order = {label: n for n, label in enumerate(colours)}
    return table.sort_values("label", key=lambda s: s.map(lambda v: order.get(v, len(order))), kind="stable")


def flag(value: Any) -> bool:
    """A table's True (a bool, numpy's or pandas' nullable one); False for NA."""
    return bool(pd.notna(value) and value)


def mark_client_bound(ax: plt.Axes, table: pd.DataFrame, x: str, y: str, scale: float = 1.0) -> bool:
    """Ring the points where the engine reached 80 % of the harness's own ceiling: there the load
    generator, not the engine, may be what limits the figure. True when any point was ringed."""
    bound = table[table["client_bound"].fillna(False).astype(bool)] if "client_bound" in table.columns else table.iloc[0:0]
    if bound.empty:
        return False
    ax.scatter(bound[x], bound[y].astype(float) * scale, s=150, facecolors="none", edgecolors="red", linewidths=1.5, zorder=5)
    return True


def nines_panels(fig: Figure, axes: list[plt.Axes], curves: pd.DataFrame, panels: list[tuple[str, pd.DataFrame]], colours: dict[str, str],
                  styles: Callable[[pd.DataFrame], Iterable[tuple[str, pd.DataFrame, str]]], empty: str) -> None:
    """Draw one latency-by-percentile panel per (title, rows of ``curves``): a line per engine (and
    per style), x on the nines scale, y in ms on a shared log scale when the values span 30 times."""
    top = float((1 / (1 - curves["percentile"].clip(upper=0.99999))).max()) if not curves.empty else 100.0
    for ax, (title, part) in zip(axes, panels, strict=True):
        if part.empty:
            no_data(ax, empty)
        for label, rows in part.groupby("label", sort=False):
            for suffix, line, style in styles(rows):
                line = line.sort_values("percentile")
                ax.plot(1 / (1 - line["percentile"]), line["latency_us"] / 1000, color=colours.get(str(label)), linestyle=style,
                        label=f"{label}{suffix}", drawstyle="steps-post")
                end = line.iloc[-1]
                ax.plot([1 / (1 - end["percentile"])], [end["latency_us"] / 1000], marker="|", markersize=8, color=colours.get(str(label)))
        ax.set_title(title, fontsize=9)
        _nines_axis(ax, top)
    log_if_wide(axes[0], curves["latency_us"] / 1000 if not curves.empty else [])
    if axes[0].get_yscale() != "log":
        axes[0].set_ylim(bottom=0)
    plain_ticks(axes[0])


def tradeoff(ax: plt.Axes, table: pd.DataFrame, x: str, y: str, group: str, markers: dict[Any, str], colours: dict[str, str],
              annotate: Callable[[Any], str] | None = None) -> tuple[bool, bool]:
    """Throughput (x) against p99 in ms (y), a marker per ``group`` value and a colour per engine, the
    Pareto-optimal points of each engine joined, dominated ones pale; (any unstable, any client-bound)."""
    known = table[pd.to_numeric(table[x], errors="coerce").gt(0) & pd.to_numeric(table[y], errors="coerce").gt(0)].copy()
    known[x], known[y] = known[x].astype(float), known[y].astype(float) / 1000
    known["optimal"] = pareto_optimal(known, x, y)
    unstable = bound = False
    for label, part in known.groupby("label", sort=False):
        colour = colours.get(str(label))
        front = part[part["optimal"]].sort_values(x)
        ax.plot(front[x], front[y], color=colour, linewidth=1.6, label=str(label), zorder=2)
        for row in part.itertuples():
            value = getattr(row, x)
            errors = ci_errors(pd.Series([value]), pd.Series([getattr(row, f"{x}_ci_low", math.nan)]), pd.Series([getattr(row, f"{x}_ci_high", math.nan)]))
            shaky = flag(getattr(row, "unstable", False))
            ax.errorbar([value], [getattr(row, y)], xerr=errors, marker=markers.get(getattr(row, group), "o"), color=colour, linestyle="none", capsize=2,
                        alpha=1.0 if row.optimal else 0.35, markerfacecolor="white" if shaky else colour, markersize=7, zorder=3)
            unstable |= shaky
            if annotate is not None:
                ax.annotate(annotate(row), (value, getattr(row, y)), textcoords="offset points", xytext=(5, 4), fontsize=7, color=colour,
                            alpha=1.0 if row.optimal else 0.6)
        bound |= mark_client_bound(ax, part, x, y)
    if known.empty:
        no_data(ax, "no engine measured both a throughput and a p99:\nsee the notes below")
    else:
        log_if_wide(ax, known[x], axis="x", ratio=10)
        log_if_wide(ax, known[y], ratio=10)
    ax.set_title("better: right (faster) and down (lower p99)", loc="right", fontsize=8, color="dimgray")
    plain_ticks(ax, "x")
    plain_ticks(ax, "y")
    return unstable, bound
