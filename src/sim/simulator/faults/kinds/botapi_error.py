"""``botapi_error``: the Bot API answers ``ok: false`` with ``error_code`` (and ``retry_after``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

from sim.fakes.telegram.world import BotApiError
from sim.simulator.faults.kind import BotApiFault


class BotApiErrorFault(BotApiFault):
    kind = "botapi_error"

    error_code: Annotated[int, Strict(), Field(ge=400, le=599)]
    description: str
    retry_after: Annotated[int, Strict(), Field(ge=1)] | None = None

    async def strike(self, method: str) -> None:
        raise BotApiError(self.error_code, self.description, self.retry_after)
