"""Workload parameters, each declared once: a dataclass field with its default and its help text.

Everything else reads that declaration: the notebooks' parameters cells (a test holds them to it),
the notebooks' pass-through to the runner, ``python -m bench params``, and the checks on values
from ``--set``, YAML files and papermill's ``-p``, which arrive as strings such as ``"[1, 8]"``.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any

import yaml


class ParameterError(ValueError):
    """A parameter that is unknown, of the wrong type or out of range; the message names it."""


def param(default: Any, help: str) -> Any:
    """A ``Params`` field: its default and the one line of help every listing shows."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Parameter:
    """One declared parameter, as listings, notebooks and coercion see it."""

    name: str
    type: Any
    default: Any
    help: str

    @property
    def annotation(self) -> str:
        """The type as a notebook's parameters cell writes it: valid Python, and a form papermill parses."""
        return _annotation(self.type)

    def line(self) -> str:
        """``name: type = default  # help``, the line of a papermill parameters cell."""
        return f"{self.name}: {self.annotation} = {_literal(self.default)}  # {self.help}"

    def coerce(self, value: Any, owner: str) -> Any:
        """``value`` as this parameter's type, converted where unambiguous (a string holding a
        JSON/YAML value, an int for a float, a list for a tuple), else a ``ParameterError``."""
        try:
            return _convert(self.type, value)
        except _Mismatch:
            raise ParameterError(f"{owner}: parameter {self.name!r} expects {_describe(self.type)}, got {value!r}") from None


@dataclass(frozen=True)
class Params:
    """Parameters every workload has. Subclasses add theirs with ``param``, each sized for the report."""

    repetitions: int = param(3, "repetitions of every point; medians and bootstrap CIs are taken across them")
    seed: int = param(42, "seed of every random choice, so a run can be repeated")
    #: Cases run repetition by repetition, so a slow engine keeps every point of its first ones.
    budget_s: float | None = param(None, "seconds one engine may spend on this workload; later cases are recorded as skipped")
    #: An emulator or a naive design ranks nowhere: its row is shown, tagged, for what it teaches,
    #: so the time that would make its cells converge goes to the products that compete.
    reference_share: float = param(0.3, "share of budget_s an engine that competes for no verdict (an emulator, a naive design) may spend")

    @classmethod
    def parameters(cls) -> dict[str, Parameter]:
        """Every parameter, by name, in declaration order."""
        hints = typing.get_type_hints(cls)
        return {f.name: Parameter(f.name, hints[f.name], f.default, f.metadata["help"]) for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Params:
        """Build from plain values (YAML, ``--set``, notebook globals); unknown names and values of
        the wrong type are refused with a ``ParameterError``, never ignored."""
        values = dict(values or {})
        known = cls.parameters()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ParameterError(f"{cls.__qualname__}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(known)}")
        params = cls(**{name: known[name].coerce(value, cls.__qualname__) for name, value in values.items()})
        params.check()
        return params

    def check(self) -> None:
        """Refuse values of the right type but out of range, with a ``ParameterError``."""
        if self.repetitions < 1:
            raise ParameterError("repetitions must be >= 1")
        if self.budget_s is not None and self.budget_s <= 0:
            raise ParameterError("budget_s must be > 0 or None")
        if not 0 < self.reference_share <= 1:
            raise ParameterError("reference_share must be in (0, 1]")


@dataclass(frozen=True)
class ConvergingParams(Params):
    """Parameters of a workload whose points repeat until their figure is known (``Workload.converge_on``)."""

    max_repetitions: int = param(8, "a point whose 95 % CI is not yet within ±5 % of its median gets more repetitions, up to this many")
    matrix_max_repetitions: int = param(
        20, "... and a point the comparison matrix reads, on an engine that competes for a verdict, up to this many (measured first, engines in turn)",
    )

    def check(self) -> None:
        super().check()
        if self.max_repetitions < self.repetitions:
            raise ParameterError("max_repetitions must be >= repetitions")
        if self.matrix_max_repetitions < self.max_repetitions:
            raise ParameterError("matrix_max_repetitions must be >= max_repetitions")


class _Mismatch(Exception):
    """A value that does not fit a type; ``Parameter.coerce`` turns it into a ``ParameterError``."""


def _optional(kind: Any) -> Any | None:
    """``X`` for ``X | None``, else None."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return None


def _parse(text: str) -> Any:
    """A value written as text: JSON first (``1e3``, ``[1, 8]``), then YAML (``[a, b]``, ``None``)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise _Mismatch from None


def _convert(kind: Any, value: Any) -> Any:
    inner = _optional(kind)
    if inner is not None:
        return None if value is None or value == "None" else _convert(inner, value)
    if isinstance(value, str) and kind is not str:
        value = _parse(value)
        if isinstance(value, str):
            raise _Mismatch
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        items = args[:1] * len(value) if args[1:] == (Ellipsis,) else args
        if len(items) != len(value):
            raise _Mismatch
        return tuple(_convert(item, v) for item, v in zip(items, value, strict=True))
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in (int, str, bool) and type(value) is kind:
        return value
    raise _Mismatch


def _describe(kind: Any) -> str:
    """A type in words, for error messages: ``a list of int``, ``a list of 2 float``, ``float or None``."""
    inner = _optional(kind)
    if inner is not None:
        return f"{_describe(inner)} or None"
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if args[1:] == (Ellipsis,):
            return f"a list of {_describe(args[0])}"
        return f"a list of {len(args)} {_describe(args[0])}"
    return kind.__name__


def _annotation(kind: Any) -> str:
    inner = _optional(kind)
    if inner is not None:
        return _annotation(inner)  # papermill cannot parse ``X | None``; the help says what None means
    if typing.get_origin(kind) is tuple:
        return f"list[{_annotation(typing.get_args(kind)[0])}]"
    return kind.__name__


def _literal(value: Any) -> str:
    """``value`` as Python source, tuples written as lists (what papermill and YAML hand back)."""
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else repr(value)
