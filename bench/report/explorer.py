"""The overview notebook's explorer: tick requirements, move weights, pick engines and operating
points, and see the ranking, the matrix and the figures follow.

The logic is plain functions a test drives (``options``, ``choice_from_values``, ``evaluate``);
``widgets`` only wires ipywidgets controls to them (``make lab`` opens the notebook in JupyterLab).
The figures drawn here are never written to the run's ``figures/`` (``display.figures.unsaved``).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from bench.display.figures import figure_html, unsaved
from bench.display.tables import STYLE
from bench.harness.columns import OperatingPoints
from bench.harness.results import Results
from bench.workloads import key_figures, matrix_columns

from . import comparability, decide, profiles, verdicts
from .matrix import CAPABILITY_NAMES, matrix_cells
from .matrix_html import matrix_html

#: Requirement switches: the overview notebook's parameter -> ``profiles.REQUIREMENTS`` key.
SWITCHES = {
    "require_concurrency": "concurrency", "require_gap_safe": "gap_safe", "require_crash_safe": "crash_safe",
    "require_serverless": "serverless", "require_shared": "shared",
}
ROOT = Path(__file__).resolve().parents[2]


def find_results(results_dir: str | Path) -> tuple[Path, str | None]:
    """The directory to read and, when it is not ``results_dir``, a sentence saying which it is.

    JupyterLab starts the notebook's kernel in ``notebooks/``, so a relative ``results_dir`` is
    also looked for from the repository root; a directory without records falls back to the
    newest report run (``results/runs/<run id>/``), so ``make lab`` opens on real numbers."""
    given = Path(results_dir)
    for candidate in ([given] if given.is_absolute() else [given, ROOT / given]):
        if any((candidate / "records").glob("*.jsonl")):
            return candidate, None if candidate == given else f"Reading {candidate}."
    runs = sorted(p.parent for p in (ROOT / "results" / "runs").glob("*/records") if any(p.glob("*.jsonl")))
    if runs:
        return runs[-1], f"No records in {results_dir}: reading the newest report run, {runs[-1].name} (`results/runs/`)."
    return given, None


@dataclass(frozen=True)
class Choice:
    """What the architect picked: a decision profile, the engines to consider, the operating points."""

    profile: profiles.Profile
    engines: tuple[str, ...] | None = None
    points: OperatingPoints = dataclasses.field(default_factory=OperatingPoints)


def options(results: Results) -> dict[str, Any]:
    """What the controls offer, from the records: engines, matrix columns (key -> header), shapes,
    capabilities, and each operating point's values the records hold."""
    facts = comparability.engine_facts(results)

    def values(workload: str, column: str, keep: Callable[[Any], bool] = lambda v: True) -> list[Any]:
        frame = results.of(workload)
        if frame.empty or column not in frame.columns:
            return []
        return sorted({v.item() if hasattr(v, "item") else v for v in frame[column].dropna().unique() if keep(v)})

    return {
        "engines": {str(r.engine): str(r.label) for r in facts.itertuples()},
        "columns": {s.key: s.label for s in matrix_columns()},
        "shapes": list(profiles.SHAPES),
        "capabilities": [c for c in CAPABILITY_NAMES if not c.startswith("max_")],
        "points": {
            "writers": values("contention", "writers"), "hot_writers": values("contention", "writers"),
            "hot_skew": values("contention", "skew", lambda v: float(v) > 0), "stream_length": values("snapshots", "length"),
            "snapshot_every": values("snapshots", "snapshot_every", lambda v: int(v) > 0),
        },
    }


def choice_from_values(values: Mapping[str, Any], base: profiles.Profile | None = None) -> Choice:
    """A choice from control values named as the overview notebook's parameters (``require_*``,
    ``max_append_p99_ms``, ``at_events_per_s``, ``shape``, ``weights``, plus ``engines`` and the
    operating points); a name not given keeps ``base``'s value."""
    base = base or profiles.Profile()
    wanted = base.requirements
    merged = {
        "decide_title": base.title, "decide_summary": base.summary, "shape": base.shape, "weights": dict(base.weights),
        "require_capabilities": ",".join(wanted.capabilities), "max_append_p99_ms": wanted.max_append_p99_ms, "at_events_per_s": wanted.at_events_per_s,
        **{name: getattr(wanted, key) for name, key in SWITCHES.items()},
        **values,
    }
    profile = profiles.Profile.from_parameters(merged, key=base.key)
    engines = values.get("engines")
    points = OperatingPoints.from_dict({k: v for k, v in values.items() if k in {f.name for f in dataclasses.fields(OperatingPoints)}})
    return Choice(profile, tuple(engines) if engines is not None else None, points)


def subset(results: Results, engines: tuple[str, ...] | None) -> Results:
    """The records of the engines picked only (all of them for None)."""
    if engines is None:
        return results
    m, e = results.measurements, results.engines
    return Results(results.results_dir, m[m["engine"].isin(engines)] if not m.empty else m,
                   e[e["engine"].isin(engines)] if not e.empty else e, results.environment)


@dataclass
class View:
    """What the explorer shows for a choice."""

    decision: decide.Decision
    cells: pd.DataFrame
    html: str
    figures: list[tuple[str, str]]  # (figure function, HTML of the figure or why it is missing)


def evaluate(results: Results, choice: Choice, *, figures: bool = True, pages: Mapping[str, str] | None = None) -> View:
    """Decide, build the matrix and redraw the figures for ``choice``."""
    picked = subset(results, choice.engines)
    decision = decide.decide(picked, choice.profile, choice.points)
    cells = decision.cells if decision.cells is not None else matrix_cells(picked, choice.points)
    facts = comparability.engine_facts(picked)
    body = verdicts.decision_html(decision, heading="h3") + "<h3>Matrix</h3>" + matrix_html(cells, facts, pages=pages, anchor="explorer")
    drawn = []
    if figures:
        with unsaved():
            for name, draw in key_figures():
                try:
                    fig = draw(picked)
                except Exception as exc:  # one figure that cannot be drawn for this choice does not stop the others
                    drawn.append((name, f"<p class='bench-empty'>{name}: not drawn ({type(exc).__name__}: {exc})</p>"))
                    continue
                drawn.append((name, figure_html(fig)))
                plt.close(fig)
    return View(decision, cells, body, drawn)


def widgets(
    results: Results, profile: profiles.Profile | None = None, points: OperatingPoints | None = None, presets: list[profiles.Profile] | None = None,
    *, figures: bool = True,
) -> Any:
    """The controls and the output they redraw (ipywidgets; for JupyterLab); ``figures``: redraw the
    workloads' figures too."""
    import ipywidgets as w  # type: ignore[import-untyped]
    from IPython.display import HTML

    profile = profile or profiles.Profile()
    points = points or OperatingPoints()
    presets = presets if presets is not None else profiles.presets()
    found = options(results)
    layout = w.Layout(width="auto")
    style = {"description_width": "initial"}
    preset = w.Dropdown(options=[(profile.title, "")] + [(p.title, p.key) for p in presets], description="start from", style=style)
    switches = {name: w.Checkbox(value=getattr(profile.requirements, key), description=profiles.REQUIREMENTS[key][0], indent=False, layout=layout)
                for name, key in SWITCHES.items()}
    capabilities = w.SelectMultiple(options=found["capabilities"], value=tuple(c for c in profile.requirements.capabilities if c in found["capabilities"]),
                                    description="must declare", rows=5, style=style)
    p99 = w.FloatText(value=profile.requirements.max_append_p99_ms, description="append p99 under (ms, 0: none)", style=style)
    rate = w.FloatText(value=profile.requirements.at_events_per_s, description="at appends/s (0: one client, closed loop)", style=style)
    shape = w.Dropdown(options=found["shapes"], value=profile.shape, description="workload shape", style=style)
    sliders = {key: w.FloatSlider(value=profile.weight_map().get(key, 0.0), min=0, max=5, step=0.5, description=label, style=style,
                                  layout=w.Layout(width="32em")) for key, label in found["columns"].items()}
    engines = w.SelectMultiple(options=[(label, name) for name, label in found["engines"].items()], value=tuple(found["engines"]),
                               description="engines", rows=min(8, max(2, len(found["engines"]))), style=style)
    point_controls = {}
    for name, held_values in found["points"].items():
        current = getattr(points, name)
        choices = sorted({*held_values, current})
        point_controls[name] = w.Dropdown(options=choices, value=current, description=name.replace("_", " "), style=style)
    out = w.Output()

    def values() -> dict[str, Any]:
        return {
            **{name: box.value for name, box in switches.items()}, "require_capabilities": ",".join(capabilities.value),
            "max_append_p99_ms": p99.value, "at_events_per_s": rate.value, "shape": shape.value,
            "weights": {k: s.value for k, s in sliders.items()}, "engines": list(engines.value), **{k: c.value for k, c in point_controls.items()},
        }

    held = [False]  # while a preset or a shape sets many controls, redraw once at the end

    def redraw(*_: Any) -> None:
        if held[0]:
            return
        view = evaluate(results, choice_from_values(values(), profile), figures=figures)
        out.outputs = ()
        out.append_display_data(HTML(f"<style>{STYLE}</style>" + view.html + "".join(html for _, html in view.figures)))

    def load_preset(change: Any) -> None:
        chosen = next((p for p in presets if p.key == change["new"]), profile)
        held[0] = True
        for name, key in SWITCHES.items():
            switches[name].value = getattr(chosen.requirements, key)
        capabilities.value = tuple(c for c in chosen.requirements.capabilities if c in found["capabilities"])
        p99.value, rate.value, shape.value = chosen.requirements.max_append_p99_ms, chosen.requirements.at_events_per_s, chosen.shape
        for key, slider in sliders.items():
            slider.value = chosen.weight_map().get(key, 0.0)
        held[0] = False
        redraw()

    def load_shape(change: Any) -> None:
        held[0], was = True, held[0]
        for key, slider in sliders.items():
            slider.value = profiles.SHAPES[change["new"]].get(key, 0.0)
        held[0] = was
        redraw()

    preset.observe(load_preset, names="value")
    shape.observe(load_shape, names="value")
    for control in [*switches.values(), capabilities, p99, rate, shape, *sliders.values(), engines, *point_controls.values()]:
        control.observe(redraw, names="value")
    panel = w.Tab(children=[
        w.VBox([preset, *switches.values(), capabilities, p99, rate]),
        w.VBox([shape, *sliders.values()]),
        w.VBox([engines, *point_controls.values()]),
    ])
    for n, title in enumerate(("requirements", "weights", "engines and points")):
        panel.set_title(n, title)
    redraw()
    return w.VBox([panel, out])
