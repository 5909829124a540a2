"""Contract of bot.ports.SendBucket: the Redis script and the in-process twin.

Each test passes ``now_s`` explicitly, so the GCRA arithmetic is exact and no test
depends on how fast the machine is. "Two processes" are two clients of one Redis
(for the twin: two holders of one object).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import pytest
import trio

from adapters.redis_client import RedisClient
from adapters.redis_send_bucket import RedisSendBucket
from bot.ports import SendRates
from bot.ratelimit import send_rates
from sim.fakes.send_bucket import MemorySendBucket

from .kv_fixtures import REDIS_URL, _delete_prefixed, kv_kind

__all__ = ["kv_kind"]  # fixture, imported for pytest

RATES = send_rates(global_per_s=30, chat_per_s=1)  # bursts: 5 global, 3 per chat
T0 = 1_000_000.0


class BucketUnderTest(Protocol):
    async def reserve(
        self, chat_id: int | None, rates: SendRates, pause_s: float = 0.0, *, now_s: float | None = None
    ) -> float: ...

    async def paused_for(self) -> float: ...


@dataclass
class Buckets:
    kind: str
    first: BucketUnderTest
    second: BucketUnderTest  # another process of the same deployment


@pytest.fixture
async def buckets(kv_kind: str) -> AsyncIterator[Buckets]:
    if kv_kind == "memory":
        shared = MemorySendBucket()
        yield Buckets("memory", shared, shared)
        return
    prefix = f"test:{uuid.uuid4().hex}:"
    one, two = RedisClient(REDIS_URL), RedisClient(REDIS_URL)
    try:
        yield Buckets("redis", RedisSendBucket(one, prefix), RedisSendBucket(two, prefix))
    finally:
        with trio.CancelScope(shield=True):
            await one.call(_delete_prefixed, one, prefix)
            await one.aclose()
            await two.aclose()


async def test_one_chat_gets_a_burst_of_three_then_one_per_second(buckets: Buckets) -> None:
    waits = [await buckets.first.reserve(42, RATES, now_s=T0) for _ in range(5)]
    assert waits == pytest.approx([0, 0, 0, 1, 2], abs=1e-3)


async def test_the_global_rate_spans_every_process_and_chat(buckets: Buckets) -> None:
    waits = []
    for i in range(60):
        bucket = buckets.first if i % 2 == 0 else buckets.second
        waits.append(await bucket.reserve(i, RATES, now_s=T0))
    # A burst of 5, then one slot every 1/30 s for both processes together.
    assert waits == pytest.approx([max(0.0, (i - 4) / 30) for i in range(60)], abs=1e-3)


async def test_sends_without_a_chat_count_against_the_global_rate_only(buckets: Buckets) -> None:
    for _ in range(5):
        assert await buckets.first.reserve(None, RATES, now_s=T0) == pytest.approx(0, abs=1e-3)
    assert await buckets.second.reserve(7, RATES, now_s=T0) == pytest.approx(1 / 30, abs=1e-3)


async def test_time_restores_the_allowance(buckets: Buckets) -> None:
    for _ in range(3):
        await buckets.first.reserve(42, RATES, now_s=T0)
    assert await buckets.first.reserve(42, RATES, now_s=T0 + 10) == pytest.approx(0, abs=1e-3)


async def test_a_pause_from_one_process_delays_every_process(buckets: Buckets) -> None:
    assert await buckets.first.reserve(1, RATES, 5.0, now_s=T0) == pytest.approx(5.0, abs=1e-3)
    assert await buckets.second.reserve(2, RATES, now_s=T0 + 1) >= 4.0 - 1e-3


async def test_every_process_can_ask_how_long_a_pause_still_holds(buckets: Buckets) -> None:
    assert await buckets.second.paused_for() == 0
    await buckets.first.reserve(1, RATES, 5.0)
    left = await buckets.second.paused_for()
    assert 4.0 <= left <= 5.0  # the Redis key's own TTL: a little of it may have run out
    await buckets.first.reserve(1, RATES, 2.0)  # a shorter pause does not cut the longer one
    assert await buckets.second.paused_for() >= 4.0
