"""What every flow of the bot works with: the ports, and one way to call them (``ctx.call``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from bot.guard import Guard
from bot.log import Logger
from bot.messenger import Messenger
from bot.policy import Op
from bot.ports import Services
from bot.ratelimit import build_send_limiter
from bot.send_lanes import SendLanes
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
    def build(cls, services: Services, settings: Settings, *, sends_blind: bool = True) -> BotContext:
        """``sends_blind``: whether this process goes on sending on its own share of the
        rate while the shared send bucket cannot be read (only one process may: the
        poller; see bot.ratelimit)."""
        log = Logger(services.log)
        guard = Guard(settings, services.metrics, log)
        limiter = build_send_limiter(
            services.send_bucket,
            guard,
            log,
            settings.global_sends_per_s,
            settings.chat_sends_per_s,
            board=services.repo,
            sends_blind=sends_blind,
        )
        lanes = SendLanes(limiter, settings.broadcast_sends_per_s)
        messenger = Messenger(services.telegram, guard, lanes, log)
        return cls(services, settings, guard, messenger, log)

    # Both hand back the guard's coroutine rather than await it in one of their own (see
    # bot.guard.Guard.call): awaited, they behave as async functions.

    def call(
        self, op: Op, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> Coroutine[Any, Any, T]:
        """``fn(*args)`` under the operation's policy: each attempt under its deadline,
        transient failures retried (bot.policy)."""
        return self.guard.retrying(op, lambda: self.guard.call(op, fn, *args, **kwargs))

    def call_waiting(
        self, op: Op, wait_s: float, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> Coroutine[Any, Any, T]:
        """Like :meth:`call` for a call that waits ``wait_s`` on purpose (a blocking read)."""
        return self.guard.retrying(op, lambda: self.guard.call_waiting(op, wait_s, fn, *args, **kwargs))
