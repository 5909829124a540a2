"""Fixtures and helpers for the Repository tests (import them explicitly).

- ``aio_loop``: the trio-asyncio loop every psycopg call needs.
- ``backend``: one Repository implementation per parameter (real Postgres, the same
  behind pgbouncer in transaction mode, MemoryRepository), on a fresh schema that is
  dropped afterwards, with the hooks the contract suite needs to look inside.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import psycopg
import psycopg.waiting
import pytest
import trio
import trio_asyncio
from psycopg.rows import TupleRow

from adapters.asyncio_bridge import aio, rebind_running_loop
from adapters.postgres import PostgresRepository, open_postgres_repository
from sim.fakes.clock import database_now
from sim.fakes.repository import MemoryRepository

# The side connection is psycopg's asyncio one, through trio-asyncio; its waiting loop
# looks the running loop up through a name it imported from asyncio.
rebind_running_loop(psycopg.waiting)


def database_url() -> str:
    """Read when used: tests/conftest.py may point DATABASE_URL at an embedded server."""
    return os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"


def pgbouncer_url() -> str:
    return os.environ.get("PGBOUNCER_URL") or "postgresql://postgres@127.0.0.1:6432/test"


SESSION_LIMIT = 3
TABLES = ("users", "uploads", "jobs", "results", "processed_updates", "admin_audit")


@pytest.fixture
async def aio_loop() -> AsyncIterator[None]:
    async with trio_asyncio.open_loop():
        yield


# ---------------------------------------------------------------- a side connection


class Admin:
    """A separate direct connection, outside the repository under test."""

    def __init__(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        self.conn = conn

    @classmethod
    async def open(cls, url: str, *, autocommit: bool = True) -> Admin:
        conn: psycopg.AsyncConnection[TupleRow] = await aio(
            psycopg.AsyncConnection.connect, url, autocommit=autocommit, connect_timeout=5
        )
        conn.prepare_threshold = None  # pgbouncer in transaction mode: no prepared statements
        return cls(conn)

    async def rows(self, query: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        async def run() -> list[tuple[Any, ...]]:
            cur = await self.conn.execute(query, params)
            return list(await cur.fetchall()) if cur.description is not None else []

        return await aio(run)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await aio(self.conn.close)


def skip_unless_reachable(url: str, what: str) -> None:
    """Skip the test with the reason if ``url`` does not answer. Synchronous on purpose:
    pytest-trio drops the reason of a skip raised in async code."""
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pytest.skip(f"{what} not reachable at {url} ({reason}); start it: bash scripts/pgbouncer.sh start")


@asynccontextmanager
async def fresh_schema(url: str) -> AsyncIterator[str]:
    """A new empty schema in the database at ``url``, dropped (cascade) afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await Admin.open(url)
    try:
        await admin.rows(f'CREATE SCHEMA "{name}"')
        yield name
    finally:
        with trio.CancelScope(shield=True):
            await admin.rows(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            await admin.aclose()


async def schema_snapshot(admin: Admin, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the schema, in a stable order."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    for table in (*TABLES, "schema_migrations"):
        exists = await admin.rows("SELECT to_regclass(%s)", (f'"{schema}".{table}',))
        if exists[0][0] is None:
            continue
        rows = await admin.rows(f'SELECT * FROM "{schema}".{table}')
        snapshot[table] = sorted(rows, key=repr)
    return snapshot


async def schema_counts(admin: Admin, schema: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in TABLES:
        counts[table] = int((await admin.rows(f'SELECT count(*) FROM "{schema}".{table}'))[0][0])
    return counts


# ---------------------------------------------------------------- backends


class Gate:
    """Holds MemoryRepository sessions open while closed (the in-memory stand-in for a
    table lock held by another transaction)."""

    def __init__(self) -> None:
        self._open = trio.Event()
        self._open.set()
        self.hold_s = 0.0  # time each session is held, like a query's duration

    async def __call__(self, method: str) -> None:
        await self._open.wait()
        if self.hold_s:
            await trio.sleep(self.hold_s)

    def close(self) -> None:
        if self._open.is_set():
            self._open = trio.Event()

    def open(self) -> None:
        self._open.set()


class Backend:
    """One Repository implementation plus the means to observe it from outside."""

    def __init__(
        self,
        name: str,
        repo: PostgresRepository | MemoryRepository,
        *,
        schema: str | None = None,
        admin: Admin | None = None,
        gate: Gate | None = None,
        application_name: str = "",
        url: str = "",
    ) -> None:
        self.name = name
        self.url = url
        self.repo = repo
        self.schema = schema
        self.admin = admin
        self.gate = gate
        self.application_name = application_name

    @property
    def is_postgres(self) -> bool:
        return isinstance(self.repo, PostgresRepository)

    async def db_now(self) -> datetime:
        """The database's clock, the one leases are stamped and judged on."""
        if isinstance(self.repo, MemoryRepository):
            return database_now()
        assert self.admin is not None
        return (await self.admin.rows("SELECT now()"))[0][0]  # type: ignore[no-any-return]

    async def backdate_job(self, job_id: str, seconds: float) -> None:
        """As if the job had last been touched ``seconds`` earlier on the database's clock:
        how a test lets a lease run out without waiting (the clock itself cannot be set)."""
        if isinstance(self.repo, MemoryRepository):
            self.repo.backdate_job(job_id, seconds)
            return
        assert self.admin is not None and self.schema is not None
        await self.admin.rows(
            f'UPDATE "{self.schema}".jobs SET updated_at = updated_at - make_interval(secs => %s) '
            "WHERE id = %s",
            (seconds, uuid.UUID(job_id)),
        )

    async def counts(self) -> dict[str, int]:
        if isinstance(self.repo, MemoryRepository):
            return self.repo.counts()
        assert self.admin is not None and self.schema is not None
        counts = await schema_counts(self.admin, self.schema)
        del counts["admin_audit"]
        return counts

    def free_permits(self) -> int | None:
        if isinstance(self.repo, MemoryRepository):
            return self.repo.free_permits
        return self.repo.pool.free_permits

    @asynccontextmanager
    async def sessions_blocked_on_users(self) -> AsyncIterator[None]:
        """While inside, any repository transaction touching ``users`` waits."""
        if self.gate is not None:
            self.gate.close()
            try:
                yield
            finally:
                self.gate.open()
            return
        assert self.schema is not None
        locker = await Admin.open(self.url, autocommit=False)
        try:
            await locker.rows(f'LOCK TABLE "{self.schema}".users IN ACCESS EXCLUSIVE MODE')
            yield
        finally:
            with trio.CancelScope(shield=True):
                await aio(locker.conn.rollback)
                await locker.aclose()

    async def server_sessions_waiting(self) -> int | None:
        """Backends of this repository waiting on a lock, seen by the server
        (None where that cannot be told: in memory, or behind pgbouncer)."""
        if self.name != "postgres":
            return None
        assert self.admin is not None
        rows = await self.admin.rows(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            (self.application_name,),
        )
        return int(rows[0][0])


BACKENDS = ("postgres", "pgbouncer", "memory")


@asynccontextmanager
async def open_backend(name: str, session_limit: int = SESSION_LIMIT) -> AsyncIterator[Backend]:
    if name == "memory":
        gate = Gate()
        yield Backend(name, MemoryRepository(session_limit, in_session=gate), gate=gate)
        return
    # Schema set-up and inspection go the same way as the repository (through pgbouncer
    # for that backend), so both surely see one database.
    url = database_url() if name == "postgres" else pgbouncer_url()
    app = f"csvbot-test-{uuid.uuid4().hex[:8]}"
    async with fresh_schema(url) as schema:
        admin = await Admin.open(url)
        try:
            repo = await open_postgres_repository(url, session_limit, schema, application_name=app)
            try:
                yield Backend(name, repo, schema=schema, admin=admin, application_name=app, url=url)
            finally:
                with trio.CancelScope(shield=True):
                    await repo.aclose()
        finally:
            await admin.aclose()


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if name == "pgbouncer":
        skip_unless_reachable(pgbouncer_url(), "pgbouncer")
    return name


@pytest.fixture
async def backend(backend_name: str, aio_loop: None) -> AsyncIterator[Backend]:
    async with open_backend(backend_name) as b:
        yield b


__all__ = [
    "BACKENDS",
    "SESSION_LIMIT",
    "TABLES",
    "Admin",
    "Backend",
    "Gate",
    "aio_loop",
    "backend",
    "backend_name",
    "database_url",
    "fresh_schema",
    "open_backend",
    "pgbouncer_url",
    "schema_counts",
    "schema_snapshot",
    "skip_unless_reachable",
]
