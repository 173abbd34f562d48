# Two entry points, each self-sufficient on a fresh machine with Python >= 3.11:
#   make report   run every notebook on the embedded engines and render results/index.html
#   make test     the checkers (ruff, mypy) and the whole test suite, as CI runs it
# Both create .venv and install the project on first use, and start and stop the engines they need.
# make test-fast skips the slow tests (races, notebooks, property-based) for the inner loop.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: report test test-fast check venv clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all]"
	@# The faults workload's power cuts need FUSE (Debian's fuse3): installed where this is root with apt-get;
	@# elsewhere the report says "not measured" with the command to run.
	@$(PY) -c 'from bench.powerloss import install_fuse; print("power-loss filesystem:", install_fuse() or "FUSE ready")'
	@touch $(STAMP)

venv: $(STAMP)

report: $(STAMP)
	$(PY) -m bench report

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: check
	$(PY) -m pytest -rs --durations=15

test-fast: check
	$(PY) -m pytest -rs -m "not slow"

# make lab: JupyterLab on notebooks/ with the project's kernel (the virtualenv's python3): in
# overview.ipynb, widgets explore the newest run's records (requirements, weights, engines, points).
# Extra options through LAB_ARGS, e.g. make lab LAB_ARGS="--no-browser --port 8899".
.PHONY: lab
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(LAB_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache
