"""The retention sweep (bot.retention) on real Postgres with the local blob store, and on
the simulator's in-memory twins: expired data goes, files first, in batches; young
data and anything in flight stays; a file that will not go keeps its row."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

from adapters.local_blobs import LocalBlobStore
from bot.blob_keys import blob_key
from bot.domain import Job, JobStatus, JobStep, NewUpload
from bot.errors import ServiceUnavailable
from bot.guard import Guard
from bot.log import Logger
from bot.metrics import MetricsRecorder
from bot.ports import BlobStore, Repository
from bot.retention import Keeper, sweep_forever, sweep_once
from bot.settings import Settings
from contract.pg_fixtures import aio_loop, open_backend
from sim.fakes.blobs import MemoryBlobStore
from sim.fakes.repository import MemoryRepository

__all__ = ["aio_loop"]  # fixture, imported for pytest

T0 = datetime(2024, 11, 13, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at

    def new_id(self) -> uuid.UUID:
        return uuid.uuid4()

    def random(self) -> float:
        return 0.5


@dataclass
class ListSink:
    records: list[tuple[int, str, dict[str, object]]] = field(default_factory=list)

    def emit(self, level: int, event: str, fields: dict[str, object]) -> None:
        self.records.append((level, event, fields))

    def events(self) -> list[str]:
        return [event for _, event, _ in self.records]


@dataclass
class World:
    repo: Repository
    blobs: BlobStore
    clock: FixedClock
    sink: ListSink

    def keeper(self, **settings: object) -> Keeper:
        merged = Settings().model_copy(update={"retention_batch": 2, **settings})
        log = Logger(self.sink)
        return Keeper(self.repo, self.blobs, Guard(merged, MetricsRecorder()), self.clock, log, merged)

    async def upload(self, update_id: int, user_id: int, when: datetime, name: str = "data.csv") -> Job:
        new = NewUpload(update_id, user_id, user_id, "en", f"f{update_id}", f"u{update_id}", name, 10)
        job = await self.repo.record_upload(new, str(uuid.uuid4()), str(uuid.uuid4()), when)
        assert job is not None
        return job

    async def finish(self, job: Job, when: datetime, *, stored: bool = True, recorded: bool = True) -> str:
        """A job run to the end: its file in storage (and named by its row when ``recorded``)."""
        key = blob_key(job.user_id, job.upload_id, job.file_name)
        await self.repo.start_attempt(job.job_id, 60)
        if stored:
            await self.blobs.put(key, b"a,b\n1,2\n")
        if recorded:
            await self.repo.mark_stored(job.job_id, key)
            await self.repo.save_result(job.job_id, "{}")
        await self.repo.finish_job(job.job_id, JobStatus.DONE, JobStep.DELIVERED, None)
        return key


@pytest.fixture(params=["memory", "postgres"])
async def world(request: pytest.FixtureRequest, tmp_path: Path, aio_loop: None) -> AsyncIterator[World]:
    clock = FixedClock(T0 + 40 * DAY)
    if request.param == "memory":
        yield World(MemoryRepository(4), MemoryBlobStore(), clock, ListSink())
        return
    async with open_backend("postgres") as backend:
        yield World(backend.repo, LocalBlobStore(tmp_path / "blobs"), clock, ListSink())


async def test_expired_data_goes_files_first_young_and_in_flight_stay(world: World) -> None:
    old = [await world.upload(n, user_id=7, when=T0 + n * timedelta(hours=1)) for n in range(1, 6)]
    keys = [await world.finish(job, T0 + DAY) for job in old[:4]]
    # Stored, but the row was never told (the job ended between the two): found by its shape.
    unrecorded = await world.finish(old[4], T0 + DAY, recorded=False)
    queued = await world.upload(10, user_id=7, when=T0)  # oldest of all, but waiting for a worker
    young = await world.upload(11, user_id=8, when=T0 + 35 * DAY)
    young_key = await world.finish(young, T0 + 35 * DAY)

    tally = await sweep_once(world.keeper())  # 30 days by default; batches of 2

    assert (tally.uploads_deleted, tally.skipped, tally.errors) == (5, 0, [])
    assert await world.blobs.list_keys("") == [young_key]
    for job, key in zip(old, [*keys, unrecorded], strict=True):
        assert await world.repo.get_job(job.job_id) is None
        assert await world.repo.get_result(job.job_id) is None
        assert key not in await world.blobs.list_keys("7/")
    assert await world.repo.get_job(queued.job_id) is not None
    assert await world.repo.get_result(young.job_id) is not None
    assert "retention.blob_delete_failed" not in world.sink.events()
    assert (await sweep_once(world.keeper())).uploads_deleted == 0  # nothing left to do


async def test_a_shorter_window_takes_more(world: World) -> None:
    job = await world.upload(1, user_id=7, when=T0 + 39 * DAY)
    await world.finish(job, T0 + 39 * DAY)
    assert (await sweep_once(world.keeper())).uploads_deleted == 0
    assert (await sweep_once(world.keeper(data_retention_days=0.5))).uploads_deleted == 1


class FlakyBlobs:
    """A blob store whose deletes of some keys fail, as an unreachable storage would."""

    def __init__(self, inner: BlobStore, failing: set[str]) -> None:
        self.inner = inner
        self.failing = failing

    async def put(self, key: str, data: bytes, content_type: str = "text/csv") -> None:
        await self.inner.put(key, data, content_type)

    async def get(self, key: str) -> bytes:
        return await self.inner.get(key)

    async def delete(self, key: str) -> None:
        if key in self.failing:
            raise ServiceUnavailable("storage", "connection refused")
        await self.inner.delete(key)

    async def list_keys(self, prefix: str) -> list[str]:
        return await self.inner.list_keys(prefix)


async def test_a_file_that_will_not_go_keeps_its_row_for_the_next_pass(world: World) -> None:
    stuck = await world.upload(1, user_id=7, when=T0)
    stuck_key = await world.finish(stuck, T0)
    other = await world.upload(2, user_id=7, when=T0)
    await world.finish(other, T0)
    flaky = FlakyBlobs(world.blobs, {stuck_key})
    world.blobs = flaky

    tally = await sweep_once(world.keeper())
    assert (tally.uploads_deleted, tally.skipped, len(tally.errors)) == (1, 1, 1)
    assert await world.repo.get_job(stuck.job_id) is not None  # no file without its row
    assert await world.repo.get_job(other.job_id) is None
    assert await flaky.list_keys("") == [stuck_key]
    assert "retention.blob_delete_failed" in world.sink.events()

    flaky.failing.clear()  # storage is back
    assert (await sweep_once(world.keeper())).uploads_deleted == 1
    assert await flaky.list_keys("") == []


async def test_due_files_go_before_their_rows_let_go_of_them(world: World) -> None:
    rejected = await world.upload(1, user_id=7, when=T0 + 39 * DAY)
    key = await world.finish(rejected, T0 + 39 * DAY)
    await world.repo.expire_blob_at(rejected.upload_id, T0 + 39 * DAY + timedelta(hours=2))
    keeper = world.keeper()

    world.clock.at = T0 + 39 * DAY + timedelta(hours=1)
    assert (await sweep_once(keeper)).rejected_blobs_deleted == 0
    assert await world.blobs.list_keys("") == [key]

    world.clock.at = T0 + 39 * DAY + timedelta(hours=3)
    assert (await sweep_once(keeper)).rejected_blobs_deleted == 1
    assert await world.blobs.list_keys("") == []
    (row,) = await world.repo.list_uploads(7, 10)
    assert row.blob_key is None  # the upload itself stays for its own retention
    assert await world.repo.blobs_due(T0 + 100 * DAY, 10) == []


class DownRepository(MemoryRepository):
    async def expired_uploads(self, created_before: datetime, limit: int) -> list:  # type: ignore[type-arg]
        raise ServiceUnavailable("database", "connection refused")


async def test_the_sweep_outlives_a_database_outage(autojump_clock: object) -> None:
    world = World(DownRepository(4), MemoryBlobStore(), FixedClock(T0), ListSink())
    keeper = world.keeper(retention_sweep_every_s=60.0)
    with trio.move_on_after(150):
        await sweep_forever(keeper)
    assert world.sink.events().count("retention.sweep_failed") == 3  # at 0, 60 and 120 s
