"""Every call the bot makes to Telegram goes through here.

Each attempt runs under its named deadline (bot.guard); sends pass the rate
limiter; a 429 pauses all sends for ``retry_after`` and is retried; transient
network failures are retried with backoff while the caller's budget allows.
A retried send may, rarely, reach the user twice (the Bot API has no idempotency
key); we prefer that to a lost answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from bot.domain import InlineKeyboard, SentMessage, TgFile, Update
from bot.errors import DeadlineExceeded, ServiceUnavailable, TelegramError, TelegramRetryAfter
from bot.guard import Guard
from bot.log import Logger
from bot.ports import TelegramApi, WallClock
from bot.ratelimit import SendLimiter

T = TypeVar("T")

MAX_ATTEMPTS = 5  # for failures; a 429 is Telegram saying "wait", bounded by the budget
MAX_RETRY_AFTER_WAITS = 20


class Messenger:
    def __init__(
        self,
        api: TelegramApi,
        guard: Guard,
        limiter: SendLimiter,
        clock: WallClock,
        log: Logger,
    ) -> None:
        self.api = api
        self.guard = guard
        self.limiter = limiter
        self.clock = clock
        self.log = log

    async def _attempts(
        self, deadline: str, chat_id: int | None, call: Callable[[], Awaitable[T]], *, limited: bool
    ) -> T:
        number = 0  # failed attempts
        waits = 0  # 429s honoured
        while True:
            if limited:
                await self.limiter.acquire(chat_id)
            try:
                return await self.guard.call(deadline, call)
            except TelegramRetryAfter as exc:
                wait = float(exc.retry_after or 1.0)
                self.limiter.pause_all(wait)
                waits += 1
                self.log.warning("telegram.retry_after", seconds=wait, wait_number=waits)
                if waits == MAX_RETRY_AFTER_WAITS or wait >= self.guard.remaining():
                    raise
                if not limited:
                    await trio.sleep(wait)
            except (ServiceUnavailable, DeadlineExceeded, TelegramError) as exc:
                if isinstance(exc, TelegramError) and exc.error_code < 500:
                    raise  # a refusal (400, 403...) will not change on retry
                number += 1
                backoff = self.clock.random() * min(8.0, 0.5 * 2**number)
                if number == MAX_ATTEMPTS or backoff >= self.guard.remaining():
                    raise
                self.log.warning("telegram.retry", error=str(exc), attempt=number)
                await trio.sleep(backoff)

    async def send_text(
        self, chat_id: int, text: str, *, reply_markup: InlineKeyboard | None = None
    ) -> SentMessage:
        return await self._attempts(
            "telegram.call",
            chat_id,
            lambda: self.api.send_message(chat_id, text, reply_markup=reply_markup),
            limited=True,
        )

    async def edit_text(
        self, chat_id: int, message_id: int, text: str, *, reply_markup: InlineKeyboard | None = None
    ) -> None:
        await self._attempts(
            "telegram.call",
            chat_id,
            lambda: self.api.edit_message_text(chat_id, message_id, text, reply_markup=reply_markup),
            limited=True,
        )

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, caption: str | None = None
    ) -> None:
        await self._attempts(
            "telegram.send_file",
            chat_id,
            lambda: self.api.send_document(chat_id, filename, data, caption=caption),
            limited=True,
        )

    async def send_photo(self, chat_id: int, filename: str, data: bytes, caption: str | None = None) -> None:
        await self._attempts(
            "telegram.send_file",
            chat_id,
            lambda: self.api.send_photo(chat_id, filename, data, caption=caption),
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
        """One long poll: budget = poll timeout + margin; no retries here (the poller loops)."""
        budget = timeout_s + self.guard.seconds("telegram.poll_margin")
        return await self.guard.call_within(
            "telegram.poll", budget, lambda: self.api.get_updates(offset, timeout_s, limit)
        )
