"""The Redis client after a restart of Redis: the first call goes through."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.processes import private_redis

from adapters.redis_client import RedisClient

pytestmark = pytest.mark.e2e


async def test_the_first_call_after_redis_restarts_succeeds(tmp_path: Path) -> None:
    async with private_redis(tmp_path) as server:
        client = RedisClient(server.url)
        try:
            # Several pooled connections, all of which the restart will break.
            for n in range(5):
                assert await client.call(client.raw.set, f"k{n}", "v")
            await server.kill()
            await server.start()
            assert await client.ping()
            assert await client.call(client.raw.set, "after", "restart")
        finally:
            await client.aclose()
