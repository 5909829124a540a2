"""Fixtures of the state, queue and blob contract suites (imported explicitly by them).

Each port fixture runs a test once per implementation: the real adapter (Redis at
``REDIS_URL``; a local folder; Supabase Storage through the emulator over HTTP) and
the in-memory twin. Real Redis gets a unique key prefix and stream per test, deleted
afterwards. The twins run on a MockClock with autojump (see ``kv_clock``), so their
waits cost no wall time; the real adapters run on the real clock.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import trio
import trio_asyncio
from trio.testing import MockClock

from adapters.local_blobs import LocalBlobStore
from adapters.redis_client import DEFAULT_REDIS_URL, RedisClient
from adapters.redis_queue import RedisJobQueue
from adapters.redis_state import RedisConversationStore
from adapters.supabase_storage import SupabaseBlobStore
from bot.ports import BlobStore, ConversationStore, JobQueue
from sim.emulators.storage import StorageEmulator, serve_storage_emulator
from sim.fakes.blobs import MemoryBlobStore
from sim.fakes.queue import MemoryJobQueue
from sim.fakes.state import MemoryConversationStore

REDIS_URL = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
SERVICE_KEY = "contract-service-key"
BUCKET = "contract-blobs"


@pytest.fixture(params=["redis", "memory"])
def kv_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def kv_clock(kv_kind: str) -> MockClock | None:
    """Ask for this in a test that waits: virtual time for the twin, real time for Redis.

    (pytest-trio only looks for a clock among the test function's own arguments.)"""
    return MockClock(autojump_threshold=0) if kv_kind == "memory" else None


def _delete_prefixed(client: RedisClient, prefix: str) -> None:
    keys = list(client.raw.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.raw.delete(*keys)


@dataclass
class StateHarness:
    kind: str
    store: ConversationStore
    lose_everything: Callable[[], Awaitable[None]]


@pytest.fixture
async def state(kv_kind: str) -> AsyncIterator[StateHarness]:
    if kv_kind == "memory":
        memory = MemoryConversationStore()

        async def lose_memory() -> None:
            memory.lose_everything()

        yield StateHarness("memory", memory, lose_memory)
        return
    prefix = f"test:{uuid.uuid4().hex}:"
    client = RedisClient(REDIS_URL)
    try:

        async def lose_redis() -> None:
            await client.call(_delete_prefixed, client, prefix)

        yield StateHarness("redis", RedisConversationStore(client, prefix=prefix), lose_redis)
    finally:
        with trio.CancelScope(shield=True):
            await client.call(_delete_prefixed, client, prefix)
            await client.aclose()


@dataclass
class QueueHarness:
    kind: str
    queue: JobQueue
    lose_everything: Callable[[], Awaitable[None]]


@pytest.fixture
async def queue(kv_kind: str) -> AsyncIterator[QueueHarness]:
    if kv_kind == "memory":
        memory = MemoryJobQueue()

        async def lose_memory() -> None:
            memory.lose_everything()

        yield QueueHarness("memory", memory, lose_memory)
        return
    prefix = f"test:{uuid.uuid4().hex}:"
    client = RedisClient(REDIS_URL)
    real = RedisJobQueue(client, stream=f"{prefix}jobs", group="workers")
    try:

        async def lose_redis() -> None:
            # What a restart without persistence leaves: no stream, no group.
            await client.call(client.raw.delete, real.stream)

        yield QueueHarness("redis", real, lose_redis)
    finally:
        with trio.CancelScope(shield=True):
            await client.call(_delete_prefixed, client, prefix)
            await client.aclose()


@dataclass
class BlobHarness:
    kind: str
    store: BlobStore
    emulator: StorageEmulator | None = None


@pytest.fixture(params=["local", "supabase", "memory"])
async def blobs(
    request: pytest.FixtureRequest, tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[BlobHarness]:
    kind = str(request.param)
    if kind == "memory":
        yield BlobHarness("memory", MemoryBlobStore())
        return
    if kind == "local":
        yield BlobHarness("local", LocalBlobStore(tmp_path / "blobs"))
        return
    emulator = StorageEmulator(service_key=SERVICE_KEY)
    base_url: str = await nursery.start(partial(serve_storage_emulator, emulator=emulator))
    async with trio_asyncio.open_loop():
        store = await SupabaseBlobStore.connect(base_url, SERVICE_KEY, BUCKET)
        try:
            await store.ensure_bucket()
            yield BlobHarness("supabase", store, emulator)
        finally:
            with trio.CancelScope(shield=True):
                await store.aclose()
