"""Two runs side by side: their verdicts, whether their converged cells agree, the matrix's
difference cell by cell, and its columns overlaid as figures.

    python -m bench compare RUN_A RUN_B [--results ROOT] [--out PAGE.html] [--fail-on-verdict-change]

``RUN_A`` and ``RUN_B`` are run ids under ``ROOT/runs/`` (or run directories). Each run is read at
its own operating points (its overview notebook's parameters), so a column matches by what it
measures (``Source.key``); where the two runs' points differ, the header says so. A change counts
only when the two 95 % CIs do not overlap; a cell missing in either run says why. Verdicts come from
each run's ``verdicts.json`` (``verdict_file``); with ``--fail-on-verdict-change`` the command exits 1
when a requirement profile chose differently (a tie both times is not a change), for a user's CI.
Two runs' converged cells agree when each lies within the other's 95 % CI widened by
``AGREEMENT_SLACK``.
"""
from __future__ import annotations

import argparse
import html
import math
import os
import sys
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from bench.display.figures import figure_html
from bench.display.tables import number
from bench.harness.results import load

from . import verdict_file
from .matrix import matrix_cells
from .notebooks import operating_points
from .site import page, run_info

#: How far beyond the other run's 95 % CI a converged cell may lie and still agree with it.
AGREEMENT_SLACK = 0.10


def _run_dir(root: Path, run: str) -> Path:
    path = Path(run)
    if (path / "run.json").exists() or (path / "records").is_dir():
        return path
    found = root / "runs" / run
    if not found.is_dir():
        raise FileNotFoundError(f"no run {run!r} under {root / 'runs'}")
    return found


def cells_of(run_dir: Path) -> pd.DataFrame:
    """A run's matrix cells at the run's own operating points."""
    return matrix_cells(load(run_dir), operating_points(run_info(run_dir)))


def difference(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per engine and column key: both values, the change of B against A, and whether it is beyond
    both CIs (``verdict``: better, worse, within noise, or why it cannot be compared)."""
    keep = ["name", "engine", "key", "column", "value", "ci_low", "ci_high", "reason", "unit", "better"]
    merged = a[keep].merge(b[keep], on=["name", "key"], how="outer", suffixes=("_a", "_b"))
    rows = []
    for r in merged.to_dict("records"):
        va, vb = r["value_a"], r["value_b"]
        if pd.isna(va) or pd.isna(vb):
            why = r["reason_a"] if pd.isna(va) else r["reason_b"]
            verdict = f"not comparable: {'A' if pd.isna(va) else 'B'} not measured ({why if isinstance(why, str) else 'engine absent from that run'})"
            change = math.nan
        else:
            change = (vb / va - 1.0) if va else math.nan
            overlap = not (pd.notna(r["ci_high_a"]) and pd.notna(r["ci_low_b"]) and (r["ci_high_a"] < r["ci_low_b"] or r["ci_high_b"] < r["ci_low_a"]))
            higher = (r["better_a"] if isinstance(r["better_a"], str) else r["better_b"]) == "higher"
            if vb == va or overlap:
                verdict = "within noise (the CIs overlap)" if vb != va else "unchanged"
            else:
                verdict = "better" if (vb > va) == higher else "worse"
        column = r["column_b"] if isinstance(r["column_b"], str) else r["column_a"]
        moved = isinstance(r["column_a"], str) and isinstance(r["column_b"], str) and r["column_a"] != r["column_b"]
        rows.append({
            "engine": r["engine_b"] if isinstance(r["engine_b"], str) else r["engine_a"], "name": r["name"], "key": r["key"],
            "column": column + (f" (A at: {r['column_a']})" if moved else ""), "unit": r["unit_b"] if isinstance(r["unit_b"], str) else r["unit_a"],
            "value_a": va, "value_b": vb, "change": change, "verdict": verdict,
        })
    return pd.DataFrame(rows, columns=["engine", "name", "key", "column", "unit", "value_a", "value_b", "change", "verdict"])


def overlay(a: pd.DataFrame, b: pd.DataFrame, label_a: str, label_b: str) -> Figure:
    """One panel per matrix column: each engine's value in run A (hollow) and B (filled), with CIs."""
    import matplotlib.pyplot as plt

    both = pd.concat([a, b])
    keys = [k for k in dict.fromkeys(both["key"]) if both[both["key"] == k]["value"].notna().any()]
    if not keys:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "neither run measured any matrix column", ha="center", va="center")
        return fig
    columns = 3
    rows = math.ceil(len(keys) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.3 * columns, 2.9 * rows), squeeze=False, layout="constrained")
    engines = list(dict.fromkeys(pd.concat([a["engine"], b["engine"]])))
    for ax, key in zip(axes.flat, keys, strict=False):
        for offset, (frame, label, fill) in enumerate(((a, label_a, "none"), (b, label_b, "C0"))):
            part = frame[frame["key"] == key].set_index("engine").reindex(engines)
            xs = [n + (offset - 0.5) * 0.25 for n in range(len(engines))]
            ys = part["value"].astype(float)
            low = (ys - part["ci_low"].astype(float)).clip(lower=0).fillna(0)
            high = (part["ci_high"].astype(float) - ys).clip(lower=0).fillna(0)
            ax.errorbar(xs, ys, yerr=[low, high], fmt="o", mfc=fill, mec="C0", ecolor="C0", capsize=3, label=label)
        sample = both[both["key"] == key]
        first = sample.iloc[0]
        values = sample["value"].dropna().astype(float)
        if len(values) and values.min() > 0 and values.max() / values.min() > 30:
            ax.set_yscale("log")
        ax.set_xticks(range(len(engines)), engines, rotation=20, fontsize=8)
        ax.set_title(str(first["column"]).replace(f" ({first['unit']})", ""), fontsize=9)
        ax.set_ylabel(f"{first['unit']} ({'higher' if first['better'] == 'higher' else 'lower'} is better)", fontsize=8)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2)
    fig.suptitle(f"Matrix columns of run A ({label_a}, hollow) and run B ({label_b}, filled), 95 % CIs as bars")
    return fig


def compare_html(root: Path, run_a: str, run_b: str, *, up: str = "../") -> str:
    """The comparison page; ``up`` is the path from the page to the results root."""
    dir_a, dir_b = _run_dir(root, run_a), _run_dir(root, run_b)
    a, b = cells_of(dir_a), cells_of(dir_b)
    diff = difference(a, b)
    fig = overlay(a, b, dir_a.name, dir_b.name)
    image = figure_html(fig, f"Each matrix column as a panel: every engine's value in run {dir_a.name} (hollow) and run {dir_b.name} (filled), with 95 % CIs.")
    import matplotlib.pyplot as plt

    plt.close(fig)
    measured_a = set(a[a["value"].notna()]["name"])
    measured_b = set(b[b["value"].notna()]["name"])
    both = [n for n in dict.fromkeys(diff["name"]) if n in measured_a and n in measured_b]
    only = [(f"measured only in A ({dir_a.name})", sorted(measured_a - measured_b)), (f"measured only in B ({dir_b.name})", sorted(measured_b - measured_a)),
            ("measured in neither", sorted(set(diff["name"]) - measured_a - measured_b))]
    apart = "".join(f"<li>{html.escape(words)}: {html.escape(', '.join(names))}</li>" for words, names in only if names)
    body_rows = []
    columns = list(dict.fromkeys(diff["key"]))
    headers = {k: str(diff[diff["key"] == k]["column"].iloc[0]) for k in columns}
    for name in both:
        part = diff[diff["name"] == name].set_index("key")
        cells = []
        for key in columns:
            if key not in part.index:
                cells.append("<td class='missing'>–</td>")
                continue
            r = part.loc[key]
            cells.append(f"<td style='background:{_colour(str(r['verdict']))}' title='{html.escape(str(r['verdict']), quote=True)}'>"
                         f"{number(r['value_a'])} → <strong>{number(r['value_b'])}</strong><span class='ci'>{_change(r['change'])} · {html.escape(_short(str(r['verdict'])))}</span></td>")
        body_rows.append(f"<tr><th>{html.escape(str(part['engine'].iloc[0]))}</th>{''.join(cells)}</tr>")
    head = "<th>engine</th>" + "".join(f"<th>{html.escape(headers[k])}</th>" for k in columns)
    grid = (f"<div class='bench-scroll'><table class='bench-matrix'><thead><tr>{head}</tr></thead><tbody>{''.join(body_rows)}</tbody></table></div>"
            if body_rows else "<p class='bench-empty'>No engine was measured in both runs.</p>")
    rows = []
    for r in diff.to_dict("records"):
        rows.append(f"<tr><th>{html.escape(str(r['engine']))}</th><td>{html.escape(str(r['column']))}</td>"
                    f"<td class='num'>{number(r['value_a'])}</td><td class='num'>{number(r['value_b'])}</td><td class='num'>{_change(r['change'])}</td>"
                    f"<td style='background:{_colour(str(r['verdict']))}'>{html.escape(str(r['verdict']))}</td></tr>")
    head = (f"<tr><th>engine</th><th>column</th><th class='num'>A: {html.escape(dir_a.name)}</th>"
            f"<th class='num'>B: {html.escape(dir_b.name)}</th><th class='num'>change</th><th>verdict</th></tr>")
    table = (f"<details class='bench-fold'><summary>Every cell of both runs: {len(rows)} rows (click to show)</summary><div class='bench-scroll'>"
             f"<table class='bench-table'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div></details>")
    table = grid + (f"<ul>{apart}</ul>" if apart else "") + table
    nav = f"<nav class='bench-nav'><a href='{up}index.html'>← All runs</a><a href='{up}runs/{dir_a.name}/index.html'>Run A</a><a href='{up}runs/{dir_b.name}/index.html'>Run B</a></nav>"
    profiles = {d.name: run_info(d).get("profile", "?") for d in (dir_a, dir_b)}
    body = (nav + f"<h1>Run {html.escape(dir_a.name)} against run {html.escape(dir_b.name)}</h1>"
            f"<p>Profiles: A {html.escape(str(profiles[dir_a.name]))}, B {html.escape(str(profiles[dir_b.name]))}. A change counts as better or worse only when "
            "the two 95 % CIs do not overlap; cells without a CI (exact counts, a single repetition) compare their values directly.</p>"
            f"<h2>Verdicts</h2>{_verdicts_html(verdict_changes(dir_a, dir_b))}"
            f"<h2>Do the converged cells agree?</h2>{_agreement_html(agreement(a, b))}"
            f"<h2>Matrix difference</h2>{table}<h2>Figures overlaid</h2>{image}")
    return page(f"Run {dir_a.name} against {dir_b.name}", body)


def agreement(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per cell converged in both runs (a value, a CI, not flagged unstable, on a product: neither an
    emulator nor a naive design): whether each run's value lies within the other's 95 % CI widened
    by ``AGREEMENT_SLACK`` (``agrees``)."""
    keep = ["name", "engine", "key", "column", "value", "ci_low", "ci_high", "unstable", "tags"]
    merged = a[keep].merge(b[keep], on=["name", "key"], suffixes=("_a", "_b"))
    rows = []
    for r in merged.to_dict("records"):
        converged = all(pd.notna(r[f"{f}_{s}"]) for f in ("value", "ci_low", "ci_high") for s in "ab") and not (r["unstable_a"] or r["unstable_b"])
        product = not ({"emulator", "naive"} & set(r["tags_a"]) | {"emulator", "naive"} & set(r["tags_b"]))
        if not (converged and product):
            continue

        def within(value: float, low: float, high: float) -> bool:
            return low * (1 - AGREEMENT_SLACK) <= value <= high * (1 + AGREEMENT_SLACK)

        agrees = within(r["value_a"], r["ci_low_b"], r["ci_high_b"]) and within(r["value_b"], r["ci_low_a"], r["ci_high_a"])
        rows.append({"engine": r["engine_a"], "column": r["column_a"], "value_a": r["value_a"], "ci_a": f"{number(r['ci_low_a'])}–{number(r['ci_high_a'])}",
                     "value_b": r["value_b"], "ci_b": f"{number(r['ci_low_b'])}–{number(r['ci_high_b'])}", "agrees": agrees})
    return pd.DataFrame(rows, columns=["engine", "column", "value_a", "ci_a", "value_b", "ci_b", "agrees"])


def verdict_changes(dir_a: Path, dir_b: Path) -> list[dict[str, object]] | str:
    """``verdict_file.changes`` of the two runs, or why they cannot be compared."""
    try:
        return verdict_file.changes(verdict_file.read(dir_a), verdict_file.read(dir_b))
    except (OSError, ValueError) as exc:
        return f"no verdicts to compare: {exc}"


def _verdicts_html(found: list[dict[str, object]] | str) -> str:
    if isinstance(found, str):
        return f"<p class='bench-empty'>{html.escape(found)}</p>"
    colours = {verdict_file.SAME: "#d8f5d0", verdict_file.TIE: "#fff1c2", verdict_file.CHANGED: "#ffd8d3"}
    rows = "".join(f"<tr><th>{html.escape(str(c['title']))}</th><td>{html.escape(str(c['a']))}</td><td>{html.escape(str(c['b']))}</td>"
                   f"<td style='background:{colours.get(str(c['outcome']), '#d9d9d9')}'>{html.escape(str(c['outcome']))}</td></tr>" for c in found)
    changed = sum(c["outcome"] == verdict_file.CHANGED for c in found)
    lead = (f"<p><strong>{changed} verdict(s) changed.</strong></p>" if changed else
            "<p>Every requirement profile chose the same engine in both runs, or called it a tie both times.</p>")
    return lead + ("<div class='bench-scroll'><table class='bench-table'><thead><tr><th>requirement profile</th><th>run A</th><th>run B</th>"
                   f"<th>outcome</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _agreement_html(found: pd.DataFrame) -> str:
    if found.empty:
        return "<p class='bench-empty'>No product cell converged in both runs, so there is nothing to hold to agreement.</p>"
    apart = found[~found["agrees"]]
    lead = (f"<p>{int(found['agrees'].sum())} of {len(found)} product cells converged in both runs lie within the other run's 95 % CI widened by "
            f"{AGREEMENT_SLACK:.0%}" + ("; these do not:</p>" if not apart.empty else ".</p>"))
    if apart.empty:
        return lead
    rows = "".join(f"<tr><th>{html.escape(str(r.engine))}</th><td>{html.escape(str(r.column))}</td><td class='num'>{number(r.value_a)} ({html.escape(r.ci_a)})</td>"
                   f"<td class='num'>{number(r.value_b)} ({html.escape(r.ci_b)})</td></tr>" for r in apart.itertuples())
    return lead + ("<div class='bench-scroll'><table class='bench-table'><thead><tr><th>engine</th><th>column</th><th class='num'>A (95 % CI)</th>"
                   f"<th class='num'>B (95 % CI)</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _colour(verdict: str) -> str:
    return {"better": "#d8f5d0", "worse": "#ffd8d3"}.get(verdict, "#d9d9d9" if verdict.startswith("not") else "#ffffff")


def _change(change: float) -> str:
    return "–" if pd.isna(change) else f"{'+' if change >= 0 else ''}{number(100 * change)} %"


def _short(verdict: str) -> str:
    return "noise" if verdict.startswith("within noise") else "not comparable" if verdict.startswith("not comparable") else verdict


def write_compare(root: str | Path, run_a: str, run_b: str, out: str | Path | None = None) -> Path:
    """Write the comparison page (``<root>/compare/<A>-vs-<B>.html`` by default) and return its path."""
    root = Path(root)
    path = Path(out) if out else root / "compare" / f"{Path(run_a).name}-vs-{Path(run_b).name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    up = os.path.relpath(root, path.parent).replace(os.sep, "/") + "/"
    path.write_text(compare_html(root, run_a, run_b, up=up), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench compare", description="Compare two runs: verdicts, agreement, matrix difference, overlaid figures")
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--results", default="results", help="results root holding runs/")
    parser.add_argument("--out", help="page to write (default: ROOT/compare/A-vs-B.html)")
    parser.add_argument("--fail-on-verdict-change", action="store_true", help="exit 1 when a requirement profile chose differently")
    args = parser.parse_args(argv)
    root = Path(args.results)
    try:
        path = write_compare(root, args.run_a, args.run_b, args.out)
        found = verdict_changes(_run_dir(root, args.run_a), _run_dir(root, args.run_b))
    except FileNotFoundError as exc:
        print(f"python -m bench compare: {exc}", file=sys.stderr)
        return 2
    print(path)
    if isinstance(found, str):
        print(found)
        return 2 if args.fail_on_verdict_change else 0
    for change in found:
        print(f"{change['outcome']:<15} {change['title']}: {change['a']} -> {change['b']}")
    changed = [c for c in found if c["outcome"] == verdict_file.CHANGED]
    return 1 if changed and args.fail_on_verdict_change else 0


if __name__ == "__main__":
    sys.exit(main())
