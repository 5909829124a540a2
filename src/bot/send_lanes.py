"""Two lanes over the send limiter: replies to users, and bulk sends (a broadcast)
below them.

A bulk send takes a slot only while no reply of this process is waiting for one,
so when both wait, the replies go first; a reply that starts waiting after a bulk
send took its slot queues behind that one slot only. Bulk sends also keep to their
own rate (``bulk_per_s``), below the token's global limit, so replies sent by the
other processes that share the token's allowance (job workers) keep the rest of it.
Bulk sends go one at a time.
"""

from __future__ import annotations

import trio

from bot.ratelimit import Gcra, SendLimiter


class SendLanes:
    """Implements :class:`bot.ratelimit.SendLimiter` (the reply lane) plus :meth:`acquire_bulk`."""

    def __init__(self, inner: SendLimiter, bulk_per_s: float | None = None) -> None:
        self.inner = inner
        self._bulk_rate = None if bulk_per_s is None else Gcra(bulk_per_s, 1)
        self._bulk_turn = trio.Lock()
        self._replies_waiting = 0
        self._replies_idle = trio.Event()
        self._replies_idle.set()

    @property
    def replies_waiting(self) -> int:
        return self._replies_waiting

    async def acquire(self, chat_id: int | None) -> None:
        """A slot for a reply: never waits for a bulk send that has not taken its slot yet."""
        self._replies_waiting += 1
        if self._replies_waiting == 1:
            self._replies_idle = trio.Event()
        try:
            await self.inner.acquire(chat_id)
        finally:
            self._replies_waiting -= 1
            if self._replies_waiting == 0:
                self._replies_idle.set()

    async def acquire_bulk(self, chat_id: int | None) -> None:
        """A slot for a bulk send: at the bulk rate, and only while no reply waits."""
        async with self._bulk_turn:
            if self._bulk_rate is not None:
                slot = self._bulk_rate.earliest(trio.current_time())
                self._bulk_rate.take(slot)
                await trio.sleep_until(slot)
            await self._replies_idle.wait()
            await self.inner.acquire(chat_id)

    async def pause_all(self, seconds: float) -> None:
        await self.inner.pause_all(seconds)


__all__ = ["SendLanes"]
