"""``hang``: the call never answers; the core's deadline must cut it."""

from __future__ import annotations

from typing import NoReturn

import trio

from sim.simulator.faults.kind import FailingCallFault


class HangFault(FailingCallFault):
    kind = "hang"

    async def strike(self, service: str) -> NoReturn:
        await trio.sleep_forever()
