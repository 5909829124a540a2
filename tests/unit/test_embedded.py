"""The embedded servers start from nothing, answer, and stop."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import trio

from adapters.embedded import (
    start_embedded_postgres_in_thread,
    start_embedded_redis_in_thread,
    stop_embedded_postgres_in_thread,
    stop_embedded_redis_in_thread,
)
from adapters.redis_client import RedisClient
from adapters.redis_queue import RedisJobQueue
from bot.errors import ServiceUnavailable


def _query(url: str, sql: str) -> object:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None


@pytest.fixture
def pg_parent() -> Iterator[Path]:
    """A folder outside pytest's tmp tree: under root, Postgres runs as another user
    who must traverse every parent, and pytest keeps its tree private (0700), and
    re-tightens it whenever another pytest run starts."""
    parent = Path(tempfile.mkdtemp(prefix="csvbot-embedded-pg-"))
    parent.chmod(0o755)
    try:
        yield parent
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.slow
async def test_embedded_postgres_starts_answers_and_stops(pg_parent: Path) -> None:
    data_dir = pg_parent / "pg"
    url = await start_embedded_postgres_in_thread(data_dir)
    try:
        assert url.startswith("postgresql://")
        assert await trio.to_thread.run_sync(_query, url, "select 40 + 2") == 42
        # Starting again on the same folder reuses the running server.
        assert await start_embedded_postgres_in_thread(data_dir) == url
    finally:
        await stop_embedded_postgres_in_thread(data_dir)
    with pytest.raises(psycopg.OperationalError):
        await trio.to_thread.run_sync(_query, url, "select 1")


@pytest.mark.slow
async def test_embedded_redis_starts_answers_runs_the_queue_and_stops(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    url = await start_embedded_redis_in_thread(data_dir)
    try:
        assert url.startswith("unix://") and url.endswith("?db=0")
        client = RedisClient(url)
        try:
            assert await client.ping()
            # The bundled server (6.2) has what the queue needs (XAUTOCLAIM).
            queue = RedisJobQueue(client, stream="embedded:jobs")
            await queue.enqueue("job-1")
            delivery = await queue.claim("w1", block_s=0.5)
            assert delivery is not None and delivery.job_id == "job-1"
            assert await queue.reclaim("w2", min_idle_s=0, count=5) != []
            await client.call(client.raw.set, "embedded:kept", "yes")
        finally:
            await client.aclose()
    finally:
        await stop_embedded_redis_in_thread(data_dir)
    client = RedisClient(url)
    with pytest.raises(ServiceUnavailable):
        await client.ping()
    await client.aclose()

    # Data saved at shutdown is there after a restart on the same folder.
    url = await start_embedded_redis_in_thread(data_dir)
    try:
        client = RedisClient(url)
        try:
            assert await client.call(client.raw.get, "embedded:kept") == "yes"
        finally:
            await client.aclose()
    finally:
        await stop_embedded_redis_in_thread(data_dir)
