"""Every call the bot makes to Telegram goes through here.

Each attempt runs under its operation's policy (bot.policy, bot.guard); sends
pass the rate limiter; a 429 pauses all sends for ``retry_after`` and is retried
after it; transient network failures are retried with backoff while the caller's
budget allows. A retried send may, rarely, reach the user twice (the Bot API has
no idempotency key); we prefer that to a lost answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from bot.domain import InlineKeyboard, SentMessage, TgFile, Update
from bot.errors import PortError, TelegramError, TelegramRetryAfter
from bot.guard import Guard
from bot.log import Logger
from bot.policy import Op
from bot.ports import TelegramApi
from bot.ratelimit import SendLimiter
from bot.send_lanes import SendLanes

T = TypeVar("T")
CAPTION_LIMIT = 1024  # Telegram refuses longer captions, counted in UTF-16 code units


def fit_caption(caption: str | None) -> str | None:
    """A caption Telegram accepts: one past its limit is cut, with "…" (it is plain text)."""
    if caption is None or len(caption.encode("utf-16-le")) // 2 <= CAPTION_LIMIT:
        return caption
    kept, used = [], 0
    for char in caption:
        used += 2 if ord(char) > 0xFFFF else 1
        if used > CAPTION_LIMIT - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


class Messenger:
    def __init__(self, api: TelegramApi, guard: Guard, limiter: SendLimiter, log: Logger) -> None:
        self.api = api
        self.guard = guard
        # Every send passes the lanes: replies first, a broadcast's bulk sends below them.
        self.limiter = limiter if isinstance(limiter, SendLanes) else SendLanes(limiter)
        self.log = log

    async def _attempts(
        self,
        op: Op,
        chat_id: int | None,
        call: Callable[[], Awaitable[T]],
        *,
        limited: bool,
        bulk: bool = False,
    ) -> T:
        async def attempt() -> T:
            if bulk:
                await self.limiter.acquire_bulk(chat_id)
            elif limited:
                await self.limiter.acquire(chat_id)
            try:
                return await self.guard.call(op, call)
            except TelegramRetryAfter as exc:
                wait = float(exc.retry_after or 1.0)
                await self.limiter.pause_all(wait)
                self.guard.metrics.count("telegram.429")
                raise  # retried after ``retry_after`` (bot.guard), and logged there

        return await self.guard.retrying(op, attempt)

    async def tell(
        self, chat_id: int, text: str, *, failed: str, budget_s: float | None = None, **fields: object
    ) -> TelegramError | bool:
        """Send ``text`` best effort: a failure is logged as ``failed`` with ``fields``,
        never raised. ``budget_s`` (default the ``telegram.notice`` deadline) bounds it.
        True when sent; the TelegramError when Telegram refused; False otherwise."""
        with trio.move_on_after(self.guard.seconds("telegram.notice") if budget_s is None else budget_s):
            try:
                await self.send_text(chat_id, text)
                return True
            except TelegramError as exc:
                self.log.error(failed, error=str(exc), **fields)
                return exc
            except PortError as exc:
                self.log.error(failed, error=str(exc), **fields)
                return False
        self.log.error(failed, error="out of time", **fields)
        return False

    async def send_text(
        self, chat_id: int, text: str, *, reply_markup: InlineKeyboard | None = None
    ) -> SentMessage:
        return await self._attempts(
            "telegram.call",
            chat_id,
            lambda: self.api.send_message(chat_id, text, reply_markup=reply_markup),
            limited=True,
        )

    async def send_bulk(self, chat_id: int, text: str) -> SentMessage:
        """A broadcast's message, as plain text, in the bulk lane (below every reply)."""
        return await self._attempts(
            "broadcast.send",
            chat_id,
            lambda: self.api.send_message(chat_id, text, parse_mode=None),
            limited=True,
            bulk=True,
        )

    async def edit_text(self, chat_id: int, message_id: int, text: str) -> None:
        await self._attempts(
            "telegram.call",
            chat_id,
            lambda: self.api.edit_message_text(chat_id, message_id, text),
            limited=True,
        )

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, caption: str | None = None
    ) -> None:
        await self._attempts(
            "telegram.send_file",
            chat_id,
            lambda: self.api.send_document(chat_id, filename, data, caption=fit_caption(caption)),
            limited=True,
        )

    async def send_photo(self, chat_id: int, filename: str, data: bytes, caption: str | None = None) -> None:
        await self._attempts(
            "telegram.send_file",
            chat_id,
            lambda: self.api.send_photo(chat_id, filename, data, caption=fit_caption(caption)),
            limited=True,
        )

    async def answer_callback(self, callback_query_id: str, text: str | None = None) -> None:
        await self._attempts(
            "telegram.call",
            None,
            lambda: self.api.answer_callback_query(callback_query_id, text),
            limited=False,
        )

    async def get_file(self, file_id: str) -> TgFile:
        return await self._attempts("telegram.call", None, lambda: self.api.get_file(file_id), limited=False)

    async def download(self, file_path: str) -> bytes:
        return await self._attempts(
            "telegram.download", None, lambda: self.api.download_file(file_path), limited=False
        )

    async def get_updates(self, offset: int | None, timeout_s: int, limit: int) -> list[Update]:
        """One long poll (its deadline: the poll's timeout plus the ``telegram.poll`` margin);
        no retries here: the poller decides when to poll again."""
        return await self.guard.call_waiting(
            "telegram.poll", timeout_s, lambda: self.api.get_updates(offset, timeout_s, limit)
        )
