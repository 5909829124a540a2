"""Outbound rate limiting: Telegram allows about 30 messages/s per bot and about
one message/s per chat (short bursts tolerated).

GCRA (a token bucket expressed as one timestamp per key): each send reserves the
earliest slot that respects both the global and the chat's rate, then sleeps
until it. A 429 pauses every send until its ``retry_after`` has passed.
Per-chat entries are dropped once they are in the past, so memory stays bounded.

The limit belongs to the bot token, not to a process: with a
:class:`bot.ports.SendBucket` (Redis) every process of the deployment reserves its
slots in one shared bucket (:class:`SharedSendLimiter`). A 429 is told to the bucket
at once, so every process pauses, and a send whose slot was reserved before someone
else's 429 asks the bucket before it goes. While that bucket cannot be reached, each
process falls back to its share of the global rate, locally.
"""

from __future__ import annotations

from typing import Protocol

import trio

from bot.errors import PortError
from bot.guard import Guard
from bot.log import Logger
from bot.ports import SendBucket, SendRates

CHAT_BURST = 3
GLOBAL_BURST = 5
# After the shared bucket failed, sends stay local this long before trying it again,
# so a Redis outage costs one deadline per interval, not one per message.
SHARED_RETRY_AFTER_S = 5.0
# A send that waited at least this long for its slot asks the shared bucket whether a
# 429 met by another process meanwhile still holds (a shorter wait cannot miss one:
# its send reaches Telegram along with the sends that drew the 429).
RECHECK_AFTER_WAIT_S = 0.5


class SendLimiter(Protocol):
    """What the messenger needs: a slot before each send, and a pause after a 429."""

    async def acquire(self, chat_id: int | None) -> None: ...

    async def pause_all(self, seconds: float) -> None: ...


class Gcra:
    def __init__(self, per_second: float, burst: int) -> None:
        self.interval = 1.0 / per_second
        self.tolerance = (burst - 1) * self.interval
        self.tat = 0.0  # theoretical arrival time of the next conforming send

    def earliest(self, now: float) -> float:
        return max(now, self.tat - self.tolerance)

    def take(self, at: float) -> None:
        self.tat = max(self.tat, at) + self.interval


class SendRateLimiter:
    def __init__(
        self,
        global_per_s: float,
        chat_per_s: float,
        *,
        chat_burst: int = CHAT_BURST,
        global_burst: int = GLOBAL_BURST,
    ):
        self._global = Gcra(global_per_s, global_burst)
        self._chat_per_s = chat_per_s
        self._chat_burst = chat_burst
        self._chats: dict[int, Gcra] = {}
        self._paused_until = 0.0

    async def pause_all(self, seconds: float) -> None:
        self.pause_now(seconds)
        await trio.lowlevel.checkpoint()

    def pause_now(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, trio.current_time() + seconds)

    @property
    def tracked_chats(self) -> int:
        return len(self._chats)

    async def acquire(self, chat_id: int | None) -> None:
        while True:
            now = trio.current_time()
            self._forget_idle(now)
            slot = max(self._global.earliest(now), self._paused_until)
            chat = None
            if chat_id is not None:
                chat = self._chats.get(chat_id)
                if chat is None:
                    chat = self._chats[chat_id] = Gcra(self._chat_per_s, self._chat_burst)
                slot = max(slot, chat.earliest(now))
            # Reserve before sleeping, so concurrent senders queue behind each other.
            self._global.take(slot)
            if chat is not None:
                chat.take(slot)
            await trio.sleep_until(slot)
            if trio.current_time() >= self._paused_until:
                return
            # A 429 paused every send while this one waited: its slot is void, and a
            # fresh one queues behind everyone's (all waking at once would flood).

    def _forget_idle(self, now: float) -> None:
        if len(self._chats) < 1024:
            return
        for key in [k for k, g in self._chats.items() if g.tat < now]:
            del self._chats[key]


def send_rates(global_per_s: float, chat_per_s: float) -> SendRates:
    g, c = 1.0 / global_per_s, 1.0 / chat_per_s
    return SendRates(g, (GLOBAL_BURST - 1) * g, c, (CHAT_BURST - 1) * c)


class SharedSendLimiter:
    """Slots from the deployment's shared bucket; a local share of the rate without it."""

    def __init__(
        self,
        bucket: SendBucket,
        guard: Guard,
        log: Logger,
        global_per_s: float,
        chat_per_s: float,
    ) -> None:
        self._bucket = bucket
        self._guard = guard
        self._log = log
        self._rates = send_rates(global_per_s, chat_per_s)
        share = max(1, bucket.fallback_share)
        self.local = SendRateLimiter(global_per_s / share, chat_per_s)
        self._pause_s = 0.0  # a 429's wait, not yet told to the shared bucket
        self._paused_until = float("-inf")  # the latest 429 this process saw
        self._local_until = float("-inf")

    async def pause_all(self, seconds: float) -> None:
        """Pause this process's sends, and every other process's through the bucket now
        (told later, with the next reservation, if the bucket cannot be reached)."""
        self._pause_s = max(self._pause_s, seconds)
        self._paused_until = max(self._paused_until, trio.current_time() + seconds)
        self.local.pause_now(seconds)
        if trio.current_time() < self._local_until:
            return
        try:
            await self._guard.call("redis", self._bucket.reserve, None, self._rates, self._pause_s)
            self._pause_s = 0.0
        except PortError as exc:
            self._log.warning("send_limit.pause_not_shared", error=str(exc))

    async def acquire(self, chat_id: int | None) -> None:
        while trio.current_time() >= self._local_until:
            try:
                wait = await self._guard.call(
                    "redis", self._bucket.reserve, chat_id, self._rates, self._pause_s
                )
                self._pause_s = 0.0
                await trio.sleep(wait)
                if trio.current_time() < self._paused_until:
                    continue  # a 429 arrived while this send waited: reserve again, behind it
                if wait < RECHECK_AFTER_WAIT_S:
                    return
                # Another process may have met a 429 while this send waited for its slot.
                if await self._guard.call("redis", self._bucket.paused_for) <= 0:
                    return
            except PortError as exc:
                self._local_until = trio.current_time() + SHARED_RETRY_AFTER_S
                self._log.warning("send_limit.local", error=str(exc), for_s=SHARED_RETRY_AFTER_S)
                break
        await self.local.acquire(chat_id)


def build_send_limiter(
    bucket: SendBucket | None, guard: Guard, log: Logger, global_per_s: float, chat_per_s: float
) -> SendLimiter:
    if bucket is None:
        return SendRateLimiter(global_per_s, chat_per_s)
    return SharedSendLimiter(bucket, guard, log, global_per_s, chat_per_s)
