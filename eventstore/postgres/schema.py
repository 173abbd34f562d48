"""Applies the plain SQL files in ``sql/`` in order. Every file is idempotent on its own, so a
reader can also apply them by hand (``psql -f``); this records which ones ran and serialises
concurrent openers of the same schema with an advisory lock."""
from __future__ import annotations

from importlib.resources import files
from typing import Any

import psycopg

SQL_DIR = files(__package__).joinpath("sql")


def scalar(cursor: psycopg.Cursor[Any]) -> Any:
    """The value of a statement that returns exactly one row of one column (``SHOW``, ``SELECT f()``)."""
    row = cursor.fetchone()
    assert row is not None, "the statement returns one row"
    return row[0]


def migration_files() -> list[tuple[str, str]]:
    """``(name, sql)`` pairs in the order they must be applied."""
    return sorted((f.name, f.read_text()) for f in SQL_DIR.iterdir() if f.name.endswith(".sql"))


def migrate(conn: psycopg.Connection) -> list[str]:
    """Bring the connection's current schema up to date; returns the names of the files applied."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('eventstore:' || current_schema()))")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        for name, text in migration_files():
            if name in done:
                continue
            conn.execute(text.encode())
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
            applied.append(name)
    return applied
