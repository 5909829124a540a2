"""Long polling with the offset confirmed only after handling.

- Updates of one chat run in order (one lane per chat); different chats run
  concurrently, at most ``max_in_flight`` at once. When that many are in flight
  the poller stops fetching: back-pressure instead of an unbounded backlog.
- The offset sent to Telegram is the lowest update still in flight (or one past
  the newest seen), so a crash re-delivers everything not yet handled; handlers
  deduplicate by update_id in the database.
- 409 Conflict (another poller on this token) and network failures back off
  (the ``telegram.poll`` policy) with a clear log line instead of crashing or spinning.
- An update whose answer did not reach the user is handled again after a
  back-off (the ``update.redeliver`` policy), then given up with a log line.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

import trio

from bot.domain import Update
from bot.errors import PortError, TelegramConflict
from bot.log import Logger
from bot.messenger import Messenger
from bot.ports import Metrics

Handler = Callable[[Update], Awaitable[None]]


class RetryUpdate(Exception):
    """Raised by a handler when the user heard nothing back (Telegram unreachable):
    the update stays unconfirmed and is handled again after a back-off, instead of
    being confirmed with its answer lost."""


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
    ) -> None:
        self.messenger = messenger
        self.handle = handle
        self.poll_timeout_s = poll_timeout_s
        self.max_in_flight = max_in_flight
        self.log = log
        self.metrics = metrics
        self._slots = trio.Semaphore(max_in_flight)
        self._in_flight: set[int] = set()
        self._done_above_offset: set[int] = set()
        self._newest_seen: int | None = None
        self._lanes: dict[int, deque[Update]] = {}
        self._progress = trio.Event()
        self._poll_scope = trio.CancelScope()
        self.handled = 0

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def next_offset(self) -> int | None:
        if self._in_flight:
            return min(self._in_flight)
        return None if self._newest_seen is None else self._newest_seen + 1

    async def run(
        self, *, drain_s: float = 10.0, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Poll until :meth:`stop_polling`, then give in-flight handlers ``drain_s`` to finish.

        Cancelling ``run`` from outside stops everything at once (a hard stop); the
        unconfirmed updates are fetched again by the next process."""
        async with trio.open_nursery() as lanes:
            with self._poll_scope:
                task_status.started()
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
            fresh = [u for u in updates if self._is_new(u.update_id)]
            if updates and not fresh:
                # All returned updates are in flight or finished while this poll was out.
                # While some are in flight, wait for progress rather than re-fetching the
                # same batch in a tight loop; otherwise the next poll confirms them.
                if self._in_flight:
                    await self._progress.wait()
                continue
            for update in fresh:
                await self._slots.acquire()  # back-pressure: blocks polling
                self._dispatch(lanes, update)
            self.metrics.gauge("updates.in_flight", len(self._in_flight))

    async def _poll_once(self) -> list[Update]:
        try:
            return await self.messenger.get_updates(self.next_offset(), self.poll_timeout_s, 100)
        except TelegramConflict:
            self.log.error("poll.conflict", detail="another poller or a webhook uses this token")
            raise

    def _is_new(self, update_id: int) -> bool:
        if update_id in self._in_flight or update_id in self._done_above_offset:
            return False
        offset = self.next_offset()
        return offset is None or update_id >= offset

    def _dispatch(self, nursery: trio.Nursery, update: Update) -> None:
        self._in_flight.add(update.update_id)
        if self._newest_seen is None or update.update_id > self._newest_seen:
            self._newest_seen = update.update_id
        key = update.chat_id if update.chat_id is not None else -update.update_id
        lane = self._lanes.get(key)
        if lane is not None:
            lane.append(update)  # the lane's task will get to it, in order
            return
        self._lanes[key] = deque([update])
        nursery.start_soon(self._run_lane, key)

    async def _run_lane(self, key: int) -> None:
        lane = self._lanes[key]
        while lane:
            update = lane[0]
            try:
                await self._handle_until_answered(update)
            finally:
                lane.popleft()
                self._finish(update.update_id)
        del self._lanes[key]

    async def _handle_until_answered(self, update: Update) -> None:
        try:
            await self.messenger.guard.retrying(
                "update.redeliver", lambda: self.handle(update), on=lambda exc: isinstance(exc, RetryUpdate)
            )
        except RetryUpdate:
            self.log.error("update.unanswered", update_id=update.update_id)

    def _finish(self, update_id: int) -> None:
        self._in_flight.discard(update_id)
        self._done_above_offset.add(update_id)
        offset = self.next_offset()
        if offset is not None:
            self._done_above_offset = {u for u in self._done_above_offset if u >= offset}
        self._slots.release()
        self.handled += 1
        self._progress.set()
        self._progress = trio.Event()

    async def drain(self, budget_s: float) -> bool:
        """Wait (up to ``budget_s``) until no update is in flight. True when drained."""
        with trio.move_on_after(budget_s):
            while self._in_flight:
                await self._progress.wait()
            return True
        return False
