# Two entry points, each self-sufficient on a fresh machine with Python >= 3.11:
#   make report   run every notebook on the embedded engines and render results/index.html
#   make test     run the test suite (conformance on every engine, notebooks with tiny parameters)
# Both create .venv and install the project on first use, and start and stop the engines they need.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: report test venv clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all]"
	@touch $(STAMP)

venv: $(STAMP)

report: $(STAMP)
	$(PY) -m bench report

test: $(STAMP)
	$(PY) -m pytest -rs

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
