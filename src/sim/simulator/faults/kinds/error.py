"""``error``: the call fails with ``ServiceUnavailable`` (before it, or after its effect)."""

from __future__ import annotations

from typing import NoReturn

from bot.errors import ServiceUnavailable
from sim.simulator.faults.kind import FailingCallFault


class ErrorFault(FailingCallFault):
    kind = "error"

    async def strike(self, service: str) -> NoReturn:
        raise ServiceUnavailable(service, "injected error (simulated)")
