"""``rate_limit``: Telegram answers 429 with ``retry_after``."""

from __future__ import annotations

from typing import NoReturn

from bot.errors import TelegramRetryAfter
from sim.simulator.faults.kind import FailingCallFault
from sim.simulator.schema import Seconds


class RateLimitFault(FailingCallFault):
    kind = "rate_limit"
    targets = ("telegram",)

    retry_after_s: Seconds = 1.0

    async def strike(self, service: str) -> NoReturn:
        raise TelegramRetryAfter(
            f"Too Many Requests: retry after {self.retry_after_s:g}", retry_after=self.retry_after_s
        )
