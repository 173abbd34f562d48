"""How sure a decision is: its cells redrawn from their repetitions, and the ranking decided again.

Each resample redraws every matrix cell the scores read: a cell measured over repetitions takes the
median of a bootstrap draw of its repetitions, the same draw of repetition numbers for every engine
of a column (engines measured in turn share a round per repetition, so what drifted in a round moves
them together); a cell whose figure carries its own CI but no repetitions to draw (a snapshot
speed-up from paired loads) is drawn from a normal distribution of that CI; a count is exact. The
ranking is then decided again. The choice's confidence is the share of resamples in which it comes
first; an engine that comes before the choice in more than ``TIE_SHARE`` of them is tied with it, and
the column whose uncertainty moves their order most is the measurement that would separate them.
"""
from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: An engine that outranks the choice in more than this share of resamples is tied with it.
TIE_SHARE = 0.10
#: Resamples per decision: the share a choice wins is known to about ±2 % (binomial, at 90 %).
RESAMPLES = 400

Grid = dict[tuple[str, str], dict[str, Any]]
Score = Callable[[Grid], dict[str, float]]


@dataclass(frozen=True)
class Tie:
    """An engine whose order with the choice flips too often, and what would separate them."""

    name: str
    engine: str
    ahead: float  # share of resamples in which it ranks before the choice
    separate: str  # the measurement that would separate them, in a sentence


@dataclass(frozen=True)
class Confidence:
    """Share of resamples each candidate ranks first in, the choice's share, and its ties."""

    resamples: int
    first: Mapping[str, float]
    share: float
    ties: tuple[Tie, ...] = field(default_factory=tuple)

    @property
    def robust(self) -> bool:
        """The choice comes first in at least 1 - ``TIE_SHARE`` of the resamples, and nothing ties with it."""
        return self.share >= 1.0 - TIE_SHARE and not self.ties


def assess(grid: Grid, candidates: list[str], score: Score, labels: Mapping[str, str], *, resamples: int = RESAMPLES, seed: int = 0) -> Confidence | None:
    """The confidence of ranking ``candidates`` by ``score`` over ``grid``; None with fewer than one candidate."""
    if not candidates:
        return None
    base = score(grid)
    choice = max(candidates, key=lambda n: base.get(n, 0.0))
    rng = random.Random(seed)
    firsts = dict.fromkeys(candidates, 0)
    ahead = dict.fromkeys(candidates, 0)
    gaps: dict[str, list[tuple[float, dict[str, float]]]] = {n: [] for n in candidates if n != choice}
    for _ in range(resamples):
        trial = redraw(grid, rng)
        scores = score(trial)
        firsts[max(candidates, key=lambda n: scores.get(n, 0.0))] += 1
        for name in gaps:
            ahead[name] += scores.get(name, 0.0) >= scores.get(choice, 0.0)
            gaps[name].append((scores.get(choice, 0.0) - scores.get(name, 0.0), _column_values(trial, choice, name)))
    ties = tuple(
        Tie(name, labels.get(name, name), ahead[name] / resamples, _separate(grid, choice, name, gaps[name], labels))
        for name in sorted(gaps, key=lambda n: -ahead[n]) if ahead[name] / resamples > TIE_SHARE
    )
    return Confidence(resamples, {n: firsts[n] / resamples for n in candidates}, firsts[choice] / resamples, ties)


def redraw(grid: Grid, rng: random.Random) -> Grid:
    """``grid`` with every cell redrawn once (see the module's docstring)."""
    out: Grid = {}
    draws: dict[str, list[int]] = {}
    for (name, key), cell in grid.items():
        value = cell["value"]
        samples: dict[int, float] = cell.get("samples") or {}
        if value != value:
            out[(name, key)] = cell
            continue
        if len(samples) >= 2:
            if key not in draws:
                rounds = sorted({r for (n, k), c in grid.items() if k == key for r in (c.get("samples") or {})})
                draws[key] = rng.choices(rounds, k=len(rounds))
            picked = [samples[r] for r in draws[key] if r in samples] or rng.choices(list(samples.values()), k=len(samples))
            centre = statistics.median(samples.values())
            drawn = statistics.median(picked) * (value / centre) if centre else statistics.median(picked)
        elif cell.get("ci_low") == cell.get("ci_low") and cell.get("ci_high") == cell.get("ci_high") and cell["ci_high"] > cell["ci_low"]:
            drawn = max(0.0, rng.gauss(value, (cell["ci_high"] - cell["ci_low"]) / (2 * 1.96)))
        else:
            drawn = value
        out[(name, key)] = {**cell, "value": drawn}
    return out


def _column_values(grid: Grid, a: str, b: str) -> dict[str, float]:
    """Per column key, ``a``'s value over ``b``'s (where both have one)."""
    out = {}
    for (name, key), cell in grid.items():
        other = grid.get((b, key))
        if name == a and other is not None and cell["value"] == cell["value"] and other["value"] == other["value"] and other["value"]:
            out[key] = cell["value"] / other["value"]
    return out


def _separate(grid: Grid, choice: str, other: str, gaps: list[tuple[float, dict[str, float]]], labels: Mapping[str, str]) -> str:
    """The column whose redrawn ratio between the two moves their score gap most (the largest
    correlation with it), and what the two measured there, in a sentence."""
    keys = sorted({k for _, ratios in gaps for k in ratios})
    best, strength = None, 0.0
    for key in keys:
        pairs = [(gap, ratios[key]) for gap, ratios in gaps if key in ratios]
        if len(pairs) < 3:
            continue
        xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
        if statistics.pstdev(xs) == 0 or statistics.pstdev(ys) == 0:
            continue
        r = abs(statistics.correlation(xs, ys))
        if r > strength:
            best, strength = key, r
    a, b = labels.get(choice, choice), labels.get(other, other)
    if best is None:
        return f"no single measurement separates {a} and {b}: their scores differ by less than the noise of every column"
    cells = grid[(choice, best)], grid[(other, best)]
    widths = [_ci_words(c) for c in cells]
    ratio = paired_ratio(cells[0], cells[1])
    per_round = f"; per round, {a}/{b} = {ratio}" if ratio else ""
    return (f"{cells[0]['column']}: {a} {_number(cells[0]['value'])} {widths[0]}, {b} {_number(cells[1]['value'])} {widths[1]}{per_round}; "
            "a narrower CI there (more repetitions, a quieter machine) would separate them")


def paired_ratio(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """``a / b`` per repetition both measured (a round, where engines ran in turn): the median ratio and
    its bootstrap 95 % CI in words; None without two shared repetitions."""
    shared = sorted(set(a.get("samples") or {}) & set(b.get("samples") or {}))
    if len(shared) < 2:
        return None
    ratios = [a["samples"][r] / b["samples"][r] for r in shared if b["samples"][r]]
    if len(ratios) < 2:
        return None
    rng = random.Random(0)
    draws = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(1000))
    return f"{statistics.median(ratios):.3g} (95 % CI {draws[25]:.3g}–{draws[974]:.3g}, {len(ratios)} rounds)"


def _ci_words(cell: Mapping[str, Any]) -> str:
    low, high, value = cell.get("ci_low"), cell.get("ci_high"), cell["value"]
    if low is None or high is None or low != low or high != high or not value:
        return "(no CI)"
    return f"(±{max(high - value, value - low) / abs(value):.0%})"


def _number(value: float) -> str:
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def words(confidence: Confidence | None, labels: Mapping[str, str]) -> str:
    """The confidence of a ranking in a sentence, for the verdict."""
    if confidence is None:
        return ""
    share = f"{confidence.share:.0%} of {confidence.resamples} resamples of its measurements"
    if confidence.robust:
        return f"It comes first in {share}."
    others = ", ".join(f"{t.engine} ({t.ahead:.0%})" for t in confidence.ties)
    tail = f" Not robust: tied with {others}, which rank(s) at least level with it that often." if confidence.ties else " Not robust."
    return f"It comes first in only {share}.{tail}"

