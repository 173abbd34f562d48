"""The matrix an architect reads: coloured by the ratio to the best product in each column, tags where
results are not comparable, the naive designs apart, and a missing result that never looks good.
Changing one record moves the colours and the ranking; removing an engine's records leaves it "not
measured", never well scored."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from report_fixtures import RUN_ID, specs, write_run

from bench.harness.results import load
from bench.report import comparability, decide, matrix, profiles
from bench.report.matrix_html import MISSING_COLOUR, colour, matrix_html, ratios
from bench.workloads import matrix_columns
from bench.workloads.faults import columns as faults_columns
from bench.workloads.faults.workload import Faults


def _cells(path: Path) -> pd.DataFrame:
    cells = matrix.matrix_cells(load(path))
    return cells.assign(ratio=ratios(cells))


def _cell_html(html: str, engine: str, column_index: int) -> str:
    """The ``column_index``-th data cell of ``engine``'s row."""
    row = re.search(rf"<tr><th>{re.escape(engine)}<span class='sub'>.*?</tr>", html, re.S)
    assert row, f"no row for {engine}"
    return re.findall(r"<td[^>]*>.*?</td>", row.group(0), re.S)[column_index]


def _bump(path: Path, engine: str, metric: str, factor: float, **point: object) -> None:
    """Multiply one engine's ``metric`` records (at ``point``) by ``factor``, in place."""
    for file in (path / "records").glob("*.jsonl"):
        lines = []
        for line in file.read_text().splitlines():
            record = json.loads(line)
            if (record["kind"] == "measurement" and record["engine"] == engine and record["metric"] == metric
                    and all(record["params"].get(k) == v for k, v in point.items())):
                record["value"] *= factor
            lines.append(json.dumps(record))
        file.write_text("\n".join(lines) + "\n")


def test_colours_follow_the_ratio_to_the_best_product_in_the_column(tmp_path: Path) -> None:
    cells = _cells(write_run(tmp_path))
    throughput = cells[cells["key"] == "commands_uniform"].set_index("name")
    # gamma (naive) is fastest, but a broken design never sets the scale: alpha, the best product, is 1
    assert throughput.loc["alpha", "ratio"] == 1.0
    assert throughput.loc["beta", "ratio"] == 2.0
    assert throughput.loc["gamma", "ratio"] < 1.0
    latency = cells[cells["key"] == "append_p50"].set_index("name")  # lower is better: beta beats alpha by 5x
    assert latency.loc["beta", "ratio"] == 1.0 and latency.loc["alpha", "ratio"] == 5.0
    assert colour(1.0) != colour(2.0) != colour(10.0) and colour(float("nan")) == MISSING_COLOUR


def test_one_changed_record_moves_the_colours_and_the_ranking(tmp_path: Path) -> None:
    write_run(tmp_path)
    facts = comparability.engine_facts(load(tmp_path))
    before_html = matrix_html(_cells(tmp_path), facts)
    before = decide.decide(load(tmp_path), profiles.Profile(shape="contended"))
    assert before.winner == "alpha"  # the best hot-stream throughput

    _bump(tmp_path, "beta", "throughput", 4.0)  # beta now 6,000 uniform, 3,000 hot: the best product
    after_html = matrix_html(_cells(tmp_path), comparability.engine_facts(load(tmp_path)))
    after = decide.decide(load(tmp_path), profiles.Profile(shape="contended"))

    assert colour(1.0) in _cell_html(before_html, "alpha", 0) and colour(2.0) in _cell_html(before_html, "beta", 0)
    assert colour(2.0) in _cell_html(after_html, "alpha", 0) and colour(1.0) in _cell_html(after_html, "beta", 0)
    assert after.winner == "beta"
    assert after.ranking.set_index("name").loc["beta", "score"] > before.ranking.set_index("name").loc["beta", "score"]


def test_a_removed_engine_is_not_measured_never_well_scored(tmp_path: Path) -> None:
    write_run(tmp_path, skip={"alpha": {"contention", "calls", "snapshots", "resume"}})
    res = load(tmp_path)
    cells = matrix.matrix_cells(res)
    mine = cells[cells["name"] == "alpha"]
    assert mine["value"].isna().all() and mine["reason"].str.startswith("not measured").all()
    html = matrix_html(cells, comparability.engine_facts(res), pages={"contention": "contention.html"})
    assert "not measured" in _cell_html(html, "alpha", 0) and MISSING_COLOUR in html
    assert "ServiceUnavailable: no server reachable" in html and "href='contention.html'" in html  # the reason, linked to its page
    footnotes = html.split("Why a cell is not measured")[1]
    assert footnotes.count("no server reachable") == 1 and "Connection refused" not in footnotes  # one note per reason, in a sentence
    decision = decide.decide(res)
    assert decision.winner != "alpha"
    assert "alpha" not in set(decision.ranking["name"])  # never measured: set aside, not ranked with a score
    assert any("not measured" in r for r in decision.set_aside.set_index("name").loc["alpha", "reasons"])


def test_an_engine_missing_one_workload_scores_zero_there(tmp_path: Path) -> None:
    write_run(tmp_path, skip={"beta": {"calls"}})
    decision = decide.decide(load(tmp_path))
    part = decision.breakdown[(decision.breakdown["name"] == "beta") & (decision.breakdown["key"] == "append_p50")]
    assert part["points"].iloc[0] == 0 and part["note"].iloc[0].startswith("not measured")
    assert decision.winner == "alpha"


def test_naive_designs_are_shown_apart_and_tags_come_from_the_records(tmp_path: Path) -> None:
    res = load(write_run(tmp_path))
    facts = comparability.engine_facts(res).set_index("engine")
    assert facts.loc["gamma", "tags"] == ["naive"] and facts.loc["beta", "tags"] == ["non_durable", "in_process"]
    assert facts.loc["delta", "tags"] == ["emulator", "non_durable"] and facts.loc["alpha", "tags"] == []
    html = matrix_html(matrix.matrix_cells(res), comparability.engine_facts(res))
    products, counter = html.split("Counter-examples", 1)
    assert "<th>alpha" in products and "<th>beta" in products and "<th>gamma" in counter
    for label in ("naive design", "emulator", "no fsync per commit", "in-process"):
        assert label in html
    assert "↑ higher is better" in html and "↓ lower is better" in html and "commands/s" in html


def test_cell_tags_n1_unstable_and_client_bound(tmp_path: Path) -> None:
    engines = {"alpha": specs()["alpha"]}
    write_run(tmp_path, engines)
    _bump(tmp_path, "alpha", "ceiling_throughput", 0.03, writers=4, skew=0.0)  # the harness's ceiling is now 3,000: client-bound
    cells = matrix.matrix_cells(load(tmp_path)).set_index("key")
    assert "client_bound" in cells.loc["commands_uniform", "tags"]
    html = matrix_html(matrix.matrix_cells(load(tmp_path)), comparability.engine_facts(load(tmp_path)))
    assert "client-bound" in _cell_html(html, "alpha", 0)


def test_matrix_csv_keeps_numbers_and_reasons_apart(tmp_path: Path) -> None:
    write_run(tmp_path, skip={"beta": {"snapshots"}})
    cells = matrix.matrix_cells(load(tmp_path))
    path = matrix.write_matrix_csv(cells, tmp_path / "matrix.csv")
    frame = pd.read_csv(path)
    assert {"value", "reason", "ci_low", "ci_high", "n", "unit", "better", "tags", "run_id"} <= set(frame.columns)
    assert pd.api.types.is_float_dtype(frame["value"])
    missing = frame[(frame["engine"] == "beta") & (frame["key"] == "snapshot_speedup")]
    assert missing["value"].isna().all() and missing["reason"].iloc[0].startswith("not measured")
    assert (frame[frame["engine"] == "gamma"]["tags"] == "naive design").all()
    assert set(frame["run_id"].dropna()) == {RUN_ID}


def test_the_durability_column_counts_losses_under_durable_settings_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = load(write_run(tmp_path))
    faults = pd.DataFrame({
        "engine": ["alpha", "alpha", "beta"], "label": ["alpha"] * 2 + ["beta"], "setting": ["defaults", "fast", "defaults"],
        "durable": [True, False, True], "crashes": [10.0, 10.0, 0.0], "lost": [0.0, 31.0, None],
        "not_measured": [None, None, "crashes: an emulator keeps its data in memory"],
    })
    monkeypatch.setattr(faults_columns, "faults_summary", lambda results: faults)
    metric = Faults.metric("lost")
    assert faults_columns._crash_losses(res, "alpha", metric).value == 0.0  # the 31 lost under a setting traded for speed do not count
    faults.loc[0, "lost"] = 2.0
    assert faults_columns._crash_losses(res, "alpha", metric).value == 2.0
    beta = faults_columns._crash_losses(res, "beta", metric)
    assert beta.value is None and "emulator keeps its data in memory" in (beta.reason or "")
    assert "crash_losses" in {s.key for s in matrix_columns()}
