"""The Repository port on Postgres: psycopg's AsyncConnection through trio-asyncio,
with versioned migrations and a session limiter."""

from adapters.postgres.migrations import MigrationError
from adapters.postgres.repository import PostgresRepository, open_postgres_repository

__all__ = ["MigrationError", "PostgresRepository", "open_postgres_repository"]
