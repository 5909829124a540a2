"""Outbound rate limiting: Telegram allows about 30 messages/s per bot and about
one message/s per chat (short bursts tolerated).

GCRA (a token bucket expressed as one timestamp per key): each send reserves the
earliest slot that respects both the global and the chat's rate, then sleeps
until it. A 429 pauses every send until its ``retry_after`` has passed.
Per-chat entries are dropped once they are in the past, so memory stays bounded.
"""

from __future__ import annotations

import trio


class _Gcra:
    def __init__(self, per_second: float, burst: int) -> None:
        self.interval = 1.0 / per_second
        self.tolerance = (burst - 1) * self.interval
        self.tat = 0.0  # theoretical arrival time of the next conforming send

    def earliest(self, now: float) -> float:
        return max(now, self.tat - self.tolerance)

    def take(self, at: float) -> None:
        self.tat = max(self.tat, at) + self.interval


class SendRateLimiter:
    def __init__(self, global_per_s: float, chat_per_s: float, *, chat_burst: int = 3, global_burst: int = 5):
        self._global = _Gcra(global_per_s, global_burst)
        self._chat_per_s = chat_per_s
        self._chat_burst = chat_burst
        self._chats: dict[int, _Gcra] = {}
        self._paused_until = 0.0

    def pause_all(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, trio.current_time() + seconds)

    @property
    def tracked_chats(self) -> int:
        return len(self._chats)

    async def acquire(self, chat_id: int | None) -> None:
        now = trio.current_time()
        self._forget_idle(now)
        slot = max(self._global.earliest(now), self._paused_until)
        chat = None
        if chat_id is not None:
            chat = self._chats.get(chat_id)
            if chat is None:
                chat = self._chats[chat_id] = _Gcra(self._chat_per_s, self._chat_burst)
            slot = max(slot, chat.earliest(now))
        # Reserve before sleeping, so concurrent senders queue behind each other.
        self._global.take(slot)
        if chat is not None:
            chat.take(slot)
        await trio.sleep_until(slot)

    def _forget_idle(self, now: float) -> None:
        if len(self._chats) < 1024:
            return
        for key in [k for k, g in self._chats.items() if g.tat < now]:
            del self._chats[key]
