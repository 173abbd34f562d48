"""``python -m bench``: a thin command line over ``bench.runner``, ``bench.report`` and ``bench.checks``.

    python -m bench engines [--engines NAMES] [--no-start]
    python -m bench run WORKLOAD|all [--engines NAMES] [--results-dir DIR] [--run-id ID] [--params YAML] [--set NAME=VALUE ...]
    python -m bench report [--params YAML] [--results ROOT] [--engines NAMES] [--notebooks a,b]
    python -m bench check DIR            validate a results directory's records and its correctness rules
    python -m bench schema               print the record JSON schemas
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml


def _engines(args: argparse.Namespace) -> int:
    from . import engines

    names = engines.resolve(args.engines)
    if args.no_start:
        for name in names:
            e = engines.ENGINES[name]
            print(f"{name:<15} {'default' if e.default else 'optional':<9} {e.description}")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        services = engines.Services(Path(tmp))
        try:
            for name in names:
                try:
                    with engines.started(name, services) as handle:
                        info, caps, _ = engines.probe(handle)
                    label = f"{info.engine} {info.version}" + (" [emulator]" if info.emulator else "") + f", mode {info.mode}"
                    print(f"{name:<15} available      {label}", flush=True)
                except engines.NotMeasured as exc:
                    print(f"{name:<15} not measured   {exc}", flush=True)
        finally:
            services.close()
    return 0


def _parse_value(text: str) -> Any:
    return yaml.safe_load(text)


def _workload_params(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from .report import load_params
    from .workloads import WORKLOADS

    import dataclasses

    fields = {f.name for f in dataclasses.fields(WORKLOADS[name].params_type)}
    params = load_params(args.params) if args.params else {}
    merged = {k: v for k, v in params.get("all", {}).items() if k in fields}
    merged.update({k: v for k, v in params.get(name, {}).items() if k in fields})
    for item in args.set or []:
        key, _, value = item.partition("=")
        if key in fields:
            merged[key] = _parse_value(value)
    return merged


def _run(args: argparse.Namespace) -> int:
    from .records import new_run_id
    from .runner import run_workload
    from .workloads import WORKLOADS

    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    for name in names:
        if name not in WORKLOADS:
            print(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}, all", file=sys.stderr)
            return 2
    run_id = args.run_id or new_run_id()
    for name in names:
        summary = run_workload(name, _workload_params(name, args), engines=args.engines, results_dir=args.results_dir, run_id=run_id, progress=not args.no_progress)
        print(summary)
        if summary.interrupted:
            return 130
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import build_report

    notebooks = args.notebooks.split(",") if args.notebooks else None
    try:
        run_dir, ok = build_report(args.results, params_file=args.params, engines=args.engines, run_id=args.run_id, notebooks=notebooks)
    except KeyboardInterrupt:
        print("report interrupted; the pages finished so far are kept", file=sys.stderr)
        return 130
    print(f"report: {run_dir / 'index.html'} (latest run linked from {Path(args.results).resolve() / 'index.html'})")
    return 0 if ok else 1


def _check(args: argparse.Namespace) -> int:
    from .checks import coverage, problems
    from .results import load

    results = load(args.results_dir, run_id=args.run_id)
    print(f"{len(results.measurements)} measurement records, {len(results.engines)} engine records: valid")
    print(coverage(results).to_string())
    found = problems(results, include_errors=not args.ignore_errors)
    for line in found:
        print("FAIL", line)
    return 1 if found else 0


def _schema(args: argparse.Namespace) -> int:
    from .environment import ENVIRONMENT_SCHEMA
    from .records import SCHEMAS

    print(json.dumps({**SCHEMAS, "environment": ENVIRONMENT_SCHEMA}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Event store benchmark workbench")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("engines", help="list the engines and whether they start here")
    p.add_argument("--engines", default="all", help="comma-separated names, 'default' or 'all'")
    p.add_argument("--no-start", action="store_true", help="only list; do not start anything")
    p.set_defaults(func=_engines)

    p = sub.add_parser("run", help="run a workload (or all) against engines and write records")
    p.add_argument("workload", help="contention, snapshots, resume, calls, or all")
    p.add_argument("--engines", default="default", help="comma-separated names, 'default' or 'all'")
    p.add_argument("--results-dir", default="results/scratch")
    p.add_argument("--run-id")
    p.add_argument("--params", help="YAML of parameters (same format as tests/notebook_params.yaml)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override one parameter (YAML value)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run)

    p = sub.add_parser("report", help="run every notebook into results/runs/<run_id>/ and write results/index.html")
    p.add_argument("--params", help="YAML of notebook parameters; defaults are the full report sizes")
    p.add_argument("--results", default="results", help="results root")
    p.add_argument("--engines", help="override the engines of every notebook")
    p.add_argument("--run-id")
    p.add_argument("--notebooks", help="comma-separated subset")
    p.set_defaults(func=_report)

    p = sub.add_parser("check", help="validate records and check the correctness rules")
    p.add_argument("results_dir")
    p.add_argument("--run-id")
    p.add_argument("--ignore-errors", action="store_true", help="do not fail on failed cases")
    p.set_defaults(func=_check)

    p = sub.add_parser("schema", help="print the record schemas")
    p.set_defaults(func=_schema)

    args = parser.parse_args(argv)
    return args.func(args)
