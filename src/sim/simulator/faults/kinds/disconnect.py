"""``disconnect``: the connection drops, by default at random before or after the effect."""

from __future__ import annotations

from typing import Literal, NoReturn

from bot.errors import ServiceUnavailable
from sim.simulator.faults.kind import FailingCallFault


class DisconnectFault(FailingCallFault):
    kind = "disconnect"
    phase: Literal["before", "after", "random"] = "random"

    async def strike(self, service: str) -> NoReturn:
        raise ServiceUnavailable(service, "connection lost (simulated)")
