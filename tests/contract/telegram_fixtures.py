"""Fixtures of the Telegram contract suite (imported explicitly by the test module).

``telegram`` runs every test twice: the real HTTP adapter against the emulator
served on loopback, and the simulated adapter on the same kind of world in-process.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial

import pytest
import trio

from adapters.telegram_http import HttpTelegramApi
from bot.ports import TelegramApi
from sim.emulators.botapi_server import serve_emulator
from sim.fakes.telegram.api import SimTelegramApi
from sim.fakes.telegram.world import BotApiWorld

TOKEN = "1234567890:AAHcontract-SECRET-token_do-not-leak"
WRONG_TOKEN = "1234567890:AAHwrong-SECRET-token_also-private"


@dataclass
class TelegramHarness:
    kind: str
    world: BotApiWorld
    api: TelegramApi
    make_api: Callable[[str], TelegramApi]
    base_url: str | None = None


def counting_clock(start: int = 1_700_000_000) -> Callable[[], int]:
    """Deterministic message dates: one second per event."""
    counter = itertools.count(start)
    return lambda: next(counter)


@pytest.fixture(name="telegram", params=["http", "sim"])
async def telegram_harness(
    request: pytest.FixtureRequest, nursery: trio.Nursery
) -> AsyncIterator[TelegramHarness]:
    world = BotApiWorld(TOKEN, now=counting_clock())
    if request.param == "sim":
        yield TelegramHarness("sim", world, SimTelegramApi(world, TOKEN), partial(SimTelegramApi, world))
        return
    base_url: str = await nursery.start(partial(serve_emulator, world))
    apis: list[HttpTelegramApi] = []

    def make(token: str) -> TelegramApi:
        # Its own clients, as in production: the JSON methods on the lean keep-alive client.
        api = HttpTelegramApi(token, base_url)
        apis.append(api)
        return api

    harness = TelegramHarness("http", world, make(TOKEN), make, base_url)
    try:
        yield harness
    finally:
        for api in apis:
            await api.aclose()
