"""Outbound rate limiting: Telegram allows about 30 messages/s per bot and about
one message/s per chat (short bursts tolerated).

GCRA (a token bucket expressed as one timestamp per key): each send reserves the
earliest slot that respects both the global and the chat's rate, then sleeps
until it. A 429 pauses every send until its ``retry_after`` has passed.
Per-chat entries are dropped once they are in the past, so memory stays bounded.

The limit belongs to the bot token, not to a process: with a
:class:`bot.ports.SendBucket` (Redis) every process of the deployment reserves its
slots in one shared bucket (:class:`SharedSendLimiter`). What it promises: no send
goes out while a 429's ``retry_after`` runs that the deployment can know of. The
process that met the 429 pauses at once and tells the bucket at once (short attempts,
tried again), and the database's pause board too (:class:`bot.ports.PauseBoard`); a
send whose slot was reserved before someone else's 429 asks the bucket before it goes.
While the bucket cannot be reached, the poller falls back to its share of the global
rate, locally (queued after the slots it booked in the bucket, and back to the bucket only
once its local sends are out: neither side knows of the other's slots), reading the
pause from the bucket and the board before each send and pacing the sends again as they
leave (those reads take as long as a failing store makes them); every
other process holds its sends until the bucket answers again (the rate is the bucket's
to share), so the only process sending blind is one that honours every 429 it meets
itself. The board closes the gap Redis alone left: a 429 met while Redis hung for its
process never reached the bucket, and a process whose read of the bucket answered sent
into it (scenarios/regressions/swarm-461-pause-not-shared.toml). Not closed: a process
whose Redis works reserves without reading the board, so a pause that only the board
holds (the poller cut off from Redis alone) does not stop it until it meets a 429
itself (scenarios/regressions/poller-cut-from-redis-pause-unseen.toml, a known failure).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from bot.errors import PortError
from bot.guard import Guard
from bot.log import Logger
from bot.policy import Op
from bot.ports import PauseBoard, SendBucket, SendRates

CHAT_BURST = 3
GLOBAL_BURST = 5
# After the shared bucket failed, sends stay local this long before trying it again,
# so a Redis outage costs one deadline per interval, not one per message.
SHARED_RETRY_AFTER_S = 5.0
# A send that waited at least this long for its slot asks the shared bucket whether a
# 429 met by another process meanwhile still holds (a shorter wait cannot miss one:
# its send reaches Telegram along with the sends that drew the 429).
RECHECK_AFTER_WAIT_S = 0.5
# A process that may not send blind asks the bucket again this often while it cannot be
# read (a hung Redis already spends its deadline on each try; a refused one does not).
BLIND_HOLD_S = 0.5


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

    def after(self, at: float) -> None:
        """No send before the slot that follows ``at`` (a send booked elsewhere goes then)."""
        self._global.tat = max(self._global.tat, at + self._global.interval + self._global.tolerance)

    @property
    def tracked_chats(self) -> int:
        return len(self._chats)

    @property
    def last_slot(self) -> float:
        """The latest slot reserved so far (a send may still be waiting for it)."""
        return self._global.tat - self._global.interval

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
        *,
        board: PauseBoard | None = None,
        sends_blind: bool = True,
    ) -> None:
        self._bucket = bucket
        self._board = board
        self._sends_blind = sends_blind
        self._guard = guard
        self._log = log
        self._rates = send_rates(global_per_s, chat_per_s)
        share = max(1, bucket.fallback_share)
        self.local = SendRateLimiter(global_per_s / share, chat_per_s)
        # The moments local sends leave, paced again: the pause reads between a local slot
        # and its send last as long as a failing store makes them, and sends whose slots
        # were spaced would leave together (15 in 150 ms in
        # scenarios/regressions/model-779-flood-limit.toml, on a moved schedule).
        self._departures = SendRateLimiter(global_per_s / share, chat_per_s)
        self._leaving = 0  # local sends on their way: from their slot's reservation until they leave
        self._paused_until = float("-inf")  # the latest 429 this process saw
        self._posted_until = float("-inf")  # the end of the latest pause told to the bucket
        self._local_until = float("-inf")
        # The latest slot this process holds in the bucket: sends that fall back to the
        # local limiter queue after it, or the two together would pass the rate.
        self._booked_until = float("-inf")

    async def pause_all(self, seconds: float) -> None:
        """Pause this process's sends at once, and every other process's through the
        bucket (told later, with the next reservation, if the bucket cannot be reached)."""
        self._paused_until = max(self._paused_until, trio.current_time() + seconds)
        self.local.pause_now(seconds)
        # Told at once even while this process sends locally: another process may reach
        # the bucket when this one cannot, and this pause is what it must see. Shielded:
        # the send that met the 429 may be out of time, but the pause is the token's, and
        # telling it is bounded (the redis.pause and db.pause policies) and ends with the
        # pause. Both places at once: the board matters exactly when Redis is what fails.
        with trio.move_on_after(seconds, shield=True):  # past the pause, nothing to tell
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._tell, "redis.pause", self._post_pause)
                if self._board is not None:
                    board_post = functools.partial(self._post_board_pause, self._board)
                    nursery.start_soon(self._tell, "db.pause", board_post)

    async def _tell(self, op: Op, post: Callable[[], Awaitable[None]]) -> None:
        try:
            await self._guard.retrying(op, lambda: self._guard.call(op, post))
        except PortError as exc:
            self._log.warning("send_limit.pause_not_shared", via=op, error=str(exc))

    async def _post_board_pause(self, board: PauseBoard) -> None:
        # + 1 ms: the database keeps microseconds, and a pause read back must not end early.
        await board.post_pause("send", self._paused_until - trio.current_time() + 0.001)

    async def _reserve(self, op: Op, chat_id: int | None) -> float:
        return await self._guard.call(op, self._reserve_telling_pause, chat_id)

    async def _reserve_telling_pause(self, chat_id: int | None) -> float:
        """A slot from the bucket, telling it of this process's pause if it has not heard."""
        until = self._paused_until
        pause_s = max(0.0, until - trio.current_time()) if until > self._posted_until else 0.0
        wait = await self._bucket.reserve(chat_id, self._rates, pause_s)
        self._posted_until = max(self._posted_until, until)
        return wait

    async def _post_pause(self) -> None:
        await self._reserve_telling_pause(None)

    async def acquire(self, chat_id: int | None) -> None:
        while True:
            # Local while the bucket failed lately, and until every local send is out:
            # the bucket does not know of them, and the two rates together would pass
            # the limit (scenarios/regressions/model-779-flood-limit.toml).
            local_until = max(self._local_until, self.local.last_slot, self._departures.last_slot)
            if self._leaving or trio.current_time() < local_until:
                if self._booked_until > trio.current_time():
                    self.local.after(self._booked_until)
                self._leaving += 1
                try:
                    if not await self._local_slot(chat_id):
                        continue
                finally:
                    self._leaving -= 1
            elif not await self._shared_slot(chat_id):
                continue
            # Every wait above may have met a 429 of this process's own: its pause holds.
            if trio.current_time() >= self._paused_until:
                return

    async def _local_slot(self, chat_id: int | None) -> bool:
        """True once a local slot came with no pause in force and the send may leave."""
        await self.local.acquire(chat_id)
        # The bucket may answer a read when it failed a reservation, and another
        # process's pause posted there must hold here too.
        bucket_left = await self._read_pause("redis.pause", self._bucket.paused_for)
        if bucket_left is None and not self._sends_blind:
            # The bucket unread: hold, ask again. Not the board's to say: the
            # processes that reach the bucket send at its full rate meanwhile.
            await trio.sleep(BLIND_HOLD_S)
            return False
        left = max(bucket_left or 0.0, await self._board_pause_left())
        if left:
            self.local.pause_now(left)
            return False
        await self._departures.acquire(chat_id)
        return True

    async def _shared_slot(self, chat_id: int | None) -> bool:
        """True once the bucket's slot came with no pause in force; False: ask again."""
        try:
            wait = await self._reserve("redis", chat_id)
            self._booked_until = max(self._booked_until, trio.current_time() + wait)
            if wait > 0:  # the reservation was this call's checkpoint: a slot due now goes at once
                await trio.sleep(wait)
            if wait < RECHECK_AFTER_WAIT_S:
                return True
            # Another process may have met a 429 while this send waited for its slot.
            return await self._guard.call("redis", self._bucket.paused_for) <= 0
        except PortError as exc:
            self._local_until = trio.current_time() + SHARED_RETRY_AFTER_S
            self._log.warning("send_limit.local", error=str(exc), for_s=SHARED_RETRY_AFTER_S)
            return False

    async def _read_pause(self, op: Op, read: Callable[[], Awaitable[float]]) -> float | None:
        """Seconds a pause told by another process still holds; None when unread."""
        try:
            return await self._guard.call(op, read)
        except PortError:
            return None

    async def _board_pause_left(self) -> float:
        """The board's send pause (a 429 met by a process that the bucket failed); 0 when
        there is no board or it cannot be read."""
        if self._board is None:
            return 0.0
        left = await self._read_pause("db.pause", functools.partial(self._board.pause_left, "send"))
        return left or 0.0


def build_send_limiter(
    bucket: SendBucket | None,
    guard: Guard,
    log: Logger,
    global_per_s: float,
    chat_per_s: float,
    *,
    board: PauseBoard | None = None,
    sends_blind: bool = True,
) -> SendLimiter:
    if bucket is None:
        return SendRateLimiter(global_per_s, chat_per_s)
    return SharedSendLimiter(
        bucket, guard, log, global_per_s, chat_per_s, board=board, sends_blind=sends_blind
    )
