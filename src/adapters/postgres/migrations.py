"""Versioned schema migrations: ``sql/NNNN_name.sql``, applied in order at start.

Each pending migration runs in its own transaction together with its row in
``schema_migrations``, under a transaction-level advisory lock keyed by the
schema, so several bot processes starting at once apply each migration exactly
once (the others wait, then find it applied). Transaction-level locks work behind
pgbouncer in transaction mode, where session-level ones would not.

An applied migration whose file has since changed is refused (checksum), because
the database would no longer match what the code expects.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from adapters.postgres.tx import Tx

_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """The migration files or the recorded history are inconsistent."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The migrations shipped in ``adapters/postgres/sql``, by version."""
    found: list[Migration] = []
    for entry in resources.files("adapters.postgres").joinpath("sql").iterdir():
        match = _FILE_RE.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions must be 1..n without gaps, found {versions}")
    return found


_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('csvbot.migrations:' || %s))"
_HISTORY_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


def schema_sql(schema: str) -> str:
    """CREATE SCHEMA for a name already checked by :func:`check_schema_name`."""
    return f'CREATE SCHEMA IF NOT EXISTS "{schema}"'


_SCHEMA_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(schema: str) -> str:
    """Schema names are interpolated into DDL, so only plain identifiers pass."""
    if not _SCHEMA_NAME_RE.match(schema):
        raise ValueError(f"invalid schema name {schema!r}: use lowercase letters, digits and _")
    return schema


async def apply_next(tx: Tx, schema: str | None, migrations: list[Migration]) -> Migration | None:
    """In one transaction (asyncio side): apply the first pending migration.

    Returns it, or None when everything is applied. The caller runs this until None.
    """
    key_row = await tx.one("SELECT coalesce(%s, current_schema())", (schema,))
    key = str(key_row[0]) if key_row else ""
    await tx.run(_LOCK_SQL, (key,))
    if schema is not None:
        await tx.run(schema_sql(schema))
        await tx.run("SELECT set_config('search_path', %s, true)", (f'"{schema}"',))
    await tx.run(_HISTORY_SQL)
    applied = {int(v): str(c) for v, c in await tx.run("SELECT version, checksum FROM schema_migrations")}
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is None:
            await tx.run(migration.sql)
            await tx.run(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            return migration
        if recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} changed after it was applied"
            )
    return None


__all__ = ["Migration", "MigrationError", "apply_next", "check_schema_name", "load_migrations", "schema_sql"]
