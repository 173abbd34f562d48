"""The textbook design over the reference schema, kept runnable so the workbench can show its losses.

Positions are the plain ``global_position`` sequence values: assigned at INSERT, visible at COMMIT.
A subscriber that checkpoints the highest position it has seen skips any event whose transaction
commits later with a lower position. Only reading differs from the reference; appends are the same.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..events import Position
from ..store import EventStore
from .store import LIMITATIONS, REFERENCE_CAPABILITIES, PostgresStore

NAIVE_CAPABILITIES = replace(
    REFERENCE_CAPABILITIES,
    gap_safe_global_order=False,
    limitations=(
        "NAIVE MODE: positions are sequence values, assigned at insert but visible at commit. A "
        "subscriber that checkpoints the highest position it has seen skips any event whose "
        "transaction commits later with a lower position: events are lost under concurrent writers.",
        *LIMITATIONS,
    ),
)


class NaivePostgresStore(PostgresStore):
    mode = "naive"
    capabilities = NAIVE_CAPABILITIES

    def _position(self, transaction_id: int, global_position: int) -> Position:
        return global_position

    def _after(self, after: Position | None) -> tuple[list[str], list[Any], str]:
        if after is None:
            return [], [], " ORDER BY global_position"
        return ["global_position > %s"], [after], " ORDER BY global_position"

    def _check_position(self, after: object) -> Position | None:
        return EventStore._check_position(self, after)

    def _checkpoint_columns(self, position: Position) -> tuple[int | None, int]:
        assert isinstance(position, int)  # the default _check_position admits ints only
        return None, position

    def _checkpoint_position(self, name: str, transaction_id: int | None, global_position: int) -> Position:
        return global_position
