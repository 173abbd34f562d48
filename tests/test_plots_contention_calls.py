"""The contention and calls figures render from records in which an engine measured nothing: one
engine whose every point was skipped, one that measured only zeros and no latency. No exception, a
PNG written, and the figure's alt text says why those engines have no line."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from bench.harness import results  # noqa: E402
from bench.harness.tables import latency_percentile_curves, pareto_optimal  # noqa: E402
from bench.workloads import run_workload  # noqa: E402
from bench.workloads.calls import figures as calls_figures  # noqa: E402
from bench.workloads.contention import figures as contention_figures  # noqa: E402

FAST_WINDOW = {"duration_s": 0.1, "warmup_s": 0.02, "max_duration_s": 0.3, "min_completions": 10, "repetitions": 1}
SKIPPED = "skipped: idle used its 1 s budget for this workload"
ZERO = "no command completed inside the window"
#: (function, extra arguments, figure file)
FIGURES = [
    (contention_figures.contention, (), "contention-throughput"),
    (contention_figures.contention, ("conflict_rate", "conflicts per attempt"), "contention-conflict-rate"),
    (contention_figures.contention_latency, (), "contention-latency"),
    (contention_figures.contention_tradeoff, (), "contention-tradeoff"),
    (calls_figures.calls_throughput, (), "calls-throughput"),
    (calls_figures.calls_cdf, (), "calls-latency-cdf"),
    (calls_figures.calls_tradeoff, (), "calls-tradeoff"),
]


def _derive(records: list[dict], engine: str, *, skipped: bool) -> list[dict]:
    """Records of a second engine made from ``records``: every point skipped, or every value 0 and no histogram."""
    out, points = [], set()
    for record in records:
        record = {**record, "engine": engine, "backend": engine, "product": engine}
        if record["kind"] == "engine":
            out.append(record)
            continue
        key = json.dumps(record["params"], sort_keys=True)
        if skipped:
            if record["metric"] == "throughput" and (key, record["repetition"]) not in points:
                points.add((key, record["repetition"]))
                out.append({**record, "metric": "skipped", "value": 1.0, "unit": "flag", "note": SKIPPED})
        elif record["hdr"] is None and not record["metric"].startswith(("command_latency", "latency")):
            out.append({**record, "value": 0.0, "note": ZERO if record["metric"] == "throughput" else record["note"]})
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """Records of the memory engine (contention and calls, tiny windows), plus an engine ``idle`` that
    skipped every point and an engine ``flat`` that measured 0 everywhere without latency."""
    path = tmp_path_factory.mktemp("plots")
    run_workload("contention", {**FAST_WINDOW, "writers": [1, 2], "skews": [0.0, 3.0], "streams": 2}, engines="memory", results_dir=path, progress=False)
    calls = {**FAST_WINDOW, "operations": ["append_single", "read_stream", "live_delivery"], "prefill_events": 50, "drain_timeout_s": 0.5}
    run_workload("calls", calls, engines="memory", results_dir=path, progress=False)
    for workload in ("contention", "calls"):
        file = path / "records" / f"{workload}.jsonl"
        records = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
        extra = _derive(records, "idle", skipped=True) + _derive(records, "flat", skipped=False)
        with open(file, "a", encoding="utf-8") as out:
            out.writelines(json.dumps(r) + "\n" for r in extra)
    return path


@pytest.mark.parametrize(("draw", "args", "name"), FIGURES, ids=[f[2] for f in FIGURES])
def test_figure_renders_when_an_engine_measured_nothing(run_dir, draw, args, name):
    res = results.load(run_dir)
    assert set(res.measurements["engine"]) == {"memory", "idle", "flat"}
    fig = draw(res, *args)
    plt.close(fig)
    png = run_dir / "figures" / f"{name}.png"
    assert png.exists() and png.stat().st_size > 5_000
    alt = json.loads((run_dir / "figures" / "alt.json").read_text())[name]
    assert "memory" in alt and SKIPPED in alt, alt  # what was measured, and why idle was not
    if name != "contention-conflict-rate":  # a conflict rate of 0 is a value, not a gap
        assert "flat" in alt and ("0" in alt or "nothing" in alt), alt


@pytest.mark.parametrize(("draw", "args", "name"), FIGURES, ids=[f[2] for f in FIGURES])
def test_figure_renders_when_no_engine_measured_anything(run_dir, tmp_path, draw, args, name):
    """Only the engines without values (all NaN or 0): still a figure, saying why."""
    records = [line for path in (run_dir / "records").glob("*.jsonl") for line in path.read_text().splitlines()
               if line.strip() and json.loads(line)["engine"] != "memory"]
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "all.jsonl").write_text("\n".join(records) + "\n")
    fig = draw(results.load(tmp_path), *args)
    plt.close(fig)
    assert (tmp_path / "figures" / f"{name}.png").exists()
    assert SKIPPED in json.loads((tmp_path / "figures" / "alt.json").read_text())[name]


def test_pareto_front_keeps_the_points_no_other_beats_on_both():
    import pandas as pd

    frame = pd.DataFrame({"label": ["a"] * 4 + ["b"], "x": [100.0, 200.0, 150.0, 50.0, 10.0], "y": [5.0, 9.0, 10.0, float("nan"), 1.0]})
    assert pareto_optimal(frame, "x", "y").tolist() == [True, True, False, False, True]


def test_percentile_curves_stop_where_the_samples_do(run_dir):
    curves = latency_percentile_curves(results.load(run_dir), "calls", "latency", ("operation", "loop"))
    assert not curves.empty and set(curves["label"]) == {"memory"}  # idle and flat have no histogram
    for _, curve in curves.groupby(["operation", "loop"]):
        count = int(curve["count"].iloc[0])
        assert curve["percentile"].max() == pytest.approx(1 - 1 / count)
        assert curve.sort_values("percentile")["latency_us"].is_monotonic_increasing
