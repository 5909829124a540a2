"""What every flow of the bot works with: the ports, each behind its named deadline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from bot.guard import Guard
from bot.log import Logger
from bot.messenger import Messenger
from bot.ports import Services
from bot.ratelimit import build_send_limiter
from bot.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BotContext:
    services: Services
    settings: Settings
    guard: Guard
    messenger: Messenger
    log: Logger

    @classmethod
    def build(cls, services: Services, settings: Settings) -> BotContext:
        guard = Guard(settings, services.metrics)
        log = Logger(services.log)
        limiter = build_send_limiter(
            services.send_bucket, guard, log, settings.global_sends_per_s, settings.chat_sends_per_s
        )
        messenger = Messenger(services.telegram, guard, limiter, services.clock, log)
        return cls(services, settings, guard, messenger, log)

    async def db(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """One repository transaction under the statement deadline."""
        return await self.guard.call("db.statement", fn, *args, **kwargs)

    async def redis(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.guard.call("redis", fn, *args, **kwargs)

    async def queue(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.guard.call("queue", fn, *args, **kwargs)

    async def storage(self, name: str, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.guard.call(name, fn, *args, **kwargs)
