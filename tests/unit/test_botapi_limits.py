"""The emulator's flood limits: Telegram's 30 messages/s and about 1/s per chat."""

from __future__ import annotations

from functools import partial

import httpx
import pytest
import trio

from bot.domain import TgUser
from sim.emulators.botapi_server import serve_emulator
from sim.fakes.telegram.limits import SendLimits
from sim.fakes.telegram.world import BotApiWorld

TOKEN = "123456:LIMITS-TEST-TOKEN"


async def test_one_chat_gets_a_burst_then_429_with_retry_after(autojump_clock: object) -> None:
    limits = SendLimits()
    assert [limits.admit("sendMessage", 7) for _ in range(5)] == [None] * 5
    assert limits.admit("sendMessage", 7) == 1
    await trio.sleep(1.0)
    assert limits.admit("sendMessage", 7) is None
    assert (limits.accepted, limits.refused) == (6, 1)


async def test_the_whole_bot_is_held_to_thirty_per_second(autojump_clock: object) -> None:
    limits = SendLimits()
    outcomes = [limits.admit("sendPhoto", chat) for chat in range(10)]
    assert outcomes == [None] * 10  # the burst
    assert limits.admit("sendMessage", 99) == 1
    accepted = 0
    for step in range(300):  # 10 s, one attempt every 1/30 s: each conforms
        await trio.sleep(1 / 30)
        accepted += limits.admit("sendMessage", 1000 + step) is None
    assert accepted == 300
    assert limits.peak_per_s <= 40


async def test_lifted_limits_only_count(autojump_clock: object) -> None:
    limits = SendLimits(enabled=False)
    assert all(limits.admit("sendMessage", 7) is None for _ in range(100))
    assert limits.admit("answerCallbackQuery", None) is None
    assert (limits.accepted, limits.refused, limits.peak_per_s) == (100, 0, 100)


async def test_the_http_emulator_answers_429(nursery: trio.Nursery) -> None:
    world = BotApiWorld(TOKEN)
    world.user_sends_text(TgUser(id=5), 5, "/start")  # the chat exists
    url: str = await nursery.start(partial(serve_emulator, world, limits=SendLimits()))
    async with httpx.AsyncClient(base_url=f"{url}/bot{TOKEN}") as client:
        answers = [
            (await client.post("/sendMessage", json={"chat_id": 5, "text": "hi"})).json() for _ in range(6)
        ]
    assert [a["ok"] for a in answers] == [True] * 5 + [False]
    assert answers[-1]["error_code"] == 429
    assert answers[-1]["parameters"]["retry_after"] == 1
    assert len(world.sent_to(5)) == 5


async def test_a_client_that_gives_up_mid_request_is_not_an_emulator_error(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    world = BotApiWorld(TOKEN)
    url: str = await nursery.start(partial(serve_emulator, world))
    host, port = url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    await stream.send_all(
        f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        'Content-Length: 1000\r\n\r\n{"chat_id": 5'.encode()
    )
    await stream.aclose()  # a bot whose deadline expired while sending
    async with httpx.AsyncClient(base_url=f"{url}/bot{TOKEN}") as client:
        assert (await client.get("/getMe")).json()["ok"]
    await trio.sleep(0.2)
    assert not [r for r in caplog.records if "Error in ASGI" in r.getMessage()]
