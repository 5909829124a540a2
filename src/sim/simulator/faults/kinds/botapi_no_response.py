"""``botapi_no_response``: the Bot API call gets no answer at all (a dropped connection, a 502)."""

from __future__ import annotations

from sim.fakes.telegram.world import BotApiUnavailable
from sim.simulator.faults.kind import BotApiFault


class BotApiNoResponseFault(BotApiFault):
    kind = "botapi_no_response"

    async def strike(self, method: str) -> None:
        raise BotApiUnavailable(method)
