"""Retries with exponential backoff and full jitter, inside the caller's budget.

Written here rather than taken from a retry library because the jitter must come
from the WallClock port: in simulation every random draw derives from the seed.
A retry is never started when the remaining budget could not cover the sleep.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from bot.errors import DeadlineExceeded, PortError, ServiceUnavailable
from bot.ports import WallClock

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, (ServiceUnavailable, DeadlineExceeded))


async def retry_transient(
    attempt: Callable[[], Awaitable[T]],
    *,
    clock: WallClock,
    base_s: float,
    max_attempts: int,
    cap_s: float = 10.0,
    on_retry: Callable[[int, PortError], None] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, a non-transient error, or the budget ends."""
    for number in range(1, max_attempts + 1):
        try:
            return await attempt()
        except PortError as exc:
            if not is_transient(exc) or number == max_attempts:
                raise
            delay = clock.random() * min(cap_s, base_s * 2 ** (number - 1))
            remaining = trio.current_effective_deadline() - trio.current_time()
            if delay >= remaining:
                raise
            if on_retry is not None:
                on_retry(number, exc)
            await trio.sleep(delay)
    raise AssertionError("unreachable")  # the loop either returns or raises
