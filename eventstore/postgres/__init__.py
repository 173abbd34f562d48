"""``postgresql://``: the reference backend; its schema in ``sql/`` is the part people copy."""
from .schema import migrate, migration_files
from .store import MODES, NAIVE_CAPABILITIES, REFERENCE_CAPABILITIES, PostgresStore, new_schema_name

__all__ = ["MODES", "NAIVE_CAPABILITIES", "REFERENCE_CAPABILITIES", "PostgresStore", "migrate", "migration_files", "new_schema_name"]
