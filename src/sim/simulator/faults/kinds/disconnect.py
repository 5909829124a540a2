"""``disconnect``: the connection drops, by default at random before or after the effect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from bot.errors import ServiceUnavailable
from sim.simulator.faults.kind import FailingCallFault


@dataclass(frozen=True, kw_only=True)
class DisconnectFault(FailingCallFault):
    kind = "disconnect"
    default_phase = "random"

    phase: str = "random"

    async def strike(self, service: str) -> NoReturn:
        raise ServiceUnavailable(service, "connection lost (simulated)")
