"""Start and stop real engines (PostgreSQL, moto) locally for tests and benchmarks."""

from services.base import ServiceUnavailable
from services.moto import MotoServer
from services.postgres import PostgresServer, postgres_for_tests

__all__ = ["MotoServer", "PostgresServer", "ServiceUnavailable", "postgres_for_tests"]
