"""The orphan sweep on the in-memory twins of the repository and the blob store."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import trio

from bot import sweep
from bot.blob_keys import blob_key, upload_id_of
from bot.context import BotContext
from bot.domain import Job, NewUpload
from bot.errors import ServiceUnavailable
from bot.settings import Settings
from bot.sweep import sweep_orphans
from sim.fakes.blobs import MemoryBlobStore
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.compose import SIM_TOKEN, SimStack, build_stack
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.scenario import parse_scenario

NOW = datetime(2024, 11, 13, 12, 0, tzinfo=UTC)


def make_stack(blobs: MemoryBlobStore | None = None) -> tuple[SimStack, BotContext]:
    scenario = parse_scenario({"scenario": {"name": "sweep", "seed": 1}})
    clock = trio.lowlevel.current_clock()
    stack = build_stack(BotApiWorld(SIM_TOKEN), scenario, RngStreams(1), clock)  # type: ignore[arg-type]
    if blobs is not None:
        stack.blobs = blobs
        stack.services = replace(stack.services, blobs=blobs)
    return stack, BotContext.build(stack.services, Settings())


async def add_upload(stack: SimStack, update_id: int, user_id: int, name: str = "data.csv") -> Job:
    new = NewUpload(
        update_id=update_id,
        user_id=user_id,
        chat_id=user_id,
        language="en",
        file_id=f"f{update_id}",
        file_unique_id=f"u{update_id}",
        file_name=name,
        file_size=10,
    )
    job = await stack.repo.record_upload(new, str(uuid.uuid4()), str(uuid.uuid4()), NOW)
    assert job is not None
    return job


async def store(stack: SimStack, job: Job, *, blob: bool = True) -> str:
    """What a worker does: put the blob, then record its key on the upload."""
    key = blob_key(job.user_id, job.upload_id, job.file_name)
    if blob:
        await stack.blobs.put(key, b"a,b\n1,2\n")
    await stack.repo.mark_stored(job.job_id, key)
    return key


def test_upload_id_of_reads_our_keys_only() -> None:
    upload_id = str(uuid.uuid4())
    assert upload_id_of(f"42/{upload_id}_sales.csv") == upload_id
    assert upload_id_of(blob_key(7, upload_id, "Продажи 2024.csv")) == upload_id
    for key in (
        f"{upload_id}_sales.csv",  # no user folder
        f"42/{upload_id}.csv",  # no separator after the id
        f"42/{upload_id.upper()}_sales.csv",  # we only ever write the canonical form
        f"42/x/{upload_id}_sales.csv",  # nested deeper
        "42/not-a-uuid_sales.csv",
        "readme.txt",
    ):
        assert upload_id_of(key) is None, key


async def test_sweep_finds_both_kinds_of_orphans_and_deletes_only_blobs() -> None:
    stack, ctx = make_stack()
    kept = await add_upload(stack, 1, 10)
    kept_key = await store(stack, kept)
    lost = await add_upload(stack, 2, 10)
    lost_key = await store(stack, lost, blob=False)  # the row names a blob storage lost
    await add_upload(stack, 3, 11)  # recorded, never stored: nothing to compare
    deleted = await add_upload(stack, 4, 11)
    orphan_key = await store(stack, deleted)
    assert await stack.repo.delete_upload(11, deleted.upload_id) is not None  # its blob stayed behind
    await stack.blobs.put("notes/readme.txt", b"ops notes")  # not ours: never touched

    report = await sweep_orphans(ctx, delete=False)
    assert report.orphan_blobs == [orphan_key]
    assert report.deleted_blobs == []
    assert report.unrecognised_blobs == ["notes/readme.txt"]
    assert [(u.upload_id, u.blob_key) for u in report.missing_blobs] == [(lost.upload_id, lost_key)]
    assert (report.blobs_seen, report.rows_checked) == (3, 2)
    assert await stack.blobs.list_keys("") == sorted([kept_key, orphan_key, "notes/readme.txt"])

    report = await sweep_orphans(ctx, delete=True)
    assert report.orphan_blobs == report.deleted_blobs == [orphan_key]
    assert report.errors == []
    assert await stack.blobs.list_keys("") == sorted([kept_key, "notes/readme.txt"])
    assert await stack.repo.get_upload(10, lost.upload_id) is not None  # rows are only reported

    again = await sweep_orphans(ctx, delete=True)
    assert again.summary() == {
        "blobs_seen": 2,
        "rows_checked": 2,
        "orphan_blobs": 0,
        "deleted_blobs": 0,
        "unrecognised_blobs": 1,
        "rows_without_blob": 1,
        "errors": 0,
    }


async def test_sweep_pages_through_ids_and_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep, "ID_BATCH", 2)
    monkeypatch.setattr(sweep, "ROW_PAGE", 2)
    stack, ctx = make_stack()
    live, lost_rows, orphans = [], [], []
    for n in range(7):
        job = await add_upload(stack, n, 20 + n % 2)
        if n % 3 == 0:
            await store(stack, job, blob=False)
            lost_rows.append(job.upload_id)
        else:
            key = await store(stack, job)
            if n % 3 == 1:
                assert await stack.repo.delete_upload(job.user_id, job.upload_id) is not None
                orphans.append(key)
            else:
                live.append(key)
    report = await sweep_orphans(ctx, delete=True)
    assert sorted(report.deleted_blobs) == sorted(orphans)
    assert sorted(u.upload_id for u in report.missing_blobs) == sorted(lost_rows)
    assert report.rows_checked == len(live) + len(lost_rows)
    assert await stack.blobs.list_keys("") == sorted(live)


class FlakyDeletes(MemoryBlobStore):
    """Refuses to delete the keys in ``stuck``, as a storage outage would."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck: set[str] = set()

    async def delete(self, key: str) -> None:
        if key in self.stuck:
            raise ServiceUnavailable("storage", "injected")
        await super().delete(key)


async def test_a_failed_delete_is_reported_and_retried_by_the_next_sweep() -> None:
    blobs = FlakyDeletes()
    stack, ctx = make_stack(blobs)
    keys = []
    for n in range(3):
        job = await add_upload(stack, n, 30)
        keys.append(await store(stack, job))
        await stack.repo.delete_upload(30, job.upload_id)
    blobs.stuck = {keys[1]}
    report = await sweep_orphans(ctx, delete=True)
    assert sorted(report.orphan_blobs) == sorted(keys)
    assert sorted(report.deleted_blobs) == sorted([keys[0], keys[2]])
    assert len(report.errors) == 1 and report.errors[0].startswith(keys[1])
    assert await blobs.list_keys("") == [keys[1]]

    blobs.stuck = set()
    report = await sweep_orphans(ctx, delete=True)
    assert report.deleted_blobs == [keys[1]] and report.errors == []
    assert await blobs.list_keys("") == []


class StoredDuringListing(MemoryBlobStore):
    """The first full listing misses a blob that a worker stores right after it."""

    def __init__(self) -> None:
        super().__init__()
        self.late: tuple[str, bytes] | None = None

    async def list_keys(self, prefix: str) -> list[str]:
        keys = await super().list_keys(prefix)
        if prefix == "" and self.late is not None:
            key, data = self.late
            self.late = None
            await self.put(key, data)
        return keys


async def test_a_blob_stored_after_the_listing_is_not_reported_missing() -> None:
    blobs = StoredDuringListing()
    stack, ctx = make_stack(blobs)
    job = await add_upload(stack, 1, 40)
    key = await store(stack, job, blob=False)
    blobs.late = (key, b"a\n1\n")
    report = await sweep_orphans(ctx, delete=False)
    assert report.missing_blobs == []
    assert report.blobs_seen == 0 and report.rows_checked == 1
    assert await blobs.list_keys("") == [key]


async def test_an_unreadable_store_fails_the_sweep_loudly() -> None:
    class Down(MemoryBlobStore):
        async def list_keys(self, prefix: str) -> list[str]:
            raise ServiceUnavailable("storage", "down")

    _, ctx = make_stack(Down())
    with pytest.raises(ServiceUnavailable):
        await sweep_orphans(ctx, delete=True)
