"""The README's example commands work: each line of the ``sh`` block under "### Example commands"
runs from the repository root, with ``.venv/bin`` on PATH and ``results/scratch`` redirected to a
temporary directory, and must exit 0 (each within a few minutes, on a loaded machine)."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
SCRATCH = "results/scratch"


def example_commands() -> list[str]:
    """The command lines of the first ``sh`` block after the "### Example commands" heading."""
    text = (ROOT / "README.md").read_text()
    found = re.search(r"^### Example commands\n.*?^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert found, "README.md has no ```sh block under '### Example commands'"
    return [line for line in found.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_the_examples_use_the_tiny_engine_and_the_scratch_directory():
    commands = example_commands()
    assert any("-p writers '[1, 2]'" in c for c in commands)  # a list parameter, as papermill passes it: a string
    for command in commands:
        words = shlex.split(command)
        assert "--engines" not in words or words[words.index("--engines") + 1] == "sqlite", command
        paths = [w for w in words if "results" in w and not w.startswith("--") and w != "results_dir"]
        assert all(p.startswith(SCRATCH) for p in paths), command  # the test redirects these, nothing else


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_readme_example_commands_run(tmp_path):
    if not (VENV_BIN / "python").exists():
        pytest.skip(f"no virtualenv at {VENV_BIN} (make venv creates it)")
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in example_commands():
        line = command.replace(SCRATCH, str(tmp_path / "scratch"))
        # Generous: each takes seconds to a minute alone, several times that on a loaded machine.
        done = subprocess.run(line, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert list((tmp_path / "scratch" / "records").glob("contention.jsonl"))
