"""``botapi_error``: the Bot API answers ``ok: false`` with ``error_code`` (and ``retry_after``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.fakes.telegram.world import BotApiError
from sim.simulator.faults.kind import BotApiFault
from sim.simulator.toml_table import REQUIRED, Table


@dataclass(frozen=True, kw_only=True)
class BotApiErrorFault(BotApiFault):
    kind = "botapi_error"

    error_code: int
    description: str
    retry_after: int | None = None

    @classmethod
    def parse_own(cls, t: Table) -> dict[str, Any]:
        retry_after = t.integer("retry_after", 0, minimum=1) if "retry_after" in t.data else None
        return {
            **super().parse_own(t),
            "error_code": t.integer("error_code", REQUIRED, minimum=400),
            "description": t.string("description", REQUIRED),
            "retry_after": retry_after,
        }

    async def strike(self, method: str) -> None:
        raise BotApiError(self.error_code, self.description, self.retry_after)
