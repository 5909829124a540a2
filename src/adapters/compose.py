"""The composition root for real services: reads the adapters' settings from the
environment (``RealConfig``, validated at start-up), opens every adapter, and
yields a :class:`bot.ports.Services` bundle; closes them all after.

When ``DATABASE_URL`` / ``REDIS_URL`` are not set, private embedded Postgres and
Redis servers are started in the data folder, so the bot runs on a machine with
nothing installed but Python.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

import trio
import trio_asyncio
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters import embedded
from adapters.cpu import ProcessCpuRunner, ThreadCpuRunner
from adapters.local_blobs import LocalBlobStore
from adapters.logging_sink import QueueLogSink
from adapters.ops.error_tracking import ErrorTrackingLogSink
from adapters.ops.prometheus import PrometheusMetrics
from adapters.ops.runtime import OpsTargets
from adapters.postgres.repository import open_postgres_repository
from adapters.redis_client import RedisClient, RedisOptions
from adapters.redis_queue import RedisJobQueue
from adapters.redis_send_bucket import RedisSendBucket
from adapters.redis_state import RedisConversationStore
from adapters.supabase_storage import SupabaseBlobStore
from adapters.system_clock import SystemClock
from adapters.telegram_http import HttpTelegramApi
from bot.policy import Op
from bot.ports import BlobStore, CpuRunner, Services
from bot.settings import Settings, environment, load_from


class RealConfig(BaseModel):
    """The adapters' settings: where the services are and how to reach them.

    Field names are for code; each reads the environment variable named in its
    alias (``RealConfig.from_env``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    telegram_token: Annotated[str, Field(validation_alias="TELEGRAM_BOT_TOKEN")] = ""
    telegram_url: Annotated[str, Field(validation_alias="TELEGRAM_API_URL")] = "https://api.telegram.org"
    database_url: Annotated[str | None, Field(validation_alias="DATABASE_URL")] = None
    redis_url: Annotated[str | None, Field(validation_alias="REDIS_URL")] = None
    data_dir: Annotated[Path, Field(validation_alias="CSVBOT_DATA_DIR")] = Path(".data")
    storage: Annotated[Literal["local", "supabase"], Field(validation_alias="STORAGE")] = "local"
    supabase_url: Annotated[str | None, Field(validation_alias="SUPABASE_URL")] = None
    supabase_key: Annotated[str | None, Field(validation_alias="SUPABASE_KEY")] = None
    supabase_bucket: Annotated[str, Field(validation_alias="SUPABASE_BUCKET")] = "uploads"
    session_limit: Annotated[
        int, Field(gt=0, validation_alias=AliasChoices("SESSION_LIMIT", "SUPABASE_SESSION_LIMIT"))
    ] = 4
    # Several deployments (or test runs) can share one Postgres and one Redis.
    db_schema: Annotated[str | None, Field(validation_alias="DB_SCHEMA")] = None
    redis_prefix: Annotated[str, Field(validation_alias="REDIS_PREFIX")] = "csvbot:"
    cpu: Annotated[Literal["process", "thread"], Field(validation_alias="CPU_RUNNER")] = "process"
    cpu_workers: Annotated[int, Field(gt=0, validation_alias="CPU_WORKERS")] = 2
    # One send allowance for the deployment, in Redis ("local": each process its own).
    send_limit: Annotated[Literal["shared", "local"], Field(validation_alias="SEND_LIMIT")] = "shared"
    # While Redis is down each process sends at most global rate / this.
    send_fallback_share: Annotated[int, Field(gt=0, validation_alias="SEND_FALLBACK_SHARE")] = 2

    @model_validator(mode="after")
    def _supabase_is_complete(self) -> RealConfig:
        if self.storage == "supabase" and not (self.supabase_url and self.supabase_key):
            raise ValueError("STORAGE=supabase needs SUPABASE_URL and SUPABASE_KEY")
        return self

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        env_file: Path | None = Path(".env"),
        **overrides: object,
    ) -> RealConfig:
        """From ``env`` (default ``os.environ``) and ``env_file``; a bad value raises
        :class:`bot.settings.SettingsError` naming the variable."""
        values = environment(env, env_file)
        loaded = load_from(_RealConfigFromEnv, values, variable=lambda loc: str(loc[0]) if loc else "")
        return cls.model_validate({**loaded.model_dump(), **overrides})

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.telegram_token, self.supabase_key) if s]


class _RealConfigFromEnv(RealConfig, BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)


def backstops(settings: Settings) -> dict[str, float]:
    """The adapters' own timeouts, from the core's operation policies (bot.policy).

    Connecting to Postgres and Redis and the server-side statement timeout are
    bounded by their own policies; a Redis call's socket timeout by the longest of the
    core's Redis deadlines (an abandoned call's thread ends within it, see
    ``adapters.redis_client``); the HTTP client's per-request timeout is only a
    backstop, twice the core's longest Telegram deadline, so the core's fires first."""
    telegram: tuple[Op, ...] = ("telegram.call", "telegram.send_file", "telegram.download")
    return {
        "db.connect": settings.deadline("db.connect"),
        "db.statement": settings.deadline("db.statement"),
        "redis.connect": settings.deadline("redis.connect"),
        "redis.call": max(settings.deadline("redis"), settings.deadline("queue")),
        "telegram.call": 2 * max(settings.deadline(op) for op in telegram),
        "telegram.poll": 2 * settings.deadline("telegram.poll"),
    }


def bot_id_of(token: str) -> int:
    """A bot's id is the number before the colon of its token (0 when there is none)."""
    head = token.partition(":")[0]
    return int(head) if head.isdigit() else 0


@asynccontextmanager
async def real_services(config: RealConfig, settings: Settings | None = None) -> AsyncIterator[Services]:
    """Open every adapter; the caller must already be inside ``trio_asyncio.open_loop()``.

    ``settings`` (the core's) give the adapters their backstop timeouts."""
    async with real_adapters(config, settings) as adapters:
        yield adapters.services


@asynccontextmanager
async def real_adapters(config: RealConfig, settings: Settings | None = None) -> AsyncIterator[OpsTargets]:
    """:func:`real_services`, with the concrete adapters that ``run_ops`` looks at."""
    limits = backstops(settings or Settings())
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
            database_url,
            config.session_limit,
            config.db_schema,
            connect_timeout_s=max(1, math.ceil(limits["db.connect"])),
            statement_timeout_s=limits["db.statement"],
            bot_id=bot_id_of(config.telegram_token),
        )
        stack.push_async_callback(repo.aclose)

        redis = RedisClient(
            redis_url,
            RedisOptions(connect_timeout_s=limits["redis.connect"], read_timeout_s=limits["redis.call"]),
        )
        stack.push_async_callback(redis.aclose)
        queue = RedisJobQueue(redis, stream=f"{config.redis_prefix}jobs")
        state = RedisConversationStore(redis, prefix=config.redis_prefix)

        blobs: BlobStore
        if config.storage == "supabase":
            assert config.supabase_url and config.supabase_key  # checked by RealConfig
            supabase = await SupabaseBlobStore.connect(
                config.supabase_url, config.supabase_key, config.supabase_bucket
            )
            stack.push_async_callback(supabase.aclose)
            blobs = supabase
        else:
            blobs = LocalBlobStore(config.data_dir / "blobs")

        telegram = HttpTelegramApi(
            config.telegram_token,
            config.telegram_url,
            call_timeout_s=limits["telegram.call"],
            poll_margin_s=limits["telegram.poll"],
        )
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
    """The Supabase Storage client is asyncio-only: host it on trio-asyncio."""
    async with trio_asyncio.open_loop():
        yield
