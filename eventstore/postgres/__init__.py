"""``postgresql://``: the reference backend; its schema in ``sql/`` is the part people copy."""
from .naive import NAIVE_CAPABILITIES, NaivePostgresStore
from .schema import migrate, migration_files
from .store import REFERENCE_CAPABILITIES, PostgresStore, new_schema_name

__all__ = [
    "NAIVE_CAPABILITIES", "NaivePostgresStore", "PostgresStore", "REFERENCE_CAPABILITIES", "migrate", "migration_files",
    "new_schema_name",
]
