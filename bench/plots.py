"""Figures for the report pages, drawn from the summary tables (so from records only).

Each function takes ``Results``, draws one figure, saves it as ``<results_dir>/figures/<name>.png``
and returns it. Emulator engines carry ``[emulator]`` in every title and legend.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import textwrap
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import Formatter, FuncFormatter, NullLocator

from . import loadgen, stats, summaries
from .comparability import engines_of
from .pages import describe_figure, number, smoke_label
from .results import Results

DPI = 100
plt.rcParams.update({"figure.dpi": 72, "axes.grid": True, "grid.alpha": 0.3, "font.size": 9})
#: Where ``_save`` writes figures: off inside ``unsaved()`` (the explorer draws without touching the run's files).
_SAVING = [True]


@contextlib.contextmanager
def unsaved() -> Iterator[None]:
    """Draw figures without writing them to the run's ``figures/`` (what the explorer does)."""
    _SAVING.append(False)
    try:
        yield
    finally:
        _SAVING.pop()


def _save(fig: Figure, results: Results, name: str, alt: str | None = None) -> Figure:
    """Label a smoke-sized run's figure, lay it out, attach its alt text (``alt``, else one read from
    the figure: ``pages.describe_figure``) and write ``figures/<name>.png`` and ``figures/alt.json``."""
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
        # Drawn once: the page embeds these same bytes (``pages.figure_html``), so a figure is final
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


def _empty(results: Results, name: str, message: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return _save(fig, results, name, alt=f"No figure: {message}.")


# -- shared helpers: the same engine in the same colour everywhere, legends outside the data ---------


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


# -- contention --------------------------------------------------------------------------------------

#: What ``contention`` calls each metric in its title (the y label comes from the caller).
_CONTENTION_TITLES = {
    "throughput": "Successful commands per second against concurrent writers",
    "conflict_rate": "Share of append attempts refused for a stale expected version",
    "retries_per_success": "Retries per successful command",
}
#: Marker per skew (contention) or per call (calls) on the trade-off plots.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Percentiles labelled on a latency-by-percentile axis (x = 1/(1-p) on a log scale).
_NINES = (0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999)
_MISSING_COLOUR = "#82071e"


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


def _plain_ticks(ax: plt.Axes, axis: str = "y") -> None:
    """Plain numbers on ``axis`` (call after its scale is set): no scientific notation, separators."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    if (ax.get_yscale() if axis == "y" else ax.get_xscale()) == "log":
        target.set_major_formatter(_PlainLog())
        target.set_minor_formatter(_PlainLog(minor=True))
    else:
        target.set_major_formatter(FuncFormatter(lambda v, _: _tick_text(v)))


def _integer_axis(ax: plt.Axes, values: Iterable[Any], axis: str = "x") -> None:
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


def _status_notes(results: Results, workload: str, shown: Iterable[str]) -> list[str]:
    """Why each engine run for ``workload`` that has no row in the figure's table was not measured."""
    frame = results.engines
    if frame.empty or "workload" not in frame.columns:
        return []
    rows = frame[(frame["workload"] == workload) & ~frame["label"].isin(list(shown))].drop_duplicates("label", keep="last")
    return [f"{r.label}: not measured ({r.reason or r.status})" for r in rows.itertuples()]


def _gap_notes(table: pd.DataFrame, value: str, point: Callable[[Any], str], zero_is_gap: bool = True) -> list[str]:
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


def _legend_with_notes(fig: Figure, extra: Iterable[tuple[Any, str]] = (), notes: Iterable[str] = (), columns: int = 4) -> None:
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
                fig.legend([], [], loc="outside lower center", title=text, title_fontsize=8, frameon=False).get_title().set_color(_MISSING_COLOUR)
            return
        legend = fig.legends[-1]
        if text:
            legend.set_title(text, prop=FontProperties(size=8))
            legend.get_title().set_color(_MISSING_COLOUR)
        columns = min(columns, len(legend.legend_handles))
        if columns <= 1 or legend.get_window_extent(renderer).width <= fig.bbox.width * 0.98:  # never wider than the figure
            return
        legend.remove()
        columns -= 1


def _no_data(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=_MISSING_COLOUR, fontsize=8, wrap=True)


def _style_keys(unstable: bool, bound: bool) -> list[tuple[Any, str]]:
    """Legend entries explaining the hollow (unstable) and red-ringed (client-bound) markers."""
    keys = []
    if unstable:
        keys.append((Line2D([], [], color="grey", marker="o", markerfacecolor="white", linestyle="none"),
                     f"hollow: 95 % CI wider than ±{stats.CI_TARGET * 100:g} % of the median (not decision-grade)"))
    if bound:
        keys.append((Line2D([], [], marker="o", markersize=10, markerfacecolor="none", markeredgecolor="red", markeredgewidth=1.5, linestyle="none"),
                     f"ringed red: client-bound (≥ {loadgen.CLIENT_BOUND_SHARE * 100:g} % of the load generator's own ceiling)"))
    return keys


def _hollow(ax: plt.Axes, xs: Any, ys: Any, colour: str | None, marker: str = "o") -> None:
    ax.plot(xs, ys, marker=marker, linestyle="none", markerfacecolor="white", markeredgecolor=colour, zorder=4)


def _in_engine_order(table: pd.DataFrame, colours: dict[str, str]) -> pd.DataFrame:
    """``table``'s rows with the engines in the palette's order (the order of every legend)."""
    if table.empty or "label" not in table.columns:
        return table
    order = {label: n for n, label in enumerate(colours)}
    return table.sort_values("label", key=lambda s: s.map(lambda v: order.get(v, len(order))), kind="stable")


def _flag(value: Any) -> bool:
    """A table's True (a bool, numpy's or pandas' nullable one); False for NA."""
    return bool(pd.notna(value) and value)


def _writers(count: Any) -> str:
    return f"{int(count)} writer{'' if int(count) == 1 else 's'}"


def _skew_title(skew: float, table: pd.DataFrame) -> str:
    share = pd.to_numeric(table.loc[table["skew"] == skew, "hot_stream_share"], errors="coerce").median() if "hot_stream_share" in table.columns else math.nan
    words = "uniform stream choice" if skew == 0 else "Zipf stream choice"
    return f"skew {skew:g}: {words}" + (f", busiest stream {share * 100:.0f} % of commands" if pd.notna(share) else "")


def _contention_values(results: Results, metric: str) -> pd.DataFrame:
    """Per engine, writers and skew: ``value``, ``ci_low``, ``ci_high``, ``unstable``, ``client_bound``
    (throughput only), ``cause`` and ``hot_stream_share``, one row for every point of ``contention_points``."""
    points = summaries.contention_points(results)
    keys = ["engine", "writers", "skew"]
    if metric == "throughput":
        return points.rename(columns={"throughput": "value", "throughput_ci_low": "ci_low", "throughput_ci_high": "ci_high"})
    part = summaries.contention_metric_points(results, metric)[[*keys, "median", "ci_low", "ci_high", "unstable"]].rename(columns={"median": "value"})
    out = points[["engine", "label", "writers", "skew", "cause", "hot_stream_share"]].merge(part, on=keys, how="left")
    out["unstable"] = out["unstable"].astype("boolean").fillna(False).astype(bool)
    out["client_bound"] = pd.array([pd.NA] * len(out), dtype="boolean")
    return out


def contention(results: Results, metric: str = "throughput", ylabel: str = "successful commands/s") -> Figure:
    """``metric`` against concurrent writers, one panel per skew on shared axes, engines overlaid in
    their colours (log y when the values span more than 30 times), bootstrap 95 % CIs as bars,
    unstable points hollow, client-bound points ringed red; what is missing is said below."""
    name = f"contention-{metric.replace('_', '-')}"
    table = _contention_values(results, metric)
    if table.empty:
        notes = _status_notes(results, "contention", [])
        return _empty(results, name, "no contention records in this run" + (": " + "; ".join(notes) if notes else ""))
    colours = palette(results)
    table = _in_engine_order(table, colours)
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
                _hollow(ax, shaky["writers"].astype(int), shaky["value"].astype(float), colour)
                unstable_any = True
            if rate:
                bound_any |= _mark_client_bound(ax, line.assign(writers=line["writers"].astype(int)), "writers", "value")
            drawn = True
        if not drawn:
            _no_data(ax, "no engine measured a value at this skew:\nsee the notes below")
        ax.set_title(_skew_title(skew, table), fontsize=9)
        ax.set_xlabel("concurrent writers")
    first = axes[0][0]
    first.set_ylabel(ylabel)
    _integer_axis(first, table["writers"])
    values = pd.to_numeric(table["value"], errors="coerce")
    if rate:
        log_if_wide(first, values)
    if first.get_yscale() != "log":
        first.set_ylim(bottom=0)
    _plain_ticks(first)
    notes = _status_notes(results, "contention", table["label"]) + _gap_notes(
        table, "value", lambda r: f"{_writers(r.writers)} at skew {r.skew:g}", zero_is_gap=rate)
    _legend_with_notes(fig, _style_keys(unstable_any, bound_any), notes)
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
    return _save(fig, results, name, alt)


def _mark_client_bound(ax: plt.Axes, table: pd.DataFrame, x: str, y: str, scale: float = 1.0) -> bool:
    """Ring the points where the engine reached 80 % of the harness's own ceiling: there the load
    generator, not the engine, may be what limits the figure. True when any point was ringed."""
    bound = table[table["client_bound"].fillna(False).astype(bool)] if "client_bound" in table.columns else table.iloc[0:0]
    if bound.empty:
        return False
    ax.scatter(bound[x], bound[y].astype(float) * scale, s=150, facecolors="none", edgecolors="red", linewidths=1.5, zorder=5)
    return True


def _nines_panels(fig: Figure, axes: list[plt.Axes], curves: pd.DataFrame, panels: list[tuple[str, pd.DataFrame]], colours: dict[str, str],
                  styles: Callable[[pd.DataFrame], Iterable[tuple[str, pd.DataFrame, str]]], empty: str) -> None:
    """Draw one latency-by-percentile panel per (title, rows of ``curves``): a line per engine (and
    per style), x on the nines scale, y in ms on a shared log scale when the values span 30 times."""
    top = float((1 / (1 - curves["percentile"].clip(upper=0.99999))).max()) if not curves.empty else 100.0
    for ax, (title, part) in zip(axes, panels, strict=True):
        if part.empty:
            _no_data(ax, empty)
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
    _plain_ticks(axes[0])


def contention_latency(results: Results) -> Figure:
    """Command latency including retries by percentile (x: 0 .. 99.99 on a log(1/(1-p)) scale, as
    OpenMessaging Benchmark draws it), one panel per skew and writers on shared axes, a line per
    engine, read from the merged histograms of every writer and repetition; each line ends (|)
    where its sample count stops resolving percentiles."""
    name = "contention-latency"
    curves = summaries.latency_percentile_curves(results, "contention", "command_latency", ("writers", "skew"))
    points = summaries.contention_points(results)
    if points.empty:
        notes = _status_notes(results, "contention", [])
        return _empty(results, name, "no contention records in this run" + (": " + "; ".join(notes) if notes else ""))
    colours = palette(results)
    curves, points = _in_engine_order(curves, colours), _in_engine_order(points, colours)
    skews = sorted(float(s) for s in points["skew"].dropna().unique())
    writers = sorted(int(w) for w in points["writers"].dropna().unique())
    fig, axes = plt.subplots(len(skews), len(writers), figsize=(min(3.7 * len(writers) + 1.2, 15), 2.7 * len(skews) + 1.4),
                             sharex=True, sharey=True, squeeze=False, layout="constrained")
    panels = [(f"{_writers(w)}, skew {s:g}", curves[(curves["writers"] == w) & (curves["skew"] == s)] if not curves.empty else curves)
              for s in skews for w in writers]
    flat = [ax for row in axes for ax in row]
    _nines_panels(fig, flat, curves, panels, colours, lambda rows: [("", rows, "-")], "no engine completed a command here:\nsee the notes below")
    for row in axes:
        row[0].set_ylabel("latency (ms)")
    for ax in axes[-1]:
        ax.set_xlabel("percentile (%)")
    for ax in axes[:-1].flat:
        ax.set_xlabel("")
    notes = _status_notes(results, "contention", points["label"]) + _gap_notes(
        points, "p50", lambda r: f"{_writers(r.writers)} at skew {r.skew:g}", zero_is_gap=False)
    end = (Line2D([], [], color="grey", marker="|", markersize=8, linestyle="-"), "| : last percentile the samples resolve (1 − 1/n for n commands)")
    _legend_with_notes(fig, [end], notes)
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
    return _save(fig, results, name, alt)


def _tradeoff(ax: plt.Axes, table: pd.DataFrame, x: str, y: str, group: str, markers: dict[Any, str], colours: dict[str, str],
              annotate: Callable[[Any], str] | None = None) -> tuple[bool, bool]:
    """Throughput (x) against p99 in ms (y), a marker per ``group`` value and a colour per engine, the
    Pareto-optimal points of each engine joined, dominated ones pale; (any unstable, any client-bound)."""
    known = table[pd.to_numeric(table[x], errors="coerce").gt(0) & pd.to_numeric(table[y], errors="coerce").gt(0)].copy()
    known[x], known[y] = known[x].astype(float), known[y].astype(float) / 1000
    known["optimal"] = summaries.pareto_optimal(known, x, y)
    unstable = bound = False
    for label, part in known.groupby("label", sort=False):
        colour = colours.get(str(label))
        front = part[part["optimal"]].sort_values(x)
        ax.plot(front[x], front[y], color=colour, linewidth=1.6, label=str(label), zorder=2)
        for row in part.itertuples():
            value = getattr(row, x)
            errors = ci_errors(pd.Series([value]), pd.Series([getattr(row, f"{x}_ci_low", math.nan)]), pd.Series([getattr(row, f"{x}_ci_high", math.nan)]))
            shaky = _flag(getattr(row, "unstable", False))
            ax.errorbar([value], [getattr(row, y)], xerr=errors, marker=markers.get(getattr(row, group), "o"), color=colour, linestyle="none", capsize=2,
                        alpha=1.0 if row.optimal else 0.35, markerfacecolor="white" if shaky else colour, markersize=7, zorder=3)
            unstable |= shaky
            if annotate is not None:
                ax.annotate(annotate(row), (value, getattr(row, y)), textcoords="offset points", xytext=(5, 4), fontsize=7, color=colour,
                            alpha=1.0 if row.optimal else 0.6)
        bound |= _mark_client_bound(ax, part, x, y)
    if known.empty:
        _no_data(ax, "no engine measured both a throughput and a p99:\nsee the notes below")
    else:
        log_if_wide(ax, known[x], axis="x", ratio=10)
        log_if_wide(ax, known[y], ratio=10)
    ax.set_title("better: right (faster) and down (lower p99)", loc="right", fontsize=8, color="dimgray")
    _plain_ticks(ax, "x")
    _plain_ticks(ax, "y")
    return unstable, bound


def contention_tradeoff(results: Results) -> Figure:
    """Throughput against p99 command latency, as ann-benchmarks draws a speed/quality trade-off: each
    engine's points (writers × skew; marker: skew, number: writers), its Pareto-optimal points (no other
    point of that engine is both faster and lower in p99) joined, dominated points pale."""
    name = "contention-tradeoff"
    table = summaries.contention_points(results)
    if table.empty:
        notes = _status_notes(results, "contention", [])
        return _empty(results, name, "no contention records in this run" + (": " + "; ".join(notes) if notes else ""))
    colours = palette(results)
    table = _in_engine_order(table, colours)
    skews = sorted(float(s) for s in table["skew"].dropna().unique())
    markers = {s: _MARKERS[n % len(_MARKERS)] for n, s in enumerate(skews)}
    fig, ax = plt.subplots(figsize=(9.5, 6.2), layout="constrained")
    unstable, bound = _tradeoff(ax, table, "throughput", "p99", "skew", markers, colours, annotate=lambda r: f"{int(r.writers)}w")
    ax.set_xlabel("successful commands/s (median over repetitions, bars: 95 % CI)")
    ax.set_ylabel("p99 command latency incl. retries (ms)")
    keys = [(Line2D([], [], color="grey", marker=markers[s], linestyle="none"), f"skew {s:g}") for s in skews]
    keys += [(Line2D([], [], color="grey", linewidth=1.6), "line: the engine's Pareto front (no point of it both faster and lower)"),
             (Line2D([], [], color="grey", marker="o", alpha=0.35, linestyle="none"), "pale: dominated point"),
             (Line2D([], [], linestyle="none"), "4w: the point's number of writers")]
    notes = _status_notes(results, "contention", table["label"]) + _gap_notes(
        table.assign(both=table["throughput"].where(table["p99"].notna())), "both", lambda r: f"{_writers(r.writers)} at skew {r.skew:g}")
    _legend_with_notes(fig, keys + _style_keys(unstable, bound), notes, columns=3)
    fig.suptitle("Throughput against tail latency: each engine's writers × skew points and its Pareto front")
    known = table[table["throughput"].notna() & table["p99"].notna()].copy()
    known["optimal"] = summaries.pareto_optimal(known, "throughput", "p99") if not known.empty else []
    fronts = "; ".join(f"{label}: " + ", ".join(f"{number(r.throughput)} commands/s at p99 {number(r.p99 / 1000)} ms ({_writers(r.writers)}, skew {r.skew:g})"
                                                 for r in part[part["optimal"]].sort_values("throughput").itertuples())
                       for label, part in known.groupby("label", sort=False))
    alt = ("Scatter plot of p99 command latency in ms (y) against successful commands per second (x), one colour per engine, marker by skew, "
           "each point labelled with its writers; each engine's Pareto-optimal points are joined. "
           + (f"Pareto fronts: {fronts}." if fronts else "No engine measured both.") + (" " + " ".join(notes) if notes else ""))
    return _save(fig, results, name, alt)


# -- snapshots ---------------------------------------------------------------------------------------


def snapshot_loads(results: Results) -> Figure:
    """Load time p50 against stream length, log-log, one panel per snapshot interval (the first:
    full replay) on shared axes, engines overlaid in their colours; warm loads solid, cold dotted;
    bars: bootstrap 95 % CI over repetitions; a star where that interval first beats a full replay."""
    table = summaries.snapshot_load_points(results)
    if table.empty:
        return _empty(results, "snapshots-load-time", "no snapshot load records in this run")
    even = summaries.snapshot_break_even(results)
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
    return _save(fig, results, "snapshots-load-time", alt)


def snapshot_write_cost(results: Results) -> Figure:
    """Extra time per append that snapshotting every N events adds, as a share of a plain append:
    engines side by side per N, bootstrap 95 % CIs as bars."""
    table = summaries.snapshot_cost_points(results)
    if table.empty:
        return _empty(results, "snapshots-write-cost", "no snapshot write-cost records in this run")
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
    return _save(fig, results, "snapshots-write-cost", alt)


# -- resume ------------------------------------------------------------------------------------------


def resume(results: Results) -> Figure:
    """Per consumer run (the last is the final catch-up): missed events (left, must be 0) and
    repeated events (right), summed over repetitions, engines side by side in their colours."""
    table = summaries.resume_per_run(results)
    if table.empty:
        return _empty(results, "resume-missed-repeated", "no resume records in this run")
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
    totals = summaries.resume_summary(results)
    words = "; ".join(f"{r.label}: {'unknown' if pd.isna(r.missed_events) else int(r.missed_events)} missed, {number(r.repeated_events)} repeated"
                      for r in totals.itertuples())
    return _save(fig, results, "resume-missed-repeated", f"Bar charts of missed (left) and repeated (right) events per consumer run, engines side by side. Totals: {words}.")


def resume_catch_up(results: Results) -> Figure:
    """Per consumer run: median time to caught up from the store being open (left) and from the
    process start (right), ms on a log scale, engines overlaid, bootstrap 95 % CIs as bars."""
    table = summaries.resume_catch_up_points(results)
    if table.empty:
        return _empty(results, "resume-catch-up", "no catch-up times recorded in this run")
    colours = palette(results)
    runs = sorted(int(r) for r in summaries.resume_per_run(results)["consumer_run"].dropna().unique()) or sorted(int(r) for r in table["consumer_run"].unique())
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
    return _save(fig, results, "resume-catch-up", "Median catch-up time in ms per consumer run, from store open (left) and from process start (right), "
                 f"engines overlaid: {', '.join(str(x) for x in table['label'].unique())}; runs killed before catching up have no point.")


# -- calls -------------------------------------------------------------------------------------------

#: The order calls are shown in (the workload's own), then any other alphabetically; their names on pages.
CALL_ORDER = ("append_single", "append_batch", "read_stream", "read_all", "live_delivery")
CALL_NAMES = {"append_single": "append one event", "append_batch": "append a batch", "read_stream": "read a stream",
               "read_all": "read all (a page)", "live_delivery": "live delivery"}


def _operations(values: Iterable[Any]) -> list[str]:
    present = {str(v) for v in values if pd.notna(v)}
    return [o for o in CALL_ORDER if o in present] + sorted(present - set(CALL_ORDER))


def _closed_calls(results: Results) -> tuple[pd.DataFrame, dict[str, str]]:
    """The closed-loop rows of the calls table in engine order, and the engines' colours."""
    table = summaries.calls_table(results)
    closed = table[table["loop"] == "closed"] if not table.empty else table
    colours = palette(results)
    return (_in_engine_order(closed, colours) if not closed.empty else closed), colours


def _no_closed_calls(results: Results) -> str:
    notes = _status_notes(results, "calls", [])
    return "no closed-loop call records in this run" + (": " + "; ".join(notes) if notes else "")


def calls_throughput(results: Results) -> Figure:
    """Closed-loop calls per second per call, engines side by side in their colours on one shared
    axis (log when the values span more than 30 times), bootstrap 95 % CIs as bars, client-bound bars
    hatched red, unstable bars pale; a call an engine did not measure says so in its slot."""
    name = "calls-throughput"
    closed, colours = _closed_calls(results)
    if closed.empty:
        return _empty(results, name, _no_closed_calls(results))
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
                        color=_MISSING_COLOUR, transform=ax.get_xaxis_transform())
                continue
            if _flag(row.unstable):
                bar.set_alpha(0.45)
                unstable_any = True
            if _flag(row.client_bound):
                bar.set_hatch("///")
                bar.set_edgecolor("red")
                bound_any = True
    ax.set_xticks(range(len(operations)), [CALL_NAMES.get(o, o) for o in operations])
    ax.set_xlabel("call (closed loop: one client process calling back to back)")
    ax.set_ylabel("calls/s (median over repetitions)")
    if ax.get_yscale() != "log":
        ax.set_ylim(bottom=0)
    _plain_ticks(ax)
    ax.grid(axis="x", visible=False)
    keys = [(Patch(facecolor=colours.get(str(label))), str(label)) for label in labels]  # plain colours, whatever the bars are marked with
    if unstable_any:
        keys.append((Patch(facecolor="grey", alpha=0.45), f"pale: 95 % CI wider than ±{stats.CI_TARGET * 100:g} % of the median (not decision-grade)"))
    if bound_any:
        keys.append((Patch(facecolor="white", edgecolor="red", hatch="///"),
                     f"hatched red: client-bound (≥ {loadgen.CLIENT_BOUND_SHARE * 100:g} % of the load generator's own ceiling)"))
    notes = _status_notes(results, "calls", closed["label"]) + _gap_notes(closed, "calls_per_s", lambda r: CALL_NAMES.get(r.operation, r.operation))
    _legend_with_notes(fig, keys, notes)
    fig.suptitle("Calls per second, per call (closed loop)")
    words = "; ".join(f"{CALL_NAMES.get(op, op)}: " + ", ".join(f"{r.label} {number(r.calls_per_s)}" for r in closed[closed['operation'] == op].itertuples()
                                                               if pd.notna(r.calls_per_s))
                      for op in operations)
    alt = (f"Grouped bar chart of calls per second (closed loop, median over repetitions{', log scale' if ax.get_yscale() == 'log' else ''}) per call, "
           f"engines side by side: {words}." + (" " + " ".join(notes) if notes else ""))
    return _save(fig, results, name, alt)


def calls_cdf(results: Results) -> Figure:
    """Call latency by percentile (x: 0 .. 99.99 on a log(1/(1-p)) scale, as OpenMessaging Benchmark
    draws it), one panel per call on shared axes, a line per engine (closed loop solid, open loop
    dashed), read from the merged histograms of every repetition; each line ends (|) where its
    sample count stops resolving percentiles."""
    name = "calls-latency-cdf"
    table = summaries.calls_table(results)
    curves = summaries.latency_percentile_curves(results, "calls", "latency", ("operation", "loop"))
    if table.empty:
        notes = _status_notes(results, "calls", [])
        return _empty(results, name, "no call records in this run" + (": " + "; ".join(notes) if notes else ""))
    colours = palette(results)
    table, curves = _in_engine_order(table, colours), _in_engine_order(curves, colours)
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

    _nines_panels(fig, flat[:len(operations)], curves, panels, colours, styles, "no engine completed this call:\nsee the notes below")
    for n, ax in enumerate(flat[:len(operations)]):
        if n % columns == 0:
            ax.set_ylabel("latency (ms)")
        below = n + columns
        if below >= len(operations):  # the lowest panel of its column
            ax.set_xlabel("percentile (%)")
            ax.xaxis.set_tick_params(labelbottom=True)
    notes = _status_notes(results, "calls", table["label"]) + _gap_notes(
        table, "count", lambda r: f"{CALL_NAMES.get(r.operation, r.operation)} ({r.loop} loop)")
    keys = [(Line2D([], [], color="grey", marker="|", markersize=8, linestyle="-"), "| : last percentile the samples resolve (1 − 1/n for n calls)")]
    if len(loops) > 1:
        keys += [(Line2D([], [], color="grey", linestyle="--"), "dashed: open loop (latency from the intended start)")]
    _legend_with_notes(fig, keys, notes)
    fig.suptitle("Call latency by percentile (merged histograms of every repetition)")
    timed = table[(table["loop"] == "closed") & table["p50"].notna()]
    medians = "; ".join(f"{CALL_NAMES.get(op, op)}: " + ", ".join(f"{r.label} p50 {number(r.p50 / 1000)} ms, p99 {number(r.p99 / 1000)} ms"
                                                                    for r in timed[timed["operation"] == op].itertuples())
                        for op in operations if (timed["operation"] == op).any())
    alt = (f"Latency in ms (y{', log scale' if flat[0].get_yscale() == 'log' else ''}) against percentile (x: 0, 50, 90, 99, 99.9 on a nines scale), "
           "one panel per call on shared axes, a line per engine. " + (f"Closed loop: {medians}." if medians else "No engine completed a call.")
           + (" " + " ".join(notes) if notes else ""))
    return _save(fig, results, name, alt)


def calls_tradeoff(results: Results) -> Figure:
    """Closed-loop calls per second against p99 latency, as ann-benchmarks draws a trade-off: each
    engine's calls (marker: the call), its Pareto-optimal points joined, dominated points pale."""
    name = "calls-tradeoff"
    closed, colours = _closed_calls(results)
    if closed.empty:
        return _empty(results, name, _no_closed_calls(results))
    operations = _operations(closed["operation"])
    markers = {op: _MARKERS[n % len(_MARKERS)] for n, op in enumerate(operations)}
    fig, ax = plt.subplots(figsize=(9.5, 6.2), layout="constrained")
    unstable, bound = _tradeoff(ax, closed, "calls_per_s", "p99", "operation", markers, colours)
    ax.set_xlabel("calls/s, closed loop (median over repetitions, bars: 95 % CI)")
    ax.set_ylabel("p99 call latency (ms)")
    keys = [(Line2D([], [], color="grey", marker=markers[op], linestyle="none"), CALL_NAMES.get(op, op)) for op in operations]
    keys += [(Line2D([], [], color="grey", linewidth=1.6), "line: the engine's Pareto front (no call of it both faster and lower)"),
             (Line2D([], [], color="grey", marker="o", alpha=0.35, linestyle="none"), "pale: dominated point")]
    notes = _status_notes(results, "calls", closed["label"]) + _gap_notes(
        closed.assign(both=closed["calls_per_s"].where(closed["p99"].notna())), "both", lambda r: CALL_NAMES.get(r.operation, r.operation))
    _legend_with_notes(fig, keys + _style_keys(unstable, bound), notes, columns=3)
    fig.suptitle("Throughput against tail latency per call: each engine's calls and its Pareto front")
    both = closed[closed["calls_per_s"].notna() & closed["p99"].notna()]
    words = "; ".join(f"{label}: " + ", ".join(f"{CALL_NAMES.get(r.operation, r.operation)} {number(r.calls_per_s)} calls/s at p99 {number(r.p99 / 1000)} ms"
                                               for r in part.itertuples())
                      for label, part in both.groupby("label", sort=False))
    alt = ("Scatter plot of p99 call latency in ms (y) against closed-loop calls per second (x), one colour per engine, one marker per call; "
           "each engine's Pareto-optimal calls are joined. " + (f"{words}." if words else "No engine measured both.") + (" " + " ".join(notes) if notes else ""))
    return _save(fig, results, name, alt)


# -- faults ------------------------------------------------------------------------------------------


def faults_outcomes(results: Results) -> Figure:
    """Per engine and setting: how its ambiguous appends resolved (stacked: the retry returned the
    original result, wrote the append once, or left it unresolved), and beside each bar what was
    lost, duplicated or missed by the subscriber, in red when not zero. Non-durable settings are marked."""
    table = summaries.faults_summary(results)
    table = table[table["crashes"].notna()].reset_index(drop=True)
    if table.empty:
        return _empty(results, "faults-outcomes", "no faults records")
    names = [f"{r.label} · {r.setting}" + ("" if r.durable else " (non-durable)") for r in table.itertuples()]
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
        bad = bool(row.lost or row.duplicated or pd.isna(row.missed) or row.missed)
        ax.text(left[y] + end * 0.01, y, f"lost {int(row.lost)} · duplicated {int(row.duplicated)} · missed {missed}",
                va="center", fontsize=7, color="tab:red" if bad else "dimgray", fontweight="bold" if bad else "normal")
    ax.set_xlim(0, end * 1.45)
    ax.set_yticks(range(len(table)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ambiguous appends (all repetitions), and what the audit found")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, results, "faults-outcomes")


def faults_recovery(results: Results) -> Figure:
    """Distributions per engine and setting: time without a successful append after each fault
    (left) and until the subscriber had caught up (right); crashes and cuts apart."""
    frame = results.of("faults")
    rows = frame[frame["metric"].isin(["write_outage", "subscriber_catch_up"]) & frame["value"].notna()]
    if rows.empty:
        return _empty(results, "faults-recovery", "no recovery times recorded")
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
    return _save(fig, results, "faults-recovery")


# -- overview ----------------------------------------------------------------------------------------


def decision_scores(decisions: list[Any], results: Results) -> Figure:
    """One panel per requirement profile: each candidate's weighted score as a stacked bar of the
    points each matrix column earned it (``decide.Decision.breakdown``); engines set aside named below."""
    if not decisions:
        return _empty(results, "overview-scores", "no requirement profile to decide")
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
    return _save(fig, results, "overview-scores", f"Stacked horizontal bars of each candidate's weighted score per requirement profile. {words}.")
