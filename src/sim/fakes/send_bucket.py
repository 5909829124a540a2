"""In-process twin of the Redis send bucket: the same two GCRA buckets on Trio's clock."""

from __future__ import annotations

import trio

from bot.ports import SendRates
from bot.ratelimit import Gcra
from sim.simulator.kernel.quiet import sim_checkpoint


class MemorySendBucket:
    """Implements :class:`bot.ports.SendBucket` for processes that share one object."""

    def __init__(self, *, fallback_share: int = 1) -> None:
        self.fallback_share = fallback_share
        self._global: Gcra | None = None
        self._chats: dict[int, Gcra] = {}
        self._paused_until = float("-inf")

    async def reserve(
        self, chat_id: int | None, rates: SendRates, pause_s: float = 0.0, *, now_s: float | None = None
    ) -> float:
        await sim_checkpoint()
        now = trio.current_time() if now_s is None else now_s
        glob = self._global = self._global or Gcra(1 / rates.global_interval_s, 1)
        glob.interval, glob.tolerance = rates.global_interval_s, rates.global_tolerance_s
        if pause_s > 0:
            glob.tat = max(glob.tat, now + pause_s + glob.tolerance)
            self._paused_until = max(self._paused_until, now + pause_s)
        slot = glob.earliest(now)
        chat = None
        if chat_id is not None:
            chat = self._chats.setdefault(chat_id, Gcra(1 / rates.chat_interval_s, 1))
            chat.interval, chat.tolerance = rates.chat_interval_s, rates.chat_tolerance_s
            slot = max(slot, chat.earliest(now))
        glob.take(slot)
        if chat is not None:
            chat.take(slot)
        self._forget_idle(now)
        return slot - now

    def key_count(self) -> int:
        """Keys the Redis bucket would hold: the global one and each tracked chat's (for reports)."""
        return len(self._chats) + (self._global is not None)

    async def paused_for(self, *, now_s: float | None = None) -> float:
        await sim_checkpoint()
        now = trio.current_time() if now_s is None else now_s
        return max(0.0, self._paused_until - now)

    def _forget_idle(self, now: float) -> None:
        # Like the Redis keys' expiry: a chat whose TAT is past holds no information.
        if len(self._chats) >= 1024:
            for key in [k for k, g in self._chats.items() if g.tat < now]:
                del self._chats[key]


__all__ = ["MemorySendBucket"]
