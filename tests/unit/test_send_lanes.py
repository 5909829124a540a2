"""The bulk lane (a broadcast) below the reply lane, over the send limiter."""

from __future__ import annotations

import trio

from bot.ratelimit import SendRateLimiter
from bot.send_lanes import SendLanes


async def test_a_waiting_reply_goes_before_a_bulk_send_that_waited_longer(autojump_clock):
    lanes = SendLanes(SendRateLimiter(1.0, 100.0, global_burst=1))
    order: list[tuple[str, float]] = []

    async def send(name: str, at: float, bulk: bool) -> None:
        await trio.sleep(at)
        await (lanes.acquire_bulk(7) if bulk else lanes.acquire(7))
        order.append((name, trio.current_time()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send, "reply-a", 0.0, False)  # the slot at 0
        nursery.start_soon(send, "reply-b", 0.05, False)  # waits for the slot at 1
        nursery.start_soon(send, "bulk", 0.1, True)  # waits from 0.1 ...
        nursery.start_soon(send, "reply-c", 0.5, False)  # ... yet this reply, from 0.5, goes first
    assert order == [("reply-a", 0.0), ("reply-b", 1.0), ("reply-c", 2.0), ("bulk", 3.0)]
    assert lanes.replies_waiting == 0


async def test_bulk_sends_keep_their_own_pace_below_the_global_limit(autojump_clock):
    lanes = SendLanes(SendRateLimiter(30.0, 100.0), bulk_per_s=2.0)
    times = []
    for chat_id in range(5):
        await lanes.acquire_bulk(chat_id)
        times.append(trio.current_time())
    assert times == [0.0, 0.5, 1.0, 1.5, 2.0]
    await lanes.acquire(99)  # a reply is not held to the bulk pace
    assert trio.current_time() == 2.0


async def test_a_pause_reaches_the_limiter_below(autojump_clock):
    inner = SendRateLimiter(30.0, 100.0)
    lanes = SendLanes(inner)
    await lanes.pause_all(4.0)
    await lanes.acquire_bulk(1)
    assert trio.current_time() >= 4.0
