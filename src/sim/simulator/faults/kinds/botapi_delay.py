"""``botapi_delay``: the Bot API call waits ``seconds`` before taking effect (or before answering)."""

from __future__ import annotations

import trio

from sim.simulator.faults.kind import BotApiFault
from sim.simulator.schema import Seconds


class BotApiDelayFault(BotApiFault):
    kind = "botapi_delay"

    seconds: Seconds

    async def strike(self, method: str) -> None:
        await trio.sleep(self.seconds)
