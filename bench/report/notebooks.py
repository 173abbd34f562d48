"""The report's notebooks and their parameters: which run, in what order, with which profile's values."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml

from bench.display.tables import smoke_label
from bench.harness.columns import OperatingPoints
from bench.harness.params import ParameterError
from bench.harness.records import PROFILES
from bench.workloads import workloads

from .profiles import Profile

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"

#: ``<profile>/<notebook>.yaml``: each notebook's parameters in a profile, as ``papermill -f`` takes them.
PROFILE_DIR = NOTEBOOK_DIR / "profiles"

#: Execution order: the overview reads what the workload notebooks wrote.
NOTEBOOKS = (*workloads(), "overview")


@functools.cache
def title(name: str) -> str:
    """A page's title: its workload's ``title``, else its notebook's first heading (the overview's)."""
    if name in workloads():
        return workloads()[name].title
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    if path.exists():
        for cell in json.loads(path.read_text())["cells"]:
            text = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and text.startswith("# "):
                return text.splitlines()[0][2:].strip()
    return name


def load_params(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """Notebook parameters from YAML: ``all:`` applies to every notebook declaring a name, and a key
    per notebook (``contention:``, ...) overrides for that notebook."""
    if path is None:
        return {}
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a mapping of notebook name -> parameters")
    unknown = set(data) - set(NOTEBOOKS) - {"all"}
    if unknown:
        raise ParameterError(f"{path}: unknown notebook(s) {sorted(unknown)}; known: all, {', '.join(NOTEBOOKS)}")
    return {k: dict(v or {}) for k, v in data.items()}


def profile_params(profile: str) -> dict[str, dict[str, Any]]:
    """The parameters profile ``profile`` gives each notebook (``notebooks/profiles/<profile>/<notebook>.yaml``)."""
    if profile not in PROFILES:
        raise ParameterError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    out: dict[str, dict[str, Any]] = {}
    for name in NOTEBOOKS:
        path = PROFILE_DIR / profile / f"{name}.yaml"
        values = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
        if not isinstance(values, dict) or values.pop("profile", profile) != profile:
            raise ParameterError(f"{path}: expected a mapping of parameter -> value with profile: {profile}")
        out[name] = values  # the profile itself reaches every notebook that declares it, with the run's options
    return out


def page_title(name: str, profile: str) -> str:
    """A page's title as the browser and the index show it; a smoke-sized run says so."""
    label = smoke_label(profile)
    return f"{title(name)} ({label})" if label else title(name)


@functools.cache
def declared_parameters(name: str) -> frozenset[str]:
    """The names notebook ``name``'s parameters cell declares, as papermill reads them."""
    import papermill

    return frozenset(papermill.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb")))


def notebook_parameters(name: str, params: dict[str, dict[str, Any]], base: dict[str, Any]) -> dict[str, Any]:
    """The parameters to inject into notebook ``name``: only names its parameters cell declares.
    A name under ``all:`` that no notebook declares, one under ``name:`` that this one does not, or
    a workload parameter's value of the wrong type is a ``ParameterError``."""
    declared = declared_parameters(name)
    specific = params.get(name, {})
    unknown = set(specific) - declared
    if unknown:
        raise ParameterError(f"notebook {name} has no parameter(s) {sorted(unknown)}; it declares {sorted(declared)}")
    anywhere = frozenset().union(*(declared_parameters(n) for n in NOTEBOOKS))
    unknown = set(params.get("all", {})) - anywhere
    if unknown:
        raise ParameterError(f"no notebook has parameter(s) {sorted(unknown)} given under all:; they declare {sorted(anywhere)}")
    merged = {**base, **params.get("all", {}), **specific}
    chosen = {k: v for k, v in merged.items() if k in declared}
    if name in workloads():  # a value of the wrong type fails here, before any notebook runs
        params_type = workloads()[name].params_type
        params_type.from_dict({k: v for k, v in chosen.items() if k in params_type.parameters()})
    return chosen


def operating_points(run: dict[str, Any]) -> OperatingPoints:
    """The matrix's operating points of a run: the overview notebook's, else its profile's."""
    for nb in run.get("notebooks", []):
        if nb.get("name") == "overview":
            return OperatingPoints.from_dict(nb.get("parameters") or {})
    path = PROFILE_DIR / str(run.get("profile", "decision")) / "overview.yaml"
    values = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
    return OperatingPoints.from_dict(values if isinstance(values, dict) else {})


def default_profile(run: dict[str, Any]) -> Profile:
    """The overview notebook's own requirement profile in this run (its parameters)."""
    for nb in run.get("notebooks", []):
        if nb.get("name") == "overview":
            return Profile.from_parameters(nb.get("parameters") or {})
    return Profile()
