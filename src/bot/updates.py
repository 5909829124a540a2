"""Long polling with the offset confirmed only after handling.

- Updates of one chat run in order (one lane per chat); different chats run
  concurrently, at most ``max_in_flight`` handlers at once. Lanes queue for a
  handler slot first come, first served, one update at a time, so chats are served
  round-robin: a chat with a backlog gets one slot, never all of them.
- A chat may have at most ``max_pending_per_chat`` updates waiting. Past that it
  is flooding: its excess updates are dropped (counted and logged) and it gets
  one polite notice, queued after its pending answers so its replies keep order.
- At most ``max_buffered`` updates wait in memory; beyond that the poller stops
  fetching: back-pressure instead of an unbounded backlog.
- The offset sent to Telegram is the lowest update still in flight and not yet
  settled (or one past the newest seen), so a crash re-delivers everything not yet
  handled; handlers deduplicate by update_id in the database. An update is settled
  (:meth:`UpdatePoller.settled`) once its claim is in the database: a redelivery would
  be dropped as a duplicate anyway, so it need not be fetched again while it is
  being answered. One exception keeps one chat's flood
  from hiding everybody else's updates: when a full batch holds nothing new (a
  window filled by updates still waiting), the offset moves past the batch, and
  the updates confirmed early are still handled by this process. Telegram will not
  hand those to another process, so they are kept in Redis first (``keeper``) until
  handled: a process that starts resumes what its predecessor kept. When Redis cannot
  keep them, the offset stays where it is.
- 409 Conflict (another poller on this token) and network failures back off
  (the ``telegram.poll`` policy) with a clear log line instead of crashing or spinning.
- A 429 on getUpdates is the token's: the poller posts its pause to the database
  (``pauses``), and a poller starting after a crash waits out what is left of it before
  its first poll (scenarios/regressions/swarm-982-poll-pause-across-restart.toml).
- An update whose answer did not reach the user is handled again after a
  back-off (the ``update.redeliver`` policy), then given up with a log line.
- An update whose handler needs a service that is away (an upload while the
  database is unreachable, bot.upload_hold) is parked: it leaves its chat's lane
  (the chat's later updates go on), holds no handler slot, and stays unconfirmed
  and unsettled, so Telegram keeps it until it is handled. Parked updates are
  tried again one at a time, oldest first, with back-off (the ``update.hold``
  policy), each until its handler stops parking it: one slot at most probes the
  service, and a service that is back drains them in order. While they pin the
  offset, a poll returns at once, so polls are spaced by ``HELD_POLL_EVERY_S``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
import trio

from bot.domain import Update
from bot.errors import PortError, TelegramConflict, TelegramRetryAfter
from bot.log import Logger
from bot.messenger import Messenger
from bot.ports import Metrics, PauseBoard, UpdateKeeper
from bot.telegram_wire import parse_update, update_wire

Handler = Callable[[Update], Awaitable[None]]
T = TypeVar("T")

# getUpdates returns at most this many updates per call.
POLL_BATCH = 100
# After dispatching a batch, the poller waits this long (or until every update in
# flight is settled or finished) before polling again: a poll right away would fetch
# the whole batch again, as nothing in it has been claimed yet.
SETTLE_WAIT_S = 0.05
# Files may wait in a chat's lane this many times longer than other updates:
# selecting a dozen CSVs and sending them at once is use, not a flood.
UPLOAD_ALLOWANCE = 5
# While parked updates keep the offset down, every poll returns at once (with them):
# the poller then polls this often for new updates, instead of long polling.
HELD_POLL_EVERY_S = 0.5
# Updates kept in Redis for a restart live as long as Telegram keeps an update (a day).
KEEP_TTL_S = 24 * 3600
DROP_RETRY_S = 5.0


class RetryUpdate(Exception):
    """Raised by a handler when the user heard nothing back (Telegram unreachable):
    the update stays unconfirmed and is handled again after a back-off, instead of
    being confirmed with its answer lost."""


class ParkUpdate(Exception):
    """Raised by a handler whose update waits for a service that is away (an upload
    while the database is unreachable): the update stays unconfirmed and is handled
    again later, out of its chat's lane and holding no handler slot meanwhile (see
    the module doc). The handler bounds how long it keeps raising this."""


class UpdatePoller:
    def __init__(
        self,
        messenger: Messenger,
        handle: Handler,
        *,
        poll_timeout_s: int,
        max_in_flight: int,
        log: Logger,
        metrics: Metrics,
        max_pending_per_chat: int = 10,
        max_buffered: int | None = None,
        on_flood: Handler | None = None,
        pauses: PauseBoard | None = None,
        keeper: UpdateKeeper | None = None,
    ) -> None:
        self.messenger = messenger
        self.pauses = pauses
        self.keeper = keeper
        self._updates: dict[int, Update] = {}  # the updates in flight, for the keeper
        self._kept: set[int] = set()  # in flight and kept in Redis
        self._kept_done: set[int] = set()  # kept, handled since: to be dropped from Redis
        self._kept_done_added = trio.Event()  # wakes the dropper only when there is work
        self.handle = handle
        self.poll_timeout_s = poll_timeout_s
        self.max_in_flight = max_in_flight
        self.max_pending_per_chat = max_pending_per_chat
        self.max_buffered = max_buffered if max_buffered is not None else 4 * max_in_flight
        self.on_flood = on_flood
        self.log = log
        self.metrics = metrics
        # trio's Semaphore wakes waiters in arrival order: that order is the round-robin.
        self._slots = trio.Semaphore(max_in_flight)
        self._in_flight: set[int] = set()
        self._settled: set[int] = set()  # in flight, claimed in the database
        self._done_above_offset: set[int] = set()
        self._newest_seen: int | None = None
        self._backlog_until: int | None = None  # the newest update of the first poll
        self._confirmed_below = 0  # offsets moved past a saturated window (see module doc)
        self._lanes: dict[int, deque[Update]] = {}
        self._held: deque[Update] = deque()  # parked updates, oldest first
        self._lanes_nursery: trio.Nursery | None = None
        self._notices: set[int] = set()  # update ids whose lane turn sends the flood notice
        self._dropped: dict[int, int] = {}  # lane key -> updates dropped in its current flood
        self._progress = trio.Event()
        self._poll_scope = trio.CancelScope()
        self.handled = 0
        self.dropped = 0
        self.refetched = 0  # updates a poll returned that were already known

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def next_offset(self) -> int | None:
        unsettled = self._in_flight - self._settled if self._settled else self._in_flight
        if unsettled:
            return max(min(unsettled), self._confirmed_below)
        return None if self._newest_seen is None else self._newest_seen + 1

    def redelivered(self, update_id: int) -> bool:
        """Whether an earlier process may have handled the update: it was waiting when
        this one started (its first poll's batch)."""
        return self._backlog_until is None or update_id <= self._backlog_until

    def settled(self, update_id: int) -> None:
        """The handler recorded the update's claim in the database: the offset may pass
        it while it is still being handled (see the module doc)."""
        if update_id in self._in_flight:
            self._settled.add(update_id)
            self._notify()  # a poll waiting for progress may now move the offset

    async def run(
        self, *, drain_s: float = 10.0, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Poll until :meth:`stop_polling`, then give in-flight handlers ``drain_s`` to finish.

        Cancelling ``run`` from outside stops everything at once (a hard stop); the
        unconfirmed updates are fetched again by the next process."""
        async with trio.open_nursery() as lanes:
            self._lanes_nursery = lanes
            with self._poll_scope:
                task_status.started()
                await self._wait_out_earlier_pause()
                if self.keeper is not None:
                    await self._resume_kept(lanes, self.keeper)
                    lanes.start_soon(self._drop_kept, self.keeper)
                await self._poll_loop(lanes)
            drained = await self.drain(drain_s)
            self.log.info("poll.stopped", drained=drained, in_flight=len(self._in_flight))
            lanes.cancel_scope.cancel()

    def stop_polling(self) -> None:
        self._poll_scope.cancel()

    async def _poll_loop(self, lanes: trio.Nursery) -> None:
        while True:
            # Always ask for a full batch: the semaphore, not the batch size,
            # bounds the work in flight (a small limit would stall behind one slow update).
            updates = await self.messenger.guard.retrying(
                "telegram.poll", self._poll_once, on=lambda exc: isinstance(exc, PortError)
            )
            if updates and self._backlog_until is None:
                self._backlog_until = max(u.update_id for u in updates)
            fresh = [u for u in updates if self._is_new(u.update_id)]
            self.refetched += len(updates) - len(fresh)
            if updates and not fresh:
                # All returned updates are in flight or finished while this poll was out.
                if len(updates) >= POLL_BATCH and self._newest_seen is not None:
                    # A full window of old updates hides whatever comes after it.
                    if not await self._confirm_early(self._newest_seen + 1):
                        with trio.move_on_after(HELD_POLL_EVERY_S):
                            await self._progress.wait()
                elif self._in_flight:
                    # Wait for progress rather than re-fetching the same batch in a tight
                    # loop; otherwise the next poll confirms them. Parked updates make no
                    # progress for a while: new updates are polled for meanwhile.
                    with trio.move_on_after(HELD_POLL_EVERY_S if self._held else math.inf):
                        await self._progress.wait()
                    await self._settle_wait()
                continue
            for update in fresh:
                # Parked updates wait on purpose (their number is bounded where they are
                # parked): they do not stop polling for the others.
                while len(self._in_flight) - len(self._held) >= self.max_buffered:
                    await self._progress.wait()  # back-pressure: blocks polling
                self._dispatch(lanes, update)
            # Parked updates are counted apart (``updates.held``): they have their own bound.
            self.metrics.gauge("updates.in_flight", len(self._in_flight) - len(self._held))
            if fresh:
                await self._settle_wait()

    async def _settle_wait(self) -> None:
        """Up to SETTLE_WAIT_S for every update in flight to be settled: a poll before
        that returns the unsettled ones again (and another for each one that settles)."""
        with trio.move_on_after(SETTLE_WAIT_S):
            # Parked updates stay unsettled on purpose until the database is back.
            while True:
                held = {update.update_id for update in self._held}
                if all(u in self._settled or u in held for u in self._in_flight):
                    return
                await self._progress.wait()

    async def _confirm_early(self, offset: int) -> bool:
        """Move the offset past the updates still in flight below ``offset``, once the
        keeper holds them (False: it could not, and the offset stays)."""
        if self.keeper is not None:
            keep = {u: orjson.dumps(update_wire(self._updates[u])).decode() for u in self._in_flight
                    if u < offset and u not in self._kept and u in self._updates}  # fmt: skip
            if keep:
                try:
                    await self.messenger.guard.call("redis", self.keeper.keep_updates, keep, KEEP_TTL_S)
                except PortError as exc:
                    self.log.warning("poll.keep_failed", updates=len(keep), error=str(exc))
                    return False
                self._kept.update(keep)
        early = sum(1 for u in self._in_flight if u < offset)
        self._confirmed_below = max(self._confirmed_below, offset)
        self._done_above_offset = {u for u in self._done_above_offset if u >= offset}
        self.log.warning("poll.confirmed_early", offset=offset, still_handling=early)
        return True

    async def _resume_kept(self, lanes: trio.Nursery, keeper: UpdateKeeper) -> None:
        """Before the first poll: the updates a process before this one confirmed early
        and did not finish (Telegram will not hand them over again)."""
        try:
            kept = await self.messenger.guard.retrying(
                "redis.mark", lambda: self.messenger.guard.call("redis.mark", keeper.kept_updates)
            )
        except PortError as exc:
            self.log.error("poll.kept_unread", error=str(exc))  # kept in Redis for the next start
            return
        updates = sorted(
            (parse_update(orjson.loads(raw)) for raw in kept.values()), key=lambda u: u.update_id
        )
        if not updates:
            return
        self.log.warning("poll.resumed_kept", updates=len(updates))
        # Confirmed by the process before: the offset is at least past them.
        self._confirmed_below = max(self._confirmed_below, updates[-1].update_id + 1)
        for update in updates:
            self._kept.add(update.update_id)
            self._dispatch(lanes, update)

    async def _drop_kept(self, keeper: UpdateKeeper) -> None:
        """Kept updates, once handled, leave Redis (a few at a time, as they finish)."""
        while True:
            await self._kept_done_added.wait()
            self._kept_done_added = trio.Event()
            done = sorted(self._kept_done)
            try:
                await self.messenger.guard.call("redis", keeper.drop_updates, done)
                self._kept_done.difference_update(done)
            except PortError as exc:
                # Left in Redis, a handled update is handled again after a restart: the
                # claims and markers make that a no-op; tried again meanwhile.
                self.log.warning("poll.drop_kept_failed", updates=len(done), error=str(exc))
                await trio.sleep(DROP_RETRY_S)
                self._kept_done_added.set()

    async def _poll_once(self) -> list[Update]:
        try:
            return await self.messenger.get_updates(self.next_offset(), self.poll_timeout_s, POLL_BATCH)
        except TelegramConflict as exc:
            self.log.error(
                "poll.conflict", detail=_conflict_detail(exc.description), telegram=exc.description
            )
            raise
        except TelegramRetryAfter as exc:
            if self.pauses is not None and exc.retry_after is not None:
                # + 1 ms: the database keeps microseconds, and the pause must not end early.
                await self._on_board("post", self.pauses.post_pause, "poll", exc.retry_after + 0.001)
            raise

    async def _wait_out_earlier_pause(self) -> None:
        """Before the first poll: what is left of a 429 that a poller before this one (a
        crashed process) met on getUpdates, as the database has it."""
        if self.pauses is None:
            return
        left = await self._on_board("read", self.pauses.pause_left, "poll")
        if left:
            self.log.info("poll.waits_earlier_pause", seconds=round(left, 3))
            await trio.sleep(left)

    async def _on_board(self, what: str, fn: Callable[..., Awaitable[T]], *args: object) -> T | None:
        """One try under the ``db.pause`` policy; None when the database does not answer
        (the poll goes on: a 429 would tell it to wait)."""
        try:
            return await self.messenger.guard.call("db.pause", fn, *args)
        except PortError as exc:
            self.log.warning("poll.pause_unknown", what=what, error=str(exc))
            return None

    def _is_new(self, update_id: int) -> bool:
        if update_id in self._in_flight or update_id in self._done_above_offset:
            return False
        offset = self.next_offset()
        return offset is None or update_id >= offset

    def _dispatch(self, nursery: trio.Nursery, update: Update) -> None:
        if self._newest_seen is None or update.update_id > self._newest_seen:
            self._newest_seen = update.update_id
        key = update.chat_id if update.chat_id is not None else -update.update_id
        lane = self._lanes.get(key)
        if lane is not None and len(lane) >= self._pending_cap(update):
            self._drop(key, lane, update)
            return
        self._updates[update.update_id] = update
        self._in_flight.add(update.update_id)
        if lane is not None:
            lane.append(update)  # the lane's task will get to it, in order
            return
        self._lanes[key] = deque([update])
        nursery.start_soon(self._run_lane, key)

    def _pending_cap(self, update: Update) -> int:
        is_upload = update.message is not None and update.message.document is not None
        return self.max_pending_per_chat * (UPLOAD_ALLOWANCE if is_upload else 1)

    def _drop(self, key: int, lane: deque[Update], update: Update) -> None:
        """A flooding chat's excess update: confirmed unhandled, counted, logged; the
        first one of a flood carries the chat's notice, after its pending answers."""
        self.dropped += 1
        self.metrics.count("updates", "dropped")
        first = key not in self._dropped
        self._dropped[key] = self._dropped.get(key, 0) + 1
        if first:
            self.log.warning("update.flood", chat_id=key, update_id=update.update_id, pending=len(lane))
            if self.on_flood is not None:
                self._in_flight.add(update.update_id)
                self._notices.add(update.update_id)
                lane.append(update)
                return
        self._done_above_offset.add(update.update_id)

    async def _run_lane(self, key: int) -> None:
        lane = self._lanes[key]
        while lane:
            update = lane[0]
            parked = False
            try:
                if update.update_id in self._notices:
                    await self._send_flood_notice(update)
                else:
                    await self._handle_until_answered(update)
            except ParkUpdate:
                parked = True
            finally:
                lane.popleft()
                if parked:
                    self._park(update)
                else:
                    self._finish(update.update_id)
        del self._lanes[key]
        dropped = self._dropped.pop(key, 0)
        if dropped:
            self.log.warning("update.flood_ended", chat_id=key, dropped=dropped)

    async def _send_flood_notice(self, update: Update) -> None:
        self._notices.discard(update.update_id)
        assert self.on_flood is not None
        async with self._slots:
            try:
                await self.on_flood(update)
            except RetryUpdate:
                pass  # a notice is a courtesy: never retried

    async def _handle_until_answered(self, update: Update) -> None:
        async def attempt() -> None:
            async with self._slots:  # released while backing off
                await self.handle(update)

        try:
            await self.messenger.guard.retrying(
                "update.redeliver", attempt, on=lambda exc: isinstance(exc, RetryUpdate)
            )
        except RetryUpdate:
            self.log.error("update.unanswered", update_id=update.update_id)

    def _park(self, update: Update) -> None:
        """Out of its lane, still in flight and unconfirmed: the hold lane tries it again."""
        self._held.append(update)
        self._notify()  # a poller held back by the buffer may go on
        self.metrics.count("updates", "parked")
        self.metrics.gauge("updates.held", len(self._held))
        if len(self._held) == 1 and self._lanes_nursery is not None:
            self._lanes_nursery.start_soon(self._run_held)

    async def _run_held(self) -> None:
        """Parked updates, oldest first, one at a time: each is retried with back-off
        until its handler stops parking it (a service that is back drains them all)."""
        while self._held:
            update = self._held[0]
            try:
                await self._retry_parked(update)
            finally:
                self._held.popleft()
                self.metrics.gauge("updates.held", len(self._held))
                self._finish(update.update_id)

    async def _retry_parked(self, update: Update) -> None:
        parked_by_lane = True

        async def attempt() -> None:
            nonlocal parked_by_lane
            if parked_by_lane:
                # The lane's try, which parked it: the policy waits before the next one.
                parked_by_lane = False
                raise ParkUpdate
            await self._handle_until_answered(update)

        await self.messenger.guard.retrying(
            "update.hold", attempt, on=lambda exc: isinstance(exc, ParkUpdate)
        )

    def _finish(self, update_id: int) -> None:
        self._in_flight.discard(update_id)
        self._updates.pop(update_id, None)
        if update_id in self._kept:
            self._kept.discard(update_id)
            self._kept_done.add(update_id)
            self._kept_done_added.set()
        self._settled.discard(update_id)
        self._done_above_offset.add(update_id)
        offset = self.next_offset()
        if offset is not None:
            self._done_above_offset = {u for u in self._done_above_offset if u >= offset}
        self.handled += 1
        self._notify()

    def _notify(self) -> None:
        self._progress.set()
        self._progress = trio.Event()

    async def drain(self, budget_s: float) -> bool:
        """Wait (up to ``budget_s``) until no update is in flight. True when drained."""
        with trio.move_on_after(budget_s):
            while self._in_flight:
                await self._progress.wait()
            return True
        return False


def _conflict_detail(description: str) -> str:
    """What an operator should do about a 409 (polling goes on, backing off, meanwhile)."""
    if "terminated by other getUpdates" in description:
        return "another instance of the bot is polling with this token: stop it (only one poller per token)"
    if "webhook" in description:
        return "a webhook is set for this token: delete it (deleteWebhook) or stop polling"
    return "another poller or a webhook uses this token"
