"""More concurrent callers than the Redis pool has connections wait for one.

Under load the send limit makes one Redis call per message; a burst of sends beyond
the pool's size used to fail with "Too many connections" (and crash the bot when the
recovery path met another task's cancellation)."""

from __future__ import annotations

import trio

from adapters.redis_client import RedisClient, RedisOptions
from contract.kv_fixtures import REDIS_URL


async def test_a_burst_larger_than_the_pool_waits_for_connections() -> None:
    client = RedisClient(REDIS_URL, RedisOptions(max_connections=2))
    answers: list[bool] = []
    try:

        async def ping() -> None:
            answers.append(await client.ping())

        async with trio.open_nursery() as nursery:
            for _ in range(30):
                nursery.start_soon(ping)
    finally:
        await client.aclose()
    assert answers == [True] * 30
