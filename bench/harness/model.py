"""The aggregate the workloads drive: a register whose next value depends on its current one.

A command sets ``value = current + 1``, so a decision taken on stale state is visible afterwards:
two writers that both saw 7 both write 8, and the final value is one short of the number of
successful commands (a lost update). A plain ``+1`` delta would hide that, because both deltas
would still be summed. ``padding`` sizes the snapshot state for the snapshot workload.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventstore import Aggregate, NewEvent


class Register(Aggregate):
    category = "Register"

    def __init__(self, id: str, padding: str = "") -> None:
        super().__init__(id)
        self.value = 0
        self.applied = 0
        self.padding = padding

    def apply(self, type: str, data: dict[str, Any]) -> None:
        self.value = data["value"]
        self.applied += 1

    def snapshot_state(self) -> dict[str, Any]:
        return {"value": self.value, "applied": self.applied, "padding": self.padding}

    def restore(self, state: dict[str, Any]) -> None:
        self.value = state["value"]
        self.applied = state["applied"]
        self.padding = state["padding"]


def increment(register: Register) -> list[NewEvent]:
    """The command: decide the next value from the current state."""
    return [NewEvent("Incremented", {"value": register.value + 1})]


def factory(state_bytes: int = 0) -> Callable[[str], Register]:
    """A factory for ``Repository`` whose snapshots carry ``state_bytes`` of padding."""
    padding = "x" * state_bytes
    return lambda id: Register(id, padding)
