"""The real stack for end-to-end tests: the Bot API emulator over HTTP, the real
httpx Telegram client, real Postgres and Redis, local-disk blobs, worker processes.

Each stack gets its own Postgres schema and Redis key prefix, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import trio

from adapters.compose import RealConfig, asyncio_bridge, real_services
from bot.app import BotHandle, Roles, run_bot
from bot.ports import Services
from bot.settings import Settings
from sim.emulators.botapi_server import serve_emulator
from sim.fakes.telegram.world import BotApiWorld

TOKEN = "424242:E2E-TEST-TOKEN-abcdefghijklmnopqrstuvwxyz"


@dataclass
class Stack:
    world: BotApiWorld
    services: Services
    handle: BotHandle
    config: RealConfig


def fast_settings() -> Settings:
    # A short long-poll keeps shutdown quick; everything else keeps its production default.
    return Settings(poll_timeout_s=1, reconcile_every_s=1.0)


@asynccontextmanager
async def real_stack(
    tmp_path: Path, settings: Settings | None = None, *, cpu: str = "process"
) -> AsyncIterator[Stack]:
    suffix = uuid.uuid4().hex[:10]
    schema = f"e2e_{suffix}"
    world = BotApiWorld(token=TOKEN)
    try:
        async with trio.open_nursery() as outer:
            url: str = await outer.start(serve_emulator, world)
            config = RealConfig(
                telegram_token=TOKEN,
                telegram_url=url,
                database_url=os.environ["DATABASE_URL"],
                redis_url=os.environ["REDIS_URL"],
                data_dir=tmp_path,
                db_schema=schema,
                redis_prefix=f"e2e:{suffix}:",
                cpu=cpu,
            )
            try:
                async with asyncio_bridge(), real_services(config) as services, trio.open_nursery() as inner:
                    handle: BotHandle = await inner.start(
                        lambda task_status: run_bot(
                            services,
                            settings or fast_settings(),
                            roles=Roles(name="e2e"),
                            task_status=task_status,
                        )
                    )
                    yield Stack(world, services, handle, config)
                    handle.stop()
            finally:
                outer.cancel_scope.cancel()
    finally:
        # Blocking cleanup in a thread, shielded: it must run even when the test was cancelled.
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_drop_schema, schema)


def _drop_schema(schema: str) -> None:
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
