"""The SQL on the PostgreSQL store's hot paths, each built once per shape: the append statements of
``queries/`` with a batch's rows spelled out, the parameters a batch travels in, and the reads.

The store chooses which append statement a call needs (``append_statement``); this module decides
how the batch travels: up to ``INLINE_ROWS`` events as a VALUES list of scalar parameters, more as
four binary arrays. Benchmarks run these very statements.
"""
from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any

from psycopg import sql

from ..validation import PreparedEvent

_SELECT = (
    "SELECT stream_id, version, transaction_id::text::bigint, global_position, event_id, event_type,"
    " data, metadata, recorded_at FROM events"
)
_STREAM_FORWARDS = sql.SQL(f"{_SELECT} WHERE stream_id = %s AND version >= %s ORDER BY version")
_STREAM_BACKWARDS_FROM = sql.SQL(f"{_SELECT} WHERE stream_id = %s AND version <= %s ORDER BY version DESC")
_STREAM_BACKWARDS = sql.SQL(f"{_SELECT} WHERE stream_id = %s ORDER BY version DESC")
#: Batches up to this size send their events as a VALUES list of scalar parameters: adapting
#: Python lists to PostgreSQL arrays costs more than the rest of a one-event append.
INLINE_ROWS = 16
#: Larger batches send four arrays in binary (``%b``): the text form of an array quotes and escapes
#: every element, which for 100 events cost more client time than everything else in the append.
#: The JSON goes as text[] (already encoded, by validation) and becomes jsonb on the server.
_UNNEST = (
    "unnest(%(event_ids)b::uuid[], %(event_types)b::text[], %(data)b::text[]::jsonb[], %(metadata)b::text[]::jsonb[])"
    " WITH ORDINALITY AS b (event_id, event_type, data, metadata, n)"
)
#: Parameter names of the events of an inlined batch: i0, t0, d0, m0, i1, ...
_ROW_KEYS = [(f"i{n}", f"t{n}", f"d{n}", f"m{n}") for n in range(INLINE_ROWS)]


def _read_query(name: str) -> str:
    text = files(__package__).joinpath("queries", name).read_text()
    return "\n".join(line for line in text.splitlines() if not line.startswith("--"))


_APPEND = _read_query("append.sql")
_APPEND_AT = _read_query("append_at.sql")
_APPEND_AT_UNCHECKED = "\n".join(line for line in _APPEND_AT.splitlines() if not line.startswith("WHERE EXISTS"))
SAVE_CHECKPOINT = _read_query("save_checkpoint.sql")


@lru_cache(maxsize=128)
def _append_query(template: str, size: int) -> str:
    """An append statement with its ``{batch}`` rows spelled out for a batch of ``size`` events."""
    if size > INLINE_ROWS:
        return template.replace("{batch}", _UNNEST)
    rows = ", ".join(
        f"(%({i})s::uuid, %({t})s::text, %({d})s::jsonb, %({m})s::jsonb, {n + 1})"
        for n, (i, t, d, m) in enumerate(_ROW_KEYS[:size])
    )
    return template.replace("{batch}", f"(VALUES {rows}) AS b (event_id, event_type, data, metadata, n)")


def append_statement(size: int, *, after_current: bool = False, check_previous: bool = True) -> str:
    """The SQL of one append of ``size`` events, exactly as the store runs it, for benchmarks and for
    readers copying the design: at a known version (``NO_STREAM`` or an exact expected version; without
    ``check_previous`` once the store has seen the previous version stored) or, with ``after_current``,
    after whatever the stream holds (``ANY``, ``EXISTS``)."""
    template = _APPEND if after_current else _APPEND_AT if check_previous else _APPEND_AT_UNCHECKED
    return _append_query(template, size)


def append_params(stream_id: str, batch: list[PreparedEvent]) -> dict[str, Any]:
    """The parameters of ``append_statement(len(batch))`` but the version ones (``first``, ``expected``)."""
    params: dict[str, Any] = {"stream_id": stream_id}
    if len(batch) <= INLINE_ROWS:
        for (i, t, d, m), e in zip(_ROW_KEYS, batch, strict=False):
            params[i], params[t], params[d], params[m] = e.id, e.type, e.data_json, e.metadata_json
    else:
        params.update(
            event_ids=[e.id for e in batch],
            event_types=[e.type for e in batch],
            data=[e.data_json for e in batch],
            metadata=[e.metadata_json for e in batch],
        )
    return params


def read_stream_query(stream_id: str, from_version: int, backwards: bool) -> tuple[sql.SQL, list[Any]]:
    """One stream's events from ``from_version`` on (backwards: down from it; 0 is the newest)."""
    if not backwards:
        return _STREAM_FORWARDS, [stream_id, from_version]
    if from_version:
        return _STREAM_BACKWARDS_FROM, [stream_id, from_version]
    return _STREAM_BACKWARDS, [stream_id]



@lru_cache(maxsize=64)
def read_all_query(where: tuple[str, ...], order: str) -> sql.SQL:
    """A ``read_all`` query, composed once per shape: composing it costs more than reading one event."""
    condition = " WHERE " + " AND ".join(where) if where else ""
    return sql.SQL(f"{_SELECT}{condition}{order}")
