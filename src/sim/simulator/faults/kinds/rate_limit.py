"""``rate_limit``: Telegram answers 429 with ``retry_after``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from bot.errors import TelegramRetryAfter
from sim.simulator.faults.kind import FailingCallFault
from sim.simulator.toml_table import Table


@dataclass(frozen=True, kw_only=True)
class RateLimitFault(FailingCallFault):
    kind = "rate_limit"
    targets = ("telegram",)

    retry_after_s: float = 1.0

    @classmethod
    def parse_own(cls, t: Table) -> dict[str, Any]:
        return {**super().parse_own(t), "retry_after_s": t.number("retry_after_s", 1.0)}

    async def strike(self, service: str) -> NoReturn:
        raise TelegramRetryAfter(
            f"Too Many Requests: retry after {self.retry_after_s:g}", retry_after=self.retry_after_s
        )
