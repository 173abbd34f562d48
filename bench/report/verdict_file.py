"""Verdicts as data: ``verdicts.json`` beside ``matrix.csv``, and what changed between two runs' files.

Each verdict names its requirement profile, the choice, its score and how sure it is (the share of
resamples it comes first in, and the engines it ties with), the ranking, the engines set aside and
why, and the evidence of every hard requirement, so that a user's CI can compare two runs and fail
when a verdict changed (``python -m bench verdicts BASELINE NEW --fail-on-change``, or the whole
comparison page with ``python -m bench compare RUN_A RUN_B --fail-on-verdict-change``).

Two runs agree on a profile when they choose the same engine, or when both call it a tie between
the same engines (each run's choice is among the other's tied engines): a tie that comes out the
other way round is not a changed verdict.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.harness.records import now_iso
from bench.harness.results import Results

from .decide import Decision, decide
from .notebooks import default_profile, operating_points
from .profiles import presets

FILENAME = "verdicts.json"
SCHEMA_VERSION = 1
SAME, TIE, CHANGED, MISSING = "same", "tie both times", "changed", "missing"


def decisions(results: Results, run: dict[str, Any]) -> list[Decision]:
    """A run's verdicts: its overview's own requirement profile, then every preset."""
    points = operating_points(run)
    return [decide(results, profile, points) for profile in [default_profile(run), *presets()]]


def as_data(decision: Decision) -> dict[str, Any]:
    """One decision as plain data."""
    ranking = decision.ranking
    confidence = decision.confidence
    labels = {str(r.name): str(r.engine) for r in ranking.itertuples()} | {str(r.name): str(r.engine) for r in decision.set_aside.itertuples()}
    requirements = []
    for key in decision.profile.requirements.active():
        checks = decision.checks[decision.checks["requirement"] == key]
        requirements.append({
            "requirement": key, "description": decision.profile.requirements.describe(key),
            "checks": [{"engine": str(c.name), "status": str(c.status), "evidence": str(c.evidence)} for c in checks.itertuples()],
        })
    choice = decision.winner
    return {
        "key": decision.profile.key, "title": decision.profile.title, "choice": choice, "choice_label": labels.get(choice) if choice else None,
        "score": round(float(ranking["score"].iloc[0]), 2) if not ranking.empty else None,
        "confidence": round(confidence.share, 4) if confidence is not None else (1.0 if len(ranking) == 1 else None),
        "robust": bool(confidence.robust) if confidence is not None else len(ranking) == 1,
        "resamples": confidence.resamples if confidence is not None else 0,
        "first_shares": {k: round(v, 4) for k, v in confidence.first.items()} if confidence is not None else {},
        "ties": [{"engine": t.name, "label": t.engine, "ahead": round(t.ahead, 4), "separate": t.separate} for t in confidence.ties] if confidence else [],
        "ranking": [{"engine": str(r.name), "label": str(r.engine), "score": round(float(r.score), 2)} for r in ranking.itertuples()],
        "set_aside": [{"engine": str(r.name), "label": str(r.engine), "reasons": list(r.reasons)} for r in decision.set_aside.itertuples()],
        "requirements": requirements,
        "verdict": decision.verdict, "changes": list(decision.changes), "smoke": decision.smoke,
    }


def write(run_dir: Path, decisions: Iterable[Decision], run: dict[str, Any]) -> Path:
    """``<run_dir>/verdicts.json`` for ``decisions``."""
    path = run_dir / FILENAME
    data = {
        "schema_version": SCHEMA_VERSION, "run_id": run.get("run_id", run_dir.name), "profile": run.get("profile", "decision"),
        "written_at": now_iso(), "verdicts": [as_data(d) for d in decisions],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def read(where: Path) -> dict[str, Any]:
    """A run's ``verdicts.json`` (``where``: the run directory or the file itself); a
    ``FileNotFoundError`` or ``ValueError`` says why it cannot be read."""
    path = where / FILENAME if where.is_dir() else where
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION or not isinstance(data.get("verdicts"), list):
        raise ValueError(f"{path}: not a verdicts file of schema version {SCHEMA_VERSION}")
    return data


def main(argv: list[str] | None = None) -> int:
    """``python -m bench verdicts A B [--fail-on-change]``: each profile's outcome between two runs'
    verdicts (run directories or ``verdicts.json`` files); exit 1 on a changed verdict if asked, 2 when
    a file cannot be read."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench verdicts", description="Compare two runs' verdicts (a baseline you keep, and a new run)")
    parser.add_argument("a", type=Path, help="the earlier run: its directory or its verdicts.json")
    parser.add_argument("b", type=Path, help="the later run: its directory or its verdicts.json")
    parser.add_argument("--fail-on-change", action="store_true", help="exit 1 when a requirement profile chose differently")
    args = parser.parse_args(argv)
    try:
        found = changes(read(args.a), read(args.b))
    except (OSError, ValueError) as exc:
        print(f"python -m bench verdicts: {exc}", file=sys.stderr)
        return 2
    for change in found:
        print(f"{change['outcome']:<15} {change['title']}: {change['a']} -> {change['b']}")
    return 1 if args.fail_on_change and any(c["outcome"] == CHANGED for c in found) else 0


def changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Per requirement profile of either file: each run's choice and confidence, and ``outcome``
    (``same``, ``tie both times``, ``changed`` or ``missing`` when one run lacks the profile)."""
    by_a = {v["key"]: v for v in a["verdicts"]}
    by_b = {v["key"]: v for v in b["verdicts"]}
    out = []
    for key in dict.fromkeys([*by_a, *by_b]):
        va, vb = by_a.get(key), by_b.get(key)
        out.append({
            "key": key, "title": (va or vb or {}).get("title", key),
            "a": _said(va), "b": _said(vb), "outcome": _outcome(va, vb),
        })
    return out


def _said(verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return "not decided"
    if not verdict.get("choice"):
        return "none qualifies"
    sure = f", first in {verdict['confidence']:.0%}" if verdict.get("confidence") is not None else ""
    ties = f"; tied with {', '.join(t['label'] for t in verdict['ties'])}" if verdict.get("ties") else ""
    return f"{verdict['choice_label'] or verdict['choice']}{sure}{ties}"


def _outcome(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if a is None or b is None:
        return MISSING
    if a.get("choice") == b.get("choice"):
        return SAME
    tied_a = {a.get("choice"), *(t["engine"] for t in a.get("ties", []))}
    tied_b = {b.get("choice"), *(t["engine"] for t in b.get("ties", []))}
    if a.get("ties") and b.get("ties") and b.get("choice") in tied_a and a.get("choice") in tied_b:
        return TIE
    return CHANGED
