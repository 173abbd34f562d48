"""A persistence module of the ``eventsourcing`` library (9.5.6) over this project's store.

    PERSISTENCE_MODULE=eventstore.eventsourcing_persistence
    EVENTSTORE_URL=postgresql://user@host:port/db?schema=NAME    (or sqlite:///path.db)

The library finds the one ``InfrastructureFactory`` subclass here (``Factory``). README.md beside
this file says how the library's contract maps onto the store and where it differs.
"""
from __future__ import annotations

from .factory import Factory

__all__ = ["Factory"]
