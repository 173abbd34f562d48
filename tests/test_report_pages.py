"""Pages read by an architect: tables formatted for reading, text escaped, logs in files, navigation
injected into every rendered page, a front page that decides and links every page and file (never a
bare folder), and a page comparing two runs."""
from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from report_fixtures import specs, write_report_run

from bench.display import notebook as pages
from bench.display import tables
from bench.report import compare, frontpage, site


class Links(HTMLParser):
    """Every href, src and id of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value and not value.startswith("data:"):
                self.hrefs.append(value)
            if name == "id" and value:
                self.ids.add(value)


def links(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def assert_links_resolve(page: Path) -> None:
    """Every relative link of ``page`` names an existing file (never a folder), and its anchor exists."""
    for href in links(page).hrefs:
        if href.startswith(("http://", "https://", "mailto:")):
            continue
        target, _, anchor = href.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.is_file(), f"{page.name}: link {href!r} does not name a file"
        if anchor and path.suffix == ".html":
            assert anchor in links(path).ids, f"{page.name}: link {href!r}: no id {anchor!r} in {path.name}"


def test_tables_are_formatted_for_reading() -> None:
    frame = pd.DataFrame({"engine": ["<name>", "b"], "events": [1234567.0, 20.0], "latency": [0.000123, 12345.678], "ok": [True, None]})
    html = tables.table_html(frame, columns={"engine": "engine", "events": "events", "latency": "latency (ms)", "ok": "ok"})
    assert "&lt;name&gt;" in html and "<name>" not in html
    assert "1,234,567" in html and ">20<" in html and "12,346" in html and "0.000123" in html
    assert "e-0" not in html and "e+0" not in html and ".0<" not in html  # no scientific notation, no counts as 20.0
    assert "<th>" in html and "latency (ms)" in html and "NaN" not in html and "None" not in html
    assert "<td class=num>0</td>" not in html  # no index column
    long = tables.table_html(pd.DataFrame({"n": range(40)}), caption="Every point")
    assert long.startswith("<details") and "all 40 rows" in long and long.count("<tr>") == 41  # folded, never cut
    assert "No rows" in tables.table_html(pd.DataFrame(), empty="No rows: nothing was skipped.")
    assert tables.number(float("nan")) == tables.MISSING and tables.percent(0.053) == "5.30 %"
    assert [tables.number(v) for v in (9.999, 99.96, 0.09999, 1.234)] == ["10.0", "100", "0.100", "1.23"]  # rounded, then sized


def test_empty_problems_and_gaps_are_said_in_words() -> None:
    assert "No correctness rule was broken" in pages.problems_md([], rules=3).data
    assert "[]" not in pages.problems_md([]).data
    assert "No case failed" in pages.gaps_html(pd.DataFrame()).data
    assert "&lt;uuid&gt;" in pages.bullets(["stream <uuid>"]).data


def test_the_runner_log_goes_to_a_file(tmp_path: Path) -> None:
    with pages.logged(tmp_path, "work") as path:
        print("from python")
        print("to stderr", file=sys.stderr)
        subprocess.run([sys.executable, "-c", "import sys; print('from a child'); print('child stderr', file=sys.stderr)"], check=True)
    text = path.read_text()
    assert path == tmp_path / "logs" / "work.log"
    for line in ("from python", "to stderr", "from a child", "child stderr"):
        assert line in text
    line = pages.log_line(path, tmp_path).data
    assert "(../logs/work.log)" in line and "4 lines" in line


def _rendered(run_dir: Path, name: str) -> Path:
    """A small executed notebook rendered as ``html/<name>.html``: two sections, a figure without alt text."""
    nb = new_notebook()
    nb.cells = [new_markdown_cell(f"# {name}"), new_markdown_cell("## First section"),
                new_code_cell("x", outputs=[new_output("display_data", data={"image/png": "iVBORw0KGgo="})]),
                new_markdown_cell("## Second section")]
    path = run_dir / "notebooks" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    site.render_html(path, run_dir / "html" / f"{name}.html", name)
    return run_dir / "html" / f"{name}.html"


def test_every_page_gets_navigation_and_a_table_of_contents(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20260101T000000Z-abcd"
    page = _rendered(run_dir, "snapshots")
    _rendered(run_dir, "overview")
    site.finish_pages(run_dir)
    text = page.read_text()
    assert text.count("<!-- bench-nav -->") == 1  # re-injected, not duplicated
    assert "href='../index.html'" in text and "href='../../../index.html'" in text and "href='overview.html'" in text
    assert "On this page" in text and "href='#First-section'" in text and "href='#Second-section'" in text
    assert "No description has been provided" not in text and 'alt="A figure of the section First section"' in text
    notebook = nbformat.read(run_dir / "notebooks" / "snapshots.ipynb", as_version=4)
    assert "bench-nav" not in str(notebook)  # the notebook stays clean


@pytest.fixture(scope="module")
def report_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    earlier = write_report_run(root, run_id="20260101T000000Z-aaaa")
    newest = write_report_run(root, run_id="20260102T000000Z-bbbb", skip={"beta": {"calls"}})
    for run_dir in (earlier, newest):
        _rendered(run_dir, "overview")
        _rendered(run_dir, "snapshots")
        site.finish_pages(run_dir)
        frontpage.write_run_index(run_dir)
    frontpage.write_root_index(root, site.runs(root))
    return root


def test_the_front_page_decides_first_then_links_everything(report_root: Path) -> None:
    index = report_root / "index.html"
    text = index.read_text()
    order = [text.index(f">{h}</h2>") for h in ("What was compared", "Verdict per requirement profile", "The matrix at a glance",
                                                 "Figures that matter", "Caveats", "Pages", "Files", "Earlier runs")]
    assert order == sorted(order)
    assert "quick profile: smoke-sized run, not for decisions" in text
    for preset in ("Already on PostgreSQL", "Serverless on AWS", "High-throughput ingestion", "Audit-heavy domain"):
        assert preset in text
    for name in specs():
        assert name in text
    assert "Counter-examples" in text and "no fsync per commit" in text and "emulator" in text
    assert "records/snapshots.jsonl" in text and "matrix.csv" in text and "environment.json" in text and "environment.html" in text
    assert "href='runs/20260102T000000Z-bbbb/records/'" not in text and not re.search(r"href='[^']*/'", text)  # no folder links
    assert "compare with the newest run" in text


def test_the_front_page_says_how_many_product_cells_converged_and_how_steady_the_machine_was() -> None:
    cells = pd.DataFrame([
        {"value": 10.0, "n": 12, "unstable": False, "tags": ["in_process"]},
        {"value": 11.0, "n": 12, "unstable": True, "tags": ["unstable"]},
        {"value": 0.0, "n": 0, "unstable": False, "tags": []},  # a count: no repetitions to converge
        {"value": None, "n": 0, "unstable": False, "tags": []},  # not measured
        {"value": 3.0, "n": 4, "unstable": False, "tags": ["emulator"]},
        {"value": 4.0, "n": 4, "unstable": True, "tags": ["naive"]},
    ])
    steady = {"steadiness": {"windows": 10, "window_s": 2.0, "cv": 0.1, "slowest": 0.8, "fastest": 1.15, "repetitions_for_target": 25}}
    text = frontpage.how_sure_html(cells, steady)
    assert "1 of 2 measured cells of the products" in text and "a median of 12 repetitions" in text
    assert "varied by 10.0%" in text and "about 25 repetitions" in text
    assert "own speed" not in frontpage.how_sure_html(cells, {}) and "1 of 2" in frontpage.how_sure_html(cells, {})
    assert "No cell of a product" in frontpage.how_sure_html(cells[cells["n"] == 0], {})


@pytest.mark.parametrize("page", ["index.html", "runs/20260102T000000Z-bbbb/index.html", "runs/20260102T000000Z-bbbb/environment.html",
                                  "runs/20260102T000000Z-bbbb/html/overview.html", "compare/20260101T000000Z-aaaa-vs-20260102T000000Z-bbbb.html"])
def test_every_link_resolves(report_root: Path, page: str) -> None:
    assert_links_resolve(report_root / page)


def test_the_comparison_page_shows_the_difference(report_root: Path) -> None:
    text = (report_root / "compare" / "20260101T000000Z-aaaa-vs-20260102T000000Z-bbbb.html").read_text()
    assert "Matrix difference" in text and "Figures overlaid" in text and "<img" in text and "alt='" in text
    assert "not comparable: B not measured" in text  # beta's calls were not measured in the newest run
    assert "unchanged" in text or "within noise" in text
    out = report_root / "mine.html"
    assert compare.main(["20260101T000000Z-aaaa", "20260102T000000Z-bbbb", "--results", str(report_root), "--out", str(out)]) == 0
    assert out.exists()
    assert compare.main(["nope", "20260102T000000Z-bbbb", "--results", str(report_root)]) == 2
    assert "<h2>Verdicts</h2>" in text and "Do the converged cells agree?" in text


def test_verdicts_are_data_and_a_changed_one_fails_the_comparison_if_asked(report_root: Path, tmp_path: Path) -> None:
    import json
    import shutil

    a, b = report_root / "runs" / "20260101T000000Z-aaaa", report_root / "runs" / "20260102T000000Z-bbbb"
    data = json.loads((b / "verdicts.json").read_text())
    assert data["run_id"] == b.name and data["verdicts"]
    first = data["verdicts"][0]
    assert {"key", "choice", "score", "confidence", "ties", "requirements", "verdict"} <= set(first)
    same = ["--results", str(report_root), "--out", str(tmp_path / "same.html"), "--fail-on-verdict-change"]
    assert compare.main([b.name, b.name, *same]) == 0  # a run agrees with itself
    changed = tmp_path / "runs" / "changed"
    shutil.copytree(b, changed)
    for verdict in data["verdicts"]:
        verdict["choice"], verdict["ties"] = "someone-else", []
    (changed / "verdicts.json").write_text(json.dumps(data))
    assert compare.main([str(a), str(changed), "--results", str(report_root), "--out", str(tmp_path / "c.html")]) == 0  # reported, not failed
    assert compare.main([str(a), str(changed), "--results", str(report_root), "--out", str(tmp_path / "c.html"), "--fail-on-verdict-change"]) == 1


def test_an_engine_never_measured_reads_as_one_reason_not_a_dump(tmp_path: Path) -> None:
    from report_fixtures import NOT_REACHABLE, WORKLOADS

    run_dir = write_report_run(tmp_path, skip={"beta": set(WORKLOADS)})
    frontpage.write_run_index(run_dir)
    row = next(r for r in (run_dir / "index.html").read_text().split("<tr>") if r.startswith("<th>beta"))
    assert row.count("no server reachable") == 1 and "every workload: ServiceUnavailable: no server reachable" in row
    assert "docker compose up -d x" in row and "Connection refused" not in row and NOT_REACHABLE.endswith("(111))")  # the cause stays in the records
    assert "nan" not in row and "not stated" in row
    assert tables.short_reason("short (kept)") == "short (kept)" and tables.short_reason(None) == tables.MISSING


def test_a_workload_page_says_why_an_engine_was_not_measured_in_a_sentence() -> None:
    from report_fixtures import NOT_REACHABLE

    status = pd.DataFrame({"engine": ["x"], "status": ["not_measured"], "reason": [NOT_REACHABLE], "product": [None], "engine_version": [None],
                           "emulator": [None], "mode": [None], "elapsed_s": [0.4]})
    html = pages.status_table(status).data
    assert "not measured: ServiceUnavailable: no server reachable" in html and "docker compose up -d x" in html and "Connection refused" not in html
