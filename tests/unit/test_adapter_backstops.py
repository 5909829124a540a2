"""The adapters' own timeouts come from the operation policies (DEADLINE_DB_CONNECT works)."""

from typing import Any

import psycopg
import pytest
import trio_asyncio

import adapters.postgres.pool as pg_pool
from adapters.compose import RealConfig, backstops, real_services
from bot.errors import ServiceUnavailable
from bot.settings import settings_from_env


async def test_postgres_connects_with_the_configured_connect_and_statement_timeouts(monkeypatch) -> None:
    seen: dict[str, Any] = {}

    def connect(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise psycopg.OperationalError("connection timeout expired")

    monkeypatch.setattr(pg_pool.PgConnection, "connect", connect)
    settings = settings_from_env({"DEADLINE_DB_CONNECT": "3", "DEADLINE_DB_STATEMENT": "4.5"}, env_file=None)
    config = RealConfig(database_url="postgresql://nobody@127.0.0.1:1/x", redis_url="redis://127.0.0.1:1/0")
    async with trio_asyncio.open_loop():
        with pytest.raises(ServiceUnavailable):
            async with real_services(config, settings):
                pass  # pragma: no cover - the database cannot be reached
    assert seen["connect_timeout"] == 3
    assert "statement_timeout=4500" in seen["options"]


def test_http_backstops_stay_behind_the_cores_deadlines() -> None:
    settings = settings_from_env({"DEADLINE_TELEGRAM_SEND_FILE": "40"}, env_file=None)
    limits = backstops(settings)
    assert limits["telegram.call"] > 40
    assert limits["telegram.poll"] > settings.deadline("telegram.poll")
    assert limits["redis.connect"] == settings.deadline("redis.connect")


def test_an_abandoned_redis_call_ends_by_the_longest_redis_deadline() -> None:
    settings = settings_from_env({"DEADLINE_QUEUE": "3"}, env_file=None)
    limits = backstops(settings)
    assert limits["redis.call"] == max(settings.deadline("redis"), settings.deadline("queue")) == 3
