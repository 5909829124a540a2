"""``botapi_delay``: the Bot API call waits ``seconds`` before taking effect (or before answering)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio

from sim.simulator.faults.kind import BotApiFault
from sim.simulator.toml_table import REQUIRED, Table


@dataclass(frozen=True, kw_only=True)
class BotApiDelayFault(BotApiFault):
    kind = "botapi_delay"

    seconds: float

    @classmethod
    def parse_own(cls, t: Table) -> dict[str, Any]:
        return {**super().parse_own(t), "seconds": t.number("seconds", REQUIRED)}

    async def strike(self, method: str) -> None:
        await trio.sleep(self.seconds)
