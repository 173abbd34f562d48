"""The rendered report, read in a real browser: the session's quick report (tests/conftest.py), opened
in headless Chromium; every link from the front page is followed (pages, records,
figures, logs, the environment) and none is broken; no page shows a traceback, a ``None``, a bare
``[]`` or a table cut off at the edge of its container. Screenshots of the front page and of the
overview are saved with the run (``runs/<run id>/screenshots/``).

Slow (the report takes minutes; the notebook tests share it). Chromium is Debian's package: installed with apt-get when it
is missing; the test skips, saying why, only when that is impossible.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from bench.report import notebooks

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

WINDOW = (1400, 3000)
#: Visible text no page may show.
FORBIDDEN = {
    "a traceback": re.compile(r"Traceback \(most recent call last\)"),
    "a None": re.compile(r"(?<![\w.])None(?![\w])"),
    "a bare []": re.compile(r"(?:^|\s)\[\](?:\s|$)", re.M),
    "a NaN": re.compile(r"(?<![\w])NaN(?![\w])"),
}
#: Runs in the page once it is parsed: its visible text, every link and id, and every table wider than
#: the box that holds it (a scrolling box, a box that clips, or the window).
CHECK = """<script>
(function () {
  const out = {text: document.body.innerText, links: [], ids: [], clipped: []};
  for (const a of document.querySelectorAll('a[href]')) out.links.push(a.href);
  for (const i of document.querySelectorAll('img[src]')) if (!i.src.startsWith('data:')) out.links.push(i.src);
  for (const e of document.querySelectorAll('[id]')) out.ids.push(e.id);
  for (const t of document.querySelectorAll('table')) {
    if (!t.offsetParent) continue;  // folded (<details>): whole when opened
    let box = null;
    for (let a = t.parentElement; a; a = a.parentElement) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(a).overflowX)) { box = a; break; }
    }
    const limit = box ? box.getBoundingClientRect().right : document.documentElement.clientWidth;
    const right = t.getBoundingClientRect().right;
    if (right > limit + 1) {
      const head = Array.from(t.querySelectorAll('th')).slice(0, 4).map(h => h.innerText).join(' | ');
      out.clipped.push(head + ' (' + Math.round(right - limit) + ' px cut off)');
    }
  }
  document.body.setAttribute('data-check', JSON.stringify(out));
})();
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if not shutil.which("apt-get"):
        pytest.skip("no chromium on PATH and no apt-get to install Debian's package")
    if os.geteuid() != 0:
        pytest.skip("no chromium on PATH, and installing Debian's package needs root (apt-get install chromium)")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"could not install chromium: {' '.join(command)}: {done.stderr.strip()[-300:]}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get installed chromium but it is not on PATH")
    return found


def browse(browser: str, page: Path) -> dict[str, list[str] | str]:
    """What ``CHECK`` finds on ``page``, loaded from a copy beside it (so its relative links hold)."""
    probe = page.with_name(f".check-{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"), encoding="utf-8")
    try:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=5000",
             "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120,
        )
    finally:
        probe.unlink()
    found = re.search(r'data-check="([^"]*)"', done.stdout)
    assert found, f"{page}: the browser ran no check ({done.stderr.strip()[-500:]})"
    out = json.loads(html.unescape(found.group(1)))
    out["links"] = [link.replace(probe.as_uri(), page.as_uri()) for link in out["links"]]  # the page's own anchors
    return out


def crawl(browser: str, root: Path) -> tuple[dict[Path, dict], dict[Path, list[str]]]:
    """Every HTML page under ``root`` reachable from its front page, with what ``CHECK`` found, and
    per page what is wrong with it: debug output, tables cut off, broken links and anchors."""
    pending, seen, files = [root / "index.html"], {}, {}
    problems: dict[Path, list[str]] = {}
    while pending:
        page = pending.pop()
        if page in seen:
            continue
        seen[page] = found = browse(browser, page)
        mine = problems.setdefault(page, [])
        for name, pattern in FORBIDDEN.items():
            for match in pattern.finditer(str(found["text"])):
                context = str(found["text"])[max(0, match.start() - 80):match.end() + 80].replace("\n", " ").replace("\t", " ")
                mine.append(f"shows {name}: ...{context}...")
        mine += [f"table cut off: {t}" for t in found["clipped"]]
        for link in found["links"]:
            parts = urlsplit(str(link))
            if parts.scheme != "file":
                continue
            target = Path(unquote(parts.path))
            files.setdefault(target, []).append((page, parts.fragment))
            if target.is_file() and target.suffix == ".html" and root in target.parents:
                pending.append(target)
    for target, sources in files.items():
        for page, fragment in sources:
            if not target.is_file():
                problems[page].append(f"broken link: {target}")
            elif fragment and target in seen and fragment not in seen[target]["ids"]:
                problems[page].append(f"no #{fragment} in {target.name}")
    return seen, problems


def screenshot(browser: str, page: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                    f"--screenshot={target}", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert target.stat().st_size > 10_000


@pytest.fixture(scope="module")
def built(quick_report: tuple[Path, Path, bool]) -> tuple[Path, Path, bool]:
    """The session's quick report on every default engine (tests/conftest.py), once chromium is there."""
    assert chromium()  # skip before spending minutes on the report
    return quick_report


def _report(problems: dict[Path, list[str]], root: Path) -> str:
    return "\n".join(f"{page.relative_to(root)}: {line}" for page, lines in problems.items() for line in lines)


@pytest.fixture(scope="module")
def crawled(built: tuple[Path, Path, bool]) -> tuple[dict[Path, dict], dict[Path, list[str]]]:
    return crawl(chromium(), built[0])


def test_every_link_from_the_front_page_holds_and_no_page_shows_debug_output(
    built: tuple[Path, Path, bool], crawled: tuple[dict[Path, dict], dict[Path, list[str]]],
) -> None:
    root, run_dir, ok = built
    run = json.loads((run_dir / "run.json").read_text())
    assert ok, [n["error"] for n in run["notebooks"] if n["error"]]
    seen, problems = crawled
    rendered = {p.name for p in seen}
    assert {f"{name}.html" for name in notebooks.NOTEBOOKS} <= rendered and "environment.html" in rendered
    linked = {p.relative_to(run_dir).as_posix() for p in _linked_files(seen) if run_dir in p.parents}
    assert {"matrix.csv", "environment.json", "run.json"} <= linked and any(p.startswith("records/") for p in linked)
    broken = {page: [line for line in lines if line.startswith(("broken link", "no #"))] for page, lines in problems.items()}
    assert not any(broken.values()), _report(broken, root)
    assert not any(problems.values()), _report(problems, root)


def _linked_files(seen: dict[Path, dict]) -> set[Path]:
    return {Path(unquote(urlsplit(str(link)).path)) for found in seen.values() for link in found["links"] if urlsplit(str(link)).scheme == "file"}


def test_screenshots_of_the_front_page_and_the_overview_are_saved_with_the_run(built: tuple[Path, Path, bool]) -> None:
    root, run_dir, _ = built
    browser = chromium()
    screenshot(browser, root / "index.html", run_dir / "screenshots" / "index.png")
    screenshot(browser, run_dir / "html" / "overview.html", run_dir / "screenshots" / "overview.png")
    keep = os.environ.get("BENCH_SCREENSHOTS")  # a directory that outlives pytest's temporary ones
    if keep:
        shutil.copytree(run_dir / "screenshots", Path(keep), dirs_exist_ok=True)
    print(f"screenshots: {run_dir / 'screenshots'}")
