"""``/broadcast``: one message to every user who has not blocked the bot.

The state lives in Postgres (a ``broadcasts`` row and its cursor, the last user id
handled), so a restarted bot resumes where it stopped: :class:`BroadcastRunner`
runs in the polling process's nursery, looks for a running broadcast at start, and
goes through the recipients in user id order. Each message's outcome is recorded
before the next is sent, and that record waits for the database however long it
is away (the ``broadcast.record`` policy), so while the process lives nobody gets
the message twice; as with a job's answer, only a process killed between Telegram
accepting a message and its record may send that one again.

Sends go through the bulk lane (:mod:`bot.send_lanes`): below every reply, at
``broadcast_sends_per_s``. A user who blocked the bot (403) is marked and skipped
by later broadcasts; another refusal (chat gone) is counted as failed; a send that
cannot get through (Telegram down) is tried again after a pause, the cursor
unmoved. The admin's chat holds one progress message, edited as it goes;
``/broadcast status`` shows it again and ``/broadcast cancel`` stops it at once.
"""

from __future__ import annotations

import dataclasses
import math

import trio

from bot.admin.records import Broadcast, BroadcastStatus, SendOutcome
from bot.admin.texts import t_admin
from bot.context import BotContext
from bot.errors import PortError, ServiceUnavailable, TelegramError

PAGE = 100  # recipients read per query
IDLE_CHECK_S = 30.0  # an idle runner looks for a running broadcast this often (and when woken)
PROGRESS_EVERY_S = 5.0  # the progress message is edited at most this often
PAUSE_S = 5.0  # after the database or Telegram failed
MAX_TEXT = 4096  # Telegram's limit for one message


def progress_text(broadcast: Broadcast, lang: str) -> str:
    return t_admin(
        lang,
        "broadcast_progress",
        id=broadcast.broadcast_id,
        status=t_admin(lang, f"status_{broadcast.status.value}"),
        sent=broadcast.sent,
        total=max(broadcast.total, broadcast.handled),
        blocked=broadcast.blocked,
        failed=broadcast.failed,
    )


class BroadcastRunner:
    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx
        self.log = ctx.log.bind(component="broadcast")
        self._wake = trio.Event()
        self._current: int | None = None  # the broadcast being sent
        self._sending = trio.CancelScope()
        self._cancelled: set[int] = set()
        self._record_waits: set[trio.CancelScope] = set()
        self._shown: tuple[int, str] | None = None  # the progress message's text (an equal edit is a 400)
        self._stopping = False

    # ------------------------------------------------------------ commands

    async def command(self, admin_id: int, chat_id: int, argument: str, lang: str) -> str | None:
        """``/broadcast <text> | status | cancel``; the reply to send (None: answered already)."""
        word = argument.strip().lower()
        if not argument.strip():
            return t_admin(lang, "broadcast_usage")
        if word == "status":
            current = await self._current_broadcast()
            return t_admin(lang, "broadcast_none") if current is None else progress_text(current, lang)
        if word == "cancel":
            return await self._cancel(lang)
        text = argument.strip()
        if len(text.encode("utf-16-le")) // 2 > MAX_TEXT:  # Telegram counts UTF-16 code units
            return t_admin(lang, "broadcast_too_long", limit=MAX_TEXT)
        await self._start(admin_id, chat_id, text, lang)
        return None

    async def _current_broadcast(self) -> Broadcast | None:
        return await self.ctx.call("db.statement", self.ctx.services.repo.current_broadcast)

    async def _cancel(self, lang: str) -> str:
        current = await self._current_broadcast()
        if current is None or current.status != BroadcastStatus.RUNNING:
            return t_admin(lang, "broadcast_not_running")
        ended = await self.ctx.call(
            "db.statement",
            self.ctx.services.repo.end_broadcast,
            current.broadcast_id,
            BroadcastStatus.CANCELLED,
            self.ctx.services.clock.now(),
        )
        self._cancelled.add(current.broadcast_id)
        if self._current == current.broadcast_id:
            self._sending.cancel()  # a record under way is shielded and lands first
        self.log.info("broadcast.cancelled", broadcast_id=current.broadcast_id)
        return progress_text(ended or current, lang)

    async def _start(self, admin_id: int, chat_id: int, text: str, lang: str) -> None:
        ctx = self.ctx
        repo = ctx.services.repo
        current = await self._current_broadcast()
        if current is not None and current.status == BroadcastStatus.RUNNING:
            await ctx.messenger.send_text(chat_id, t_admin(lang, "broadcast_busy", id=current.broadcast_id))
            return
        # The progress message first: its id is part of the broadcast's record.
        message = await ctx.messenger.send_text(chat_id, t_admin(lang, "broadcast_starting"))
        now = ctx.services.clock.now()
        started = await ctx.call(
            "db.statement", repo.start_broadcast, admin_id, chat_id, lang, text, message.message_id, now
        )
        if started is None:  # another admin was quicker
            latest = await self._current_broadcast()
            busy = t_admin(lang, "broadcast_busy", id=latest.broadcast_id if latest else "?")
            await ctx.messenger.edit_text(chat_id, message.message_id, busy)
            return
        self.log.info("broadcast.started", broadcast_id=started.broadcast_id, total=started.total)
        await self._show(started)
        self._wake.set()

    # ------------------------------------------------------------ the runner

    def stop(self) -> None:
        """A graceful stop: :meth:`run` returns after the message going out is recorded."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Until :meth:`stop` or cancelled: send the running broadcast, if any, then wait
        for the next."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._abandon_records_when_cancelled)
            while not self._stopping:
                try:
                    current = await self._current_broadcast()
                except PortError as exc:
                    self.log.warning("broadcast.read_failed", error=str(exc))
                    await trio.sleep(PAUSE_S)
                    continue
                if current is not None and current.status == BroadcastStatus.RUNNING:
                    await self._run_one(current)
                    continue
                with trio.move_on_after(IDLE_CHECK_S):
                    await self._wake.wait()
                self._wake = trio.Event()
            nursery.cancel_scope.cancel()

    async def _run_one(self, broadcast: Broadcast) -> None:
        self._current = broadcast.broadcast_id
        self._sending = trio.CancelScope()
        try:
            with self._sending:
                broadcast = await self._send_all(broadcast)
        except PortError as exc:
            self.log.warning("broadcast.paused", broadcast_id=broadcast.broadcast_id, error=str(exc))
            await trio.sleep(PAUSE_S)
            return
        finally:
            self._current = None
        try:
            latest = await self._current_broadcast()
        except PortError:
            latest = None
        final = latest if latest is not None and latest.broadcast_id == broadcast.broadcast_id else broadcast
        if final.status != BroadcastStatus.RUNNING:
            self.log.info("broadcast.ended", broadcast_id=final.broadcast_id, status=final.status.value)
            await self._show(final)

    async def _send_all(self, broadcast: Broadcast) -> Broadcast:
        ctx = self.ctx
        repo = ctx.services.repo
        shown_at = -math.inf
        while True:
            page = await ctx.call("db.statement", repo.broadcast_recipients, broadcast.cursor, PAGE)
            if not page:
                ended = await ctx.call(
                    "db.statement",
                    repo.end_broadcast,
                    broadcast.broadcast_id,
                    BroadcastStatus.DONE,
                    ctx.services.clock.now(),
                )
                return ended or broadcast
            for user_id in page:
                if broadcast.broadcast_id in self._cancelled or self._stopping:
                    return broadcast
                outcome = await self._send(user_id, broadcast.text)
                if outcome is None:  # not through: the same user again after a pause
                    await trio.sleep(PAUSE_S)
                    break
                broadcast = await self._record(broadcast, user_id, outcome)
                if broadcast.status != BroadcastStatus.RUNNING:
                    return broadcast
                if trio.current_time() - shown_at >= PROGRESS_EVERY_S:
                    shown_at = trio.current_time()
                    await self._show(broadcast)

    async def _send(self, user_id: int, text: str) -> SendOutcome | None:
        try:
            await self.ctx.messenger.send_bulk(user_id, text)  # a user's private chat has the user's id
            return SendOutcome.SENT
        except TelegramError as exc:
            if exc.error_code == 403:
                self.log.info("broadcast.blocked", user_id=user_id)
                return SendOutcome.BLOCKED
            if 400 <= exc.error_code < 500 and exc.retry_after is None:
                self.log.info("broadcast.refused", user_id=user_id, error=exc.description)
                return SendOutcome.FAILED
            self.log.warning("broadcast.send_failed", user_id=user_id, error=str(exc))
            return None
        except PortError as exc:
            self.log.warning("broadcast.send_failed", user_id=user_id, error=str(exc))
            return None

    async def _record(self, broadcast: Broadcast, user_id: int, outcome: SendOutcome) -> Broadcast:
        """The message went out (or was refused): recorded before the next one, shielded
        from a cancel, waiting for the database; only a stopping process gives up on it."""
        ctx = self.ctx
        latest: Broadcast | None = None
        with trio.CancelScope(shield=True) as scope:
            self._record_waits.add(scope)
            try:
                latest = await ctx.call(
                    "broadcast.record",
                    ctx.services.repo.record_broadcast_send,
                    broadcast.broadcast_id,
                    user_id,
                    outcome,
                    ctx.services.clock.now(),
                )
            finally:
                self._record_waits.discard(scope)
        if scope.cancelled_caught:
            await trio.lowlevel.checkpoint()  # abandoned at stop: the stop raises here
            raise ServiceUnavailable("database", "broadcast record abandoned at stop")
        if latest is None:  # the row is gone: nothing left to send for
            return dataclasses.replace(broadcast, status=BroadcastStatus.CANCELLED)
        return latest

    async def _abandon_records_when_cancelled(self) -> None:
        try:
            await trio.sleep_forever()
        finally:
            for scope in self._record_waits:
                scope.cancel()

    async def _show(self, broadcast: Broadcast) -> None:
        """Best effort: edit the admin's progress message (a new one if it has none)."""
        text = progress_text(broadcast, broadcast.language)
        if self._shown == (broadcast.broadcast_id, text):
            return
        messenger = self.ctx.messenger
        try:
            with trio.move_on_after(self.ctx.guard.seconds("telegram.notice")):
                if broadcast.progress_message_id is None:
                    await messenger.send_text(broadcast.chat_id, text)
                else:
                    await messenger.edit_text(broadcast.chat_id, broadcast.progress_message_id, text)
                self._shown = (broadcast.broadcast_id, text)
        except PortError as exc:
            self.log.warning(
                "broadcast.progress_not_shown", broadcast_id=broadcast.broadcast_id, error=str(exc)
            )


__all__ = ["BroadcastRunner", "progress_text"]
