"""The bot split across processes, as deployed.

The poller runs in the test process (``run_bot`` with no workers and no reconciler);
job workers are separate OS processes (``python -m adapters worker --name N``), each
with its own reconciler. All share one Postgres schema, one Redis key prefix and one
blob store (local disk in a shared folder, or Supabase Storage through the emulator
served here). The Bot API emulator is served here too, so the test sees everything
the bot sends, whichever process sent it.

Workers get their whole configuration from the environment, as in production:
``cluster.env`` is what a worker sees; :data:`FAST_RECOVERY` shortens the timers that
make a crash heal (leases, reclaims, reconciler passes) from minutes to seconds.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import psycopg
import redis
import trio
from tests.e2e.processes import Child, open_child, wait_for_log, worker_command

from adapters.compose import RealConfig, asyncio_bridge, real_services
from bot.app import Roles, run_bot
from bot.ports import Services
from bot.settings import settings_from_env
from sim.emulators.botapi_server import serve_emulator
from sim.emulators.storage import StorageEmulator, serve_storage_emulator
from sim.fakes.telegram.world import BotApiWorld

TOKEN = "424243:E2E-PROCESS-TOKEN-abcdefghijklmnopqrstuvwxyz"
STORAGE_KEY = "e2e-storage-service-key"
BUCKET = "uploads"
GROUP = "workers"  # the consumer group of adapters.redis_queue

FAST_RECOVERY: dict[str, str] = {
    "BOT_POLL_TIMEOUT_S": "1",
    "BOT_RECONCILE_EVERY_S": "1",
    "BOT_RECONCILE_AFTER_S": "5",
    "BOT_JOB_LEASE_S": "6",
    "BOT_RECLAIM_IDLE_S": "5",
    "BOT_WORKER_CONCURRENCY": "4",
    "DEADLINE_STORAGE_UPLOAD": "3",
    "DEADLINE_SHUTDOWN": "3",
}


@dataclass
class Cluster:
    world: BotApiWorld
    services: Services  # the poller's adapters; the test reads Postgres and blobs through them
    env: dict[str, str]
    logs: Path
    redis_url: str
    stream: str
    storage: StorageEmulator | None
    children: AsyncExitStack
    workers: dict[str, Child] = field(default_factory=dict)

    async def start_worker(self, name: str, env: Mapping[str, str] | None = None) -> Child:
        """A worker process; stopped (SIGTERM, then SIGKILL) when the cluster closes."""
        child = await self.children.enter_async_context(
            open_child(
                name,
                worker_command(name),
                env={**self.env, **(env or {})},
                log_path=self.logs / f"{name}.log",
            )
        )
        self.workers[name] = child
        await wait_for_log(child, "bot.starting", timeout_s=60)
        return child

    async def consumers(self) -> dict[str, int]:
        """Consumers of the job stream's group and the deliveries each holds unacknowledged
        (Redis 6.2 lists a consumer only once it has been handed an entry)."""
        return await trio.to_thread.run_sync(_consumers, self.redis_url, self.stream)

    async def open_jobs(self) -> int:
        """Jobs Postgres still has queued or running."""
        with trio.fail_after(10):
            return len(await self.services.repo.jobs_needing_attention(0, 10_000))

    def jobs_done_by(self, name: str) -> list[str]:
        """Ids of the jobs the worker logged as done."""
        return [_field(line, "job_id") for line in self.workers[name].log_lines("job.done")]


def _field(line: str, key: str) -> str:
    for part in line.split():
        if part.startswith(key + "="):
            return part.split("=", 1)[1]
    raise AssertionError(f"no {key} in {line!r}")


def _consumers(url: str, stream: str) -> dict[str, int]:
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)
    try:
        return {str(c["name"]): int(c["pending"]) for c in client.xinfo_consumers(stream, GROUP)}
    except redis.RedisError:  # no stream or group yet, or Redis is down right now
        return {}
    finally:
        client.close()


def _drop_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass  # a private server that is gone takes its keys with it
    finally:
        client.close()


def _drop_schema(url: str, schema: str) -> None:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except psycopg.OperationalError:
        pass  # a private server that is gone takes its schema with it


@asynccontextmanager
async def process_cluster(
    tmp_path: Path,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    storage: Literal["local", "supabase"] = "local",
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Cluster]:
    database_url = database_url or os.environ["DATABASE_URL"]
    redis_url = redis_url or os.environ["REDIS_URL"]
    suffix = uuid.uuid4().hex[:10]
    schema, prefix = f"e2e_{suffix}", f"e2e:{suffix}:"
    world = BotApiWorld(token=TOKEN)
    emulator = StorageEmulator(service_key=STORAGE_KEY, buckets=(BUCKET,)) if storage == "supabase" else None
    async with trio.open_nursery() as servers:
        telegram_url: str = await servers.start(serve_emulator, world)
        cluster_env = {
            **os.environ,
            **FAST_RECOVERY,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": telegram_url,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DB_SCHEMA": schema,
            "REDIS_PREFIX": prefix,
            "CSVBOT_DATA_DIR": str(tmp_path / "data"),
            "STORAGE": storage,
            **(env or {}),
        }
        if emulator is not None:
            storage_url: str = await servers.start(partial(serve_storage_emulator, emulator=emulator))
            cluster_env.update(SUPABASE_URL=storage_url, SUPABASE_KEY=STORAGE_KEY, SUPABASE_BUCKET=BUCKET)
        config = RealConfig.from_env(cluster_env)  # the poller reads the same configuration
        settings = settings_from_env(cluster_env)
        try:
            async with (
                asyncio_bridge(),
                real_services(config, settings) as services,  # migrates the schema before any worker starts
                AsyncExitStack() as children,
                trio.open_nursery() as bot,
            ):
                handle = await bot.start(
                    partial(
                        run_bot,
                        services,
                        settings,
                        roles=Roles(poller=True, workers=0, reconciler=False, name="poller"),
                    )
                )
                yield Cluster(
                    world,
                    services,
                    cluster_env,
                    tmp_path / "logs",
                    redis_url,
                    f"{prefix}jobs",
                    emulator,
                    children,
                )
                handle.stop()
        finally:
            servers.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_drop_schema, database_url, schema)
                await trio.to_thread.run_sync(_drop_keys, redis_url, prefix)
