"""``python -m bench``: a thin command line over ``bench.workloads`` (run, params, check) and
``bench.report.build``. Each command imports what it needs when it runs, so that listing engines
or parameters does not pay for pandas and matplotlib.

    python -m bench engines [--engines NAMES] [--no-start]
    python -m bench params WORKLOAD      each parameter with its type, default and meaning
    python -m bench run WORKLOAD|all [--engines NAMES] [--results-dir DIR] [--run-id ID] [--profile P] [--params YAML] [--set NAME=VALUE ...]
    python -m bench report [--profile decision|quick] [--params YAML] [--results ROOT] [--engines NAMES] [--notebooks a,b]
    python -m bench check DIR            validate a results directory's records and its correctness rules
    python -m bench compare RUN_A RUN_B  two runs side by side; --fail-on-verdict-change for CI
    python -m bench verdicts A B         two runs' verdicts (directories or verdicts.json); --fail-on-change
    python -m bench schema               print the record JSON schemas
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .harness.params import ParameterError, Params


def _engines(args: argparse.Namespace) -> int:
    from .harness import engines

    names = engines.resolve(args.engines)
    if args.no_start:
        for name in names:
            e = engines.engines()[name]
            print(f"{name:<15} {'default' if e.default else 'optional':<9} {e.description}")
            print(f"{'':<15} URL: {e.url_form}")
            for var in e.env:
                print(f"{'':<15} ${var.name}: {var.meaning}")
            if e.docs is not None:
                print(f"{'':<15} docs: {e.docs}")
        return 0
    with engines.Servers() as servers:
        for name in names:
            try:
                with engines.started(name, servers) as deployment:
                    info, _, _ = engines.probe(deployment)
                label = f"{info.engine} {info.version}" + (" [emulator]" if info.emulator else "") + f", mode {info.mode}"
                print(f"{name:<15} available      {label}", flush=True)
            except engines.NotMeasured as exc:
                print(f"{name:<15} not measured   {exc}", flush=True)
    return 0


def _params(args: argparse.Namespace) -> int:
    from .workloads import parameters_cell, workload

    print(f"# {workload(args.workload).title}: the parameters cell of notebooks/{args.workload}.ipynb (papermill -p NAME VALUE).")
    print("# With `python -m bench run`: the run options are --run-id, --results-dir, --engines, --no-progress, --profile;")
    print("# every other parameter is --set NAME=VALUE.")
    print(parameters_cell(args.workload))
    return 0


def _workload_params(names: list[str], args: argparse.Namespace) -> dict[str, Params]:
    """Each workload's parameters from ``--params`` and ``--set``, checked before anything runs. A name
    under ``all:`` or in ``--set`` goes to every workload that declares it; a name no workload
    declares is refused, and so is a value of the wrong type."""
    from .report.notebooks import load_params, profile_params
    from .workloads import workloads

    declared = {name: set(w.params_type.parameters()) for name, w in workloads().items()}
    profile = profile_params(args.profile)
    from_file = load_params(args.params) if args.params else {}
    sets = dict(_assignment(item) for item in args.set or [])
    _refuse_unknown(set(from_file.get("all", {})), set().union(*declared.values()), f"{args.params} (all:)")
    for name in declared.keys() & from_file.keys():
        _refuse_unknown(set(from_file[name]), declared[name], f"{args.params} ({name}:)")
    _refuse_unknown(set(sets), set().union(*(declared[n] for n in names)), "--set")
    params = {}
    for name in names:
        values = {k: v for k, v in profile.get(name, {}).items() if k in declared[name]}
        values.update({k: v for k, v in from_file.get("all", {}).items() if k in declared[name]})
        values.update(from_file.get(name, {}))
        values.update({k: v for k, v in sets.items() if k in declared[name]})
        params[name] = workloads()[name].params_type.from_dict(values)
    return params


def _assignment(item: str) -> tuple[str, str]:
    name, equals, value = item.partition("=")
    if not equals or not name:
        raise ParameterError(f"--set expects NAME=VALUE, got {item!r}")
    return name, value


def _refuse_unknown(given: set[str], known: set[str], where: str) -> None:
    unknown = sorted(given - known)
    if unknown:
        raise ParameterError(f"{where}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def _run(args: argparse.Namespace) -> int:
    from .harness.records import new_run_id
    from .workloads import run_workload, workloads

    names = list(workloads()) if args.workload == "all" else [args.workload]
    params = _workload_params(names, args)
    run_id = args.run_id or new_run_id()
    for name in names:
        summary = run_workload(
            name, params[name], engines=args.engines, results_dir=args.results_dir, run_id=run_id, progress=not args.no_progress, profile=args.profile,
        )
        print(summary)
        if summary.interrupted:
            return 130
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report.build import build_report

    notebooks = args.notebooks.split(",") if args.notebooks else None
    try:
        run_dir, ok = build_report(args.results, profile=args.profile, params_file=args.params, engines=args.engines, run_id=args.run_id, notebooks=notebooks)
    except KeyboardInterrupt:
        print("report interrupted; the pages finished so far are kept", file=sys.stderr)
        return 130
    print(f"report: {run_dir / 'index.html'} (latest run linked from {Path(args.results).resolve() / 'index.html'})")
    return 0 if ok else 1


def _check(args: argparse.Namespace) -> int:
    from .harness.results import load
    from .workloads.checks import coverage, problems

    results = load(args.results_dir, run_id=args.run_id)
    print(f"{len(results.measurements)} measurement records, {len(results.engines)} engine records: valid")
    print(coverage(results).to_string())
    found = problems(results, include_errors=not args.ignore_errors)
    for line in found:
        print("FAIL", line)
    return 1 if found else 0


def _compare(args: argparse.Namespace) -> int:
    from .report.compare import main as compare

    return compare([args.run_a, args.run_b, "--results", args.results, *(["--out", args.out] if args.out else []),
                    *(["--fail-on-verdict-change"] if args.fail_on_verdict_change else [])])


def _verdicts(args: argparse.Namespace) -> int:
    from .report.verdict_file import main as verdicts

    return verdicts([args.a, args.b, *(["--fail-on-change"] if args.fail_on_change else [])])


def _schema(args: argparse.Namespace) -> int:
    from .harness.environment import ENVIRONMENT_SCHEMA
    from .harness.records import SCHEMAS

    print(json.dumps({**SCHEMAS, "environment": ENVIRONMENT_SCHEMA}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    from .workloads import workloads

    known = list(workloads())
    parser = argparse.ArgumentParser(prog="python -m bench", description="Event store benchmark workbench")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("engines", help="list the engines and whether they start here")
    p.add_argument("--engines", default="all", help="comma-separated names, 'default' or 'all'")
    p.add_argument("--no-start", action="store_true", help="only describe (URL form, environment variables, docs); start nothing")
    p.set_defaults(func=_engines)

    p = sub.add_parser("params", help="list a workload's parameters: type, default and meaning")
    p.add_argument("workload", choices=known)
    p.set_defaults(func=_params)

    p = sub.add_parser("run", help="run a workload (or all) against engines and write records")
    p.add_argument("workload", choices=[*known, "all"])
    p.add_argument("--engines", default="default", help="comma-separated names, 'default' or 'all'")
    p.add_argument("--results-dir", default="results/scratch")
    p.add_argument("--run-id")
    p.add_argument("--profile", default="decision", help="parameter profile under notebooks/profiles/: decision (default) or quick (smoke-sized)")
    p.add_argument("--params", help="YAML of parameters over the profile's: all: and one key per workload")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override one parameter, e.g. writers='[1, 8]' (see `params WORKLOAD`)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run)

    p = sub.add_parser("report", help="run every notebook into results/runs/<run_id>/ and write results/index.html")
    p.add_argument("--profile", default="decision", help="decision (default: decision-grade sizes, about 45 minutes on 2 cores) or quick (smoke-sized, about 5 minutes)")
    p.add_argument("--params", help="YAML of notebook parameters over the profile's (all: and one key per notebook)")
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

    p = sub.add_parser("compare", help="two runs side by side: verdicts, agreement, matrix difference (a page); exit 1 on a changed verdict if asked")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--results", default="results", help="results root holding runs/")
    p.add_argument("--out", help="page to write (default: ROOT/compare/A-vs-B.html)")
    p.add_argument("--fail-on-verdict-change", action="store_true", help="exit 1 when a requirement profile chose differently")
    p.set_defaults(func=_compare)

    p = sub.add_parser("verdicts", help="each requirement profile's outcome between two runs' verdicts.json; exit 1 on a change if asked")
    p.add_argument("a", help="the earlier run: its directory or its verdicts.json (a baseline you keep)")
    p.add_argument("b", help="the later run: its directory or its verdicts.json")
    p.add_argument("--fail-on-change", action="store_true", help="exit 1 when a requirement profile chose differently")
    p.set_defaults(func=_verdicts)

    p = sub.add_parser("schema", help="print the record schemas")
    p.set_defaults(func=_schema)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ParameterError as exc:
        print(f"python -m bench {args.command}: {exc}", file=sys.stderr)
        return 2
