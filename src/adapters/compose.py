"""The composition root for real services: reads the environment, opens every
adapter, and yields a :class:`bot.ports.Services` bundle; closes them all after.

When ``DATABASE_URL`` / ``REDIS_URL`` are not set, private embedded Postgres and
Redis servers are started in the data folder, so the bot runs on a machine with
nothing installed but Python.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio
import trio_asyncio

from adapters import embedded
from adapters.cpu import ProcessCpuRunner, ThreadCpuRunner
from adapters.local_blobs import LocalBlobStore
from adapters.logging_sink import QueueLogSink
from adapters.ops.error_tracking import ErrorTrackingLogSink
from adapters.ops.prometheus import PrometheusMetrics
from adapters.ops.runtime import OpsTargets
from adapters.postgres.repository import open_postgres_repository
from adapters.redis_client import RedisClient
from adapters.redis_queue import RedisJobQueue
from adapters.redis_send_bucket import RedisSendBucket
from adapters.redis_state import RedisConversationStore
from adapters.supabase_storage import SupabaseBlobStore
from adapters.system_clock import SystemClock
from adapters.telegram_http import HttpTelegramApi
from bot.ports import BlobStore, CpuRunner, Services


@dataclass(frozen=True, slots=True)
class RealConfig:
    telegram_token: str
    telegram_url: str = "https://api.telegram.org"
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".data")
    storage: str = "local"  # or "supabase"
    supabase_url: str | None = None
    supabase_key: str | None = None
    supabase_bucket: str = "uploads"
    session_limit: int = 4
    db_schema: str | None = None
    redis_prefix: str = "csvbot:"
    cpu: str = "process"  # or "thread"
    cpu_workers: int = 2
    # "shared": one send allowance for every process, in Redis; "local": per process.
    send_limit: str = "shared"
    # Processes that share the bot token: each one's local share of the global send
    # rate while Redis is unreachable.
    send_fallback_share: int = 2

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> RealConfig:
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "telegram_token": env.get("TELEGRAM_BOT_TOKEN", ""),
            "telegram_url": env.get("TELEGRAM_API_URL", "https://api.telegram.org"),
            "database_url": env.get("DATABASE_URL") or None,
            "redis_url": env.get("REDIS_URL") or None,
            "data_dir": Path(env.get("CSVBOT_DATA_DIR", ".data")),
            "storage": env.get("STORAGE", "local"),
            "supabase_url": env.get("SUPABASE_URL") or None,
            "supabase_key": env.get("SUPABASE_KEY") or None,
            "supabase_bucket": env.get("SUPABASE_BUCKET", "uploads"),
            "session_limit": int(env.get("SESSION_LIMIT", env.get("SUPABASE_SESSION_LIMIT", "4"))),
            "cpu": env.get("CPU_RUNNER", "process"),
            "cpu_workers": int(env.get("CPU_WORKERS", "2")),
            "send_limit": env.get("SEND_LIMIT", "shared"),
            "send_fallback_share": int(env.get("SEND_FALLBACK_SHARE", "2")),
            # Several deployments (or test runs) can share one Postgres and one Redis.
            "db_schema": env.get("DB_SCHEMA") or None,
            "redis_prefix": env.get("REDIS_PREFIX", "csvbot:"),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.telegram_token, self.supabase_key) if s]


def bot_id_of(token: str) -> int:
    """A bot's id is the number before the colon of its token (0 when there is none)."""
    head = token.partition(":")[0]
    return int(head) if head.isdigit() else 0


@asynccontextmanager
async def real_services(config: RealConfig) -> AsyncIterator[Services]:
    """Open every adapter; the caller must already be inside ``trio_asyncio.open_loop()``."""
    async with real_adapters(config) as adapters:
        yield adapters.services


@asynccontextmanager
async def real_adapters(config: RealConfig) -> AsyncIterator[OpsTargets]:
    """:func:`real_services`, with the concrete adapters that ``run_ops`` looks at."""
    async with AsyncExitStack() as stack:
        database_url = config.database_url
        redis_url = config.redis_url
        if database_url is None:
            database_url = await trio.to_thread.run_sync(
                embedded.start_embedded_postgres, config.data_dir / "pg"
            )
        if redis_url is None:
            redis_url = await trio.to_thread.run_sync(
                embedded.start_embedded_redis, config.data_dir / "redis"
            )
            stack.push_async_callback(embedded.stop_embedded_redis_in_thread, config.data_dir / "redis")

        repo = await open_postgres_repository(
            database_url, config.session_limit, config.db_schema, bot_id=bot_id_of(config.telegram_token)
        )
        stack.push_async_callback(repo.aclose)

        redis = RedisClient(redis_url)
        stack.push_async_callback(redis.aclose)
        queue = RedisJobQueue(redis, stream=f"{config.redis_prefix}jobs")
        state = RedisConversationStore(redis, prefix=config.redis_prefix)

        blobs: BlobStore
        if config.storage == "supabase":
            if not (config.supabase_url and config.supabase_key):
                raise SystemExit("STORAGE=supabase needs SUPABASE_URL and SUPABASE_KEY")
            supabase = await SupabaseBlobStore.connect(
                config.supabase_url, config.supabase_key, config.supabase_bucket
            )
            stack.push_async_callback(supabase.aclose)
            blobs = supabase
        else:
            blobs = LocalBlobStore(config.data_dir / "blobs")

        telegram = HttpTelegramApi(config.telegram_token, config.telegram_url)
        stack.push_async_callback(telegram.aclose)

        cpu: CpuRunner = (
            ProcessCpuRunner(config.cpu_workers)
            if config.cpu == "process"
            else ThreadCpuRunner(config.cpu_workers)
        )
        metrics = PrometheusMetrics()
        services = Services(
            telegram=telegram,
            repo=repo,
            state=state,
            blobs=blobs,
            queue=queue,
            clock=SystemClock(),
            log=ErrorTrackingLogSink(QueueLogSink()),
            cpu=cpu,
            metrics=metrics,
            send_bucket=(
                RedisSendBucket(redis, config.redis_prefix, fallback_share=config.send_fallback_share)
                if config.send_limit == "shared"
                else None
            ),
        )
        yield OpsTargets(services, metrics, repo, queue, blobs)


@asynccontextmanager
async def asyncio_bridge() -> AsyncIterator[None]:
    """psycopg's and redis-py's async clients are asyncio-only: host them on trio-asyncio."""
    async with trio_asyncio.open_loop():
        yield
