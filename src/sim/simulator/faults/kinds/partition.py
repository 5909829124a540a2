"""``partition``: one process (or every worker process) cannot reach one service; others can.

``process`` names the cut-off process, ``target`` the service. ``mode``: "refuse"
(connection refused: the call fails at once) or "blackhole" (packets vanish: the
call hangs until the caller's deadline). For the whole service down for everyone,
use ``error``/``hang``/``disconnect`` without ``process``.
"""

from __future__ import annotations

from typing import Literal, NoReturn, Self

import trio
from pydantic import model_validator

from bot.errors import ServiceUnavailable
from sim.simulator.faults.kind import FailingCallFault
from sim.simulator.schema import rule


class PartitionFault(FailingCallFault):
    kind = "partition"
    process: str | None = None
    mode: Literal["refuse", "blackhole"] = "refuse"

    @model_validator(mode="after")
    def _names_a_process(self) -> Self:
        if self.process is None:
            raise rule("a partition cuts off one process (or 'worker'): give process")
        return self

    async def strike(self, service: str) -> NoReturn:
        if self.mode == "blackhole":
            await trio.sleep_forever()
        raise ServiceUnavailable(service, "unreachable from this process (simulated partition)")
