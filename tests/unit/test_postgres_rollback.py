"""Rollback and cancel safety of the Postgres adapter, on a real server.

A failure (an error, or a cancellation of the caller) injected before or after each
statement of each write path must leave the database exactly as it was, give the
session permit back, and throw the connection away. The audit found error paths
that did not roll back; these tests walk every path."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import trio
import trio_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.postgres import MigrationError, PostgresRepository, open_postgres_repository
from adapters.postgres.migrations import load_migrations
from adapters.postgres.pool import SessionPool, connector
from adapters.postgres.tx import Tx
from bot.domain import Job, JobStatus, JobStep, NewUpload
from bot.errors import PortError, ServiceUnavailable
from contract.pg_fixtures import (
    Admin,
    aio_loop,
    database_url,
    fresh_schema,
    pgbouncer_url,
    schema_snapshot,
    skip_unless_reachable,
)

__all__ = ["aio_loop"]  # fixture, imported for pytest

LIMIT = 2
T0 = datetime(2024, 11, 13, 12, 0, tzinfo=UTC)


def upload_msg(update_id: int, user_id: int = 1) -> NewUpload:
    return NewUpload(update_id, user_id, user_id, "en", f"file-{update_id}", f"u{update_id}", "d.csv", 10)


# ---------------------------------------------------------------- failure injection


@dataclass
class Plan:
    """What to do to one repository call: fail at its statement number ``at``."""

    at: int | None = None
    mode: str = "raise-before"  # or "raise-after", "cancel"
    scope: trio.CancelScope | None = None
    token: trio.lowlevel.TrioToken | None = None
    seen: int = 0
    fired: bool = False
    statements: list[str] = field(default_factory=list)


_plan: contextvars.ContextVar[Plan | None] = contextvars.ContextVar("plan", default=None)


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route every statement through the current task's Plan. The worker thread that
    runs a transaction copies the calling Trio task's context, so it sees the plan."""
    original = Tx.run

    async def run(self: Tx, query: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        plan = _plan.get()
        if plan is None:
            return await original(self, query, params)
        n = plan.seen
        plan.seen += 1
        plan.statements.append(query.strip().split()[0])
        if n == plan.at and plan.mode == "raise-before":
            plan.fired = True
            raise psycopg.OperationalError("injected before statement")
        if n == plan.at and plan.mode == "cancel":
            assert plan.scope is not None
            plan.fired = True
            # From the transaction's worker thread: the statement below must not run.
            trio.from_thread.run_sync(plan.scope.cancel, trio_token=plan.token)
        rows = await original(self, query, params)
        if n == plan.at and plan.mode == "raise-after":
            plan.fired = True
            raise psycopg.OperationalError("injected after statement")
        return rows

    monkeypatch.setattr(Tx, "run", run)


async def call_with(plan: Plan, op: Callable[[], Awaitable[object]]) -> BaseException | None:
    """Run ``op`` under ``plan``; the PortError it raised, or None."""
    token = _plan.set(plan)
    try:
        with trio.CancelScope() as scope:
            plan.scope, plan.token = scope, trio.lowlevel.current_trio_token()
            await op()
        if plan.mode == "cancel" and plan.fired:
            assert scope.cancelled_caught
    except PortError as exc:
        return exc
    finally:
        _plan.reset(token)
    return None


# ---------------------------------------------------------------- fixtures


@dataclass
class Pg:
    repo: PostgresRepository
    admin: Admin
    schema: str
    url: str
    clock: list[int] = field(default_factory=lambda: [0])

    def now(self) -> datetime:
        self.clock[0] += 1
        return T0 + timedelta(seconds=self.clock[0])

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return await schema_snapshot(self.admin, self.schema)

    def assert_pool_clean(self) -> None:
        assert self.repo.sessions_in_use == 0
        assert self.repo.pool.free_permits == LIMIT


@asynccontextmanager
async def open_pg() -> AsyncIterator[Pg]:
    """A repository on a fresh schema (inside a trio-asyncio loop)."""
    url = database_url()
    async with fresh_schema(url) as schema:
        admin = await Admin.open(url)
        repo = await open_postgres_repository(url, LIMIT, schema)
        try:
            yield Pg(repo, admin, schema, url)
        finally:
            with trio.CancelScope(shield=True):
                await repo.aclose()
                await admin.aclose()


@pytest.fixture
async def pg(aio_loop: None) -> AsyncIterator[Pg]:
    async with open_pg() as opened:
        yield opened


# ---------------------------------------------------------------- every write path


@dataclass
class World:
    """Rows the write paths act on, made before the failures start."""

    job: Job
    doomed: Job  # its upload is deleted by delete_upload
    next_update: int = 1000
    next_user: int = 500

    def update_id(self) -> int:
        self.next_update += 1
        return self.next_update

    def user_id(self) -> int:
        self.next_user += 1
        return self.next_user


async def make_world(pg: Pg) -> World:
    repo = pg.repo
    job = await repo.record_upload(upload_msg(1, 1), str(uuid.uuid4()), str(uuid.uuid4()), pg.now())
    doomed = await repo.record_upload(upload_msg(2, 1), str(uuid.uuid4()), str(uuid.uuid4()), pg.now())
    for n in (3, 4):
        await repo.record_upload(upload_msg(n, 2), str(uuid.uuid4()), str(uuid.uuid4()), pg.now())
    assert job is not None and doomed is not None
    await repo.start_attempt(doomed.job_id, 60.0)
    await repo.mark_stored(doomed.job_id, "1/doomed.csv")
    await repo.save_result(doomed.job_id, '{"n": 1}')
    return World(job, doomed)


Op = Callable[[Pg, World], Awaitable[object]]

WRITE_PATHS: dict[str, tuple[int, Op]] = {
    # name: (statements in the transaction, including the setup one; the call)
    "claim_update": (2, lambda pg, w: pg.repo.claim_update(w.update_id(), pg.now())),
    "upsert_user": (2, lambda pg, w: pg.repo.upsert_user(w.user_id(), "ru")),
    "set_user_language": (2, lambda pg, w: pg.repo.set_user_language(1, "ru")),
    "record_upload": (  # one statement: claim, user, upload and job
        2,
        lambda pg, w: pg.repo.record_upload(
            upload_msg(w.update_id(), 3), str(uuid.uuid4()), str(uuid.uuid4()), pg.now()
        ),
    ),
    "start_attempt": (2, lambda pg, w: pg.repo.start_attempt(w.job.job_id, 60.0)),
    "mark_stored": (2, lambda pg, w: pg.repo.mark_stored(w.job.job_id, "1/stored.csv")),
    "save_result": (2, lambda pg, w: pg.repo.save_result(w.job.job_id, '{"rows": 2}')),
    "finish_job": (
        2,
        lambda pg, w: pg.repo.finish_job(w.job.job_id, JobStatus.FAILED, JobStep.STORED, "boom"),
    ),
    "delete_upload": (2, lambda pg, w: pg.repo.delete_upload(1, w.doomed.upload_id)),
    "delete_user_data": (3, lambda pg, w: pg.repo.delete_user_data(2)),
}


@pytest.mark.parametrize("mode", ["raise-before", "raise-after", "cancel"])
@pytest.mark.parametrize("path", list(WRITE_PATHS))
async def test_failure_at_each_statement_leaves_nothing(pg: Pg, inject: None, path: str, mode: str) -> None:
    statements, op = WRITE_PATHS[path]
    world = await make_world(pg)
    for at in range(statements):
        before = await pg.snapshot()
        discarded = pg.repo.pool.discarded
        plan = Plan(at=at, mode=mode)
        error = await call_with(plan, lambda: op(pg, world))
        assert plan.fired, f"{path}: statement {at} never ran ({plan.statements})"
        if mode == "cancel":
            assert error is None
        else:
            assert isinstance(error, ServiceUnavailable) and "injected" in str(error)
        assert await pg.snapshot() == before, f"{path}: half-written after failure at statement {at}"
        assert pg.repo.pool.discarded == discarded + 1  # the connection was not reused
        pg.assert_pool_clean()
    # Without a failure the same call commits, and it did write something.
    before = await pg.snapshot()
    plan = Plan()
    assert await call_with(plan, lambda: op(pg, world)) is None
    assert plan.seen == statements, plan.statements
    assert await pg.snapshot() != before
    pg.assert_pool_clean()


async def test_connections_are_reused_when_clean(pg: Pg) -> None:
    opened = pg.repo.pool.opened
    for n in range(5):
        await pg.repo.upsert_user(n, "en")
    assert pg.repo.pool.opened == opened  # the one from the migration serves all
    assert pg.repo.pool.idle_count >= 1


# ---------------------------------------------------------------- migrations


async def test_failed_migration_leaves_no_tables(aio_loop: None, inject: None) -> None:
    url = database_url()
    async with fresh_schema(url) as schema:
        admin = await Admin.open(url)
        try:
            for at in range(9):  # the statements of the transaction applying 0001
                plan = Plan(at=at)
                token = _plan.set(plan)
                try:
                    with pytest.raises(ServiceUnavailable):
                        await open_postgres_repository(url, 1, schema)
                finally:
                    _plan.reset(token)
                assert plan.fired
                assert await schema_snapshot(admin, schema) == {}, f"tables left after failure at {at}"
            repo = await open_postgres_repository(url, 1, schema)
            await repo.aclose()
            snapshot = await schema_snapshot(admin, schema)
            shipped = [(m.version, m.name) for m in load_migrations()]
            assert [row[:2] for row in snapshot["schema_migrations"]] == shipped
        finally:
            await admin.aclose()


async def test_concurrent_migrations_apply_once(aio_loop: None) -> None:
    url = database_url()
    async with fresh_schema(url) as schema:
        repos = [PostgresRepository(SessionPool(connector(url), 1), schema=schema) for _ in range(4)]
        applied: list[int] = []

        async def migrate(repo: PostgresRepository) -> None:
            applied.extend(m.version for m in await repo.migrate())

        async with trio.open_nursery() as nursery:
            for repo in repos:
                nursery.start_soon(migrate, repo)
        for repo in repos:
            await repo.aclose()
        assert sorted(applied) == [m.version for m in load_migrations()]  # each once, by one of them


async def test_edited_migration_is_refused(pg: Pg) -> None:
    await pg.admin.rows(f'UPDATE "{pg.schema}".schema_migrations SET checksum = %s', ("edited",))
    with pytest.raises(MigrationError):
        await open_postgres_repository(pg.url, 1, pg.schema)


# ---------------------------------------------------------------- timeouts and outages


@pytest.fixture(params=["postgres", "pgbouncer"])
def via_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return database_url()
    skip_unless_reachable(pgbouncer_url(), "pgbouncer")
    return pgbouncer_url()


async def test_statement_timeout_is_a_port_error_and_discards_the_connection(
    aio_loop: None, via_url: str
) -> None:
    """Behind pgbouncer the startup ``options`` are dropped; the per-transaction
    setting must still apply."""
    url = via_url
    async with fresh_schema(url) as schema:
        repo = await open_postgres_repository(url, LIMIT, schema, statement_timeout_s=0.3)
        locker = await Admin.open(url, autocommit=False)
        try:
            await repo.upsert_user(1, "en")  # a clean connection in the pool
            idle, discarded = repo.pool.idle_count, repo.pool.discarded
            await locker.rows(f'LOCK TABLE "{schema}".users IN ACCESS EXCLUSIVE MODE')
            with trio.fail_after(30):  # a hang here is the failure being tested for
                with pytest.raises(ServiceUnavailable) as caught:
                    await repo.upsert_user(2, "en")
            assert "QueryCanceled" in str(caught.value) and "statement timeout" in str(caught.value)
            assert repo.pool.discarded == discarded + 1
            assert repo.pool.idle_count == idle - 1  # taken out, never put back
            assert repo.sessions_in_use == 0 and repo.pool.free_permits == LIMIT
            await locker.rows("ROLLBACK")
            await repo.upsert_user(2, "en")
            assert await repo.get_user_language(2) == "en"
        finally:
            await locker.aclose()
            await repo.aclose()


async def test_unreachable_server_is_service_unavailable(aio_loop: None) -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        await open_postgres_repository("postgresql://postgres@127.0.0.1:1/test", 1)
    assert caught.value.service == "postgres"


async def test_closed_repository_refuses_calls(pg: Pg) -> None:
    await pg.repo.aclose()
    assert pg.repo.pool.idle_count == 0
    with pytest.raises(ServiceUnavailable):
        await pg.repo.get_user_language(1)


# ---------------------------------------------------------------- the limiter under cancellation


@dataclass(frozen=True)
class Call:
    kind: str  # "record" or "save"
    target: int  # update id offset, or index of a prepared job
    cancel_at: int | None  # statement at which the caller is cancelled
    delay: float | None  # or a deadline (seconds) that may land anywhere


calls = st.builds(
    Call,
    kind=st.sampled_from(["record", "save"]),
    target=st.integers(0, 3),
    cancel_at=st.none() | st.integers(0, 5),
    delay=st.none() | st.floats(0, 0.01),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(calls, min_size=1, max_size=10))
async def test_cancellation_anywhere_leaks_nothing(inject: None, plan: list[Call]) -> None:
    # Async fixtures are not renewed per example: each example opens its own world.
    async with trio_asyncio.open_loop(), open_pg() as pg:
        await check_cancellations(pg, plan)


async def check_cancellations(pg: Pg, plan: list[Call]) -> None:
    repo = pg.repo
    jobs = []
    for n in range(4):
        job = await repo.record_upload(upload_msg(n), str(uuid.uuid4()), str(uuid.uuid4()), pg.now())
        assert job is not None
        jobs.append(job)

    async def one(i: int, call: Call) -> None:
        if call.kind == "record":
            update = 100 + i

            async def op() -> object:
                return await repo.record_upload(upload_msg(update), str(uuid.uuid4()), str(uuid.uuid4()), T0)
        else:
            job_id = jobs[call.target].job_id

            async def op() -> object:
                await repo.save_result(job_id, f'{{"by": {i}}}')
                return None

        with trio.move_on_after(call.delay if call.delay is not None else 60):
            await call_with(Plan(at=call.cancel_at, mode="cancel"), op)

    async with trio.open_nursery() as nursery:
        for i, call in enumerate(plan):
            nursery.start_soon(one, i, call)

    pg.assert_pool_clean()
    snap = await pg.snapshot()
    claimed = {row[0] for row in snap["processed_updates"]}
    uploads = {row[4]: row[0] for row in snap["uploads"]}  # file_unique_id -> upload id
    job_uploads = [row[1] for row in snap["jobs"]]
    assert sorted(job_uploads) == sorted(uploads.values())  # every upload has its one job
    assert {int(k[1:]) for k in uploads} == claimed  # and every claim its upload
    results = {row[0] for row in snap["results"]}
    for row in snap["jobs"]:
        assert (row[6] >= JobStep.ANALYSED) == (row[0] in results)  # step and result together
    await repo.upsert_user(77, "en")  # still serves
