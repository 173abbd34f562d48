"""Reusable test cases: subclass ``EventStoreConformance`` once per backend."""
from .conformance import EventStoreConformance

__all__ = ["EventStoreConformance"]
