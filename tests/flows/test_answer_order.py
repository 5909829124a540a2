"""The order a user sees answers in: the receipt first, then the job's messages,
and no "took too long" that contradicts an upload already recorded."""

from __future__ import annotations

import trio
from tests.flows.harness import chat, simulated_bot

from sim.simulator.faults.kinds.botapi_delay import BotApiDelayFault

DATA = b"city,amount\nMoscow,10\nKazan,20\nOmsk,30\n"


async def test_a_slow_receipt_is_never_overtaken_or_contradicted(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9101)
        world.inject(
            "sendMessage", BotApiDelayFault(seconds=9.0)
        )  # the receipt: longer than the handler's budget
        seq = c.upload("sales.csv", DATA)
        await c.with_buttons(seq, "h:", timeout=120)
        await trio.sleep(30)  # anything late would have arrived by now
        texts = [record.text or "" for record in world.records_after(seq, c.chat_id)]
    assert texts[0].startswith("Got"), texts
    assert not any("took too long" in text for text in texts), texts
    assert sum(1 for text in texts if text.startswith("Got")) == 1
