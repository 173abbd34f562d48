"""Session-wide engines: each is started once, on first use, and stopped at the end."""
from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A PostgreSQL server: ``EVENTSTORE_POSTGRES_DSN`` if set, else a throwaway one of our own."""
    from services.postgres import postgres_for_tests

    with postgres_for_tests(durable=False) as dsn:
        yield dsn
