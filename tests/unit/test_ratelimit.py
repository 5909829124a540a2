import pytest
import trio

from bot.ratelimit import SendRateLimiter


async def test_one_chat_gets_a_short_burst_then_one_per_second(autojump_clock):
    limiter = SendRateLimiter(global_per_s=30, chat_per_s=1, chat_burst=3)
    start = trio.current_time()
    sent_at = []
    for _ in range(6):
        await limiter.acquire(42)
        sent_at.append(trio.current_time() - start)
    assert sent_at == pytest.approx([0, 0, 0, 1, 2, 3])


async def test_global_rate_caps_many_chats(autojump_clock):
    limiter = SendRateLimiter(global_per_s=30, chat_per_s=1, global_burst=1)
    start = trio.current_time()
    times = []

    async def send(chat: int) -> None:
        await limiter.acquire(chat)
        times.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        for chat in range(90):
            nursery.start_soon(send, chat)
    # 90 sends at 30/s need 3 s; none of them may come earlier than its slot.
    assert max(times) == pytest.approx(89 / 30)
    assert sorted(times) == pytest.approx([i / 30 for i in range(90)])


async def test_pause_all_delays_every_chat(autojump_clock):
    limiter = SendRateLimiter(global_per_s=30, chat_per_s=1)
    start = trio.current_time()
    limiter.pause_all(5.0)
    await limiter.acquire(1)
    await limiter.acquire(2)
    assert trio.current_time() - start >= 5.0


async def test_idle_chats_are_forgotten(autojump_clock):
    limiter = SendRateLimiter(global_per_s=10_000, chat_per_s=1000, global_burst=1000)
    for chat in range(1100):
        await limiter.acquire(chat)
    await trio.sleep(1.0)
    await limiter.acquire(99_999)
    assert limiter.tracked_chats < 1024
