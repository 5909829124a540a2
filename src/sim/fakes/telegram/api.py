"""bot.ports.TelegramApi on a BotApiWorld in the same process (no HTTP).

It speaks the world's Bot API-shaped values and reuses the real adapter's parsers
and error mapping, so the two adapters differ only in transport: a failure the
world reports maps to the same bot.errors exception on both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.domain import InlineKeyboard, SentMessage, TgFile, Update
from bot.telegram_wire import (
    ALLOWED_UPDATES,
    keyboard_json,
    parse_file,
    parse_sent,
    parse_updates,
    parsed,
    telegram_error,
    unavailable,
)
from sim.fakes.telegram.world import BotApiError, BotApiUnavailable, BotApiWorld

T = TypeVar("T")


class SimTelegramApi:
    """The simulated Telegram client of one bot token."""

    def __init__(self, world: BotApiWorld, token: str) -> None:
        self._world = world
        self._token = token

    def __repr__(self) -> str:
        return f"SimTelegramApi(world={self._world!r})"

    async def aclose(self) -> None:
        """Nothing to release; present so composition roots can treat both adapters alike."""

    async def _call(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        failure: BotApiError | str | None = None
        try:
            self._world.authorize(self._token)
            return await call()
        except BotApiError as exc:
            failure = exc
        except BotApiUnavailable:
            failure = "no response"
        # Raised outside `except`: the error chain stays free of emulator internals.
        if isinstance(failure, BotApiError):
            raise telegram_error(failure.error_code, failure.description, failure.retry_after)
        raise unavailable(method, failure or "no response")

    async def get_updates(self, offset: int | None, timeout_s: int, limit: int = 100) -> list[Update]:
        raw = await self._call(
            "getUpdates",
            lambda: self._world.get_updates(
                offset=offset, limit=limit, timeout=timeout_s, allowed_updates=ALLOWED_UPDATES
            ),
        )
        return parsed("getUpdates", parse_updates, raw)

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        reply_markup: InlineKeyboard | None = None,
    ) -> SentMessage:
        markup = keyboard_json(reply_markup) if reply_markup is not None else None
        raw = await self._call(
            "sendMessage",
            lambda: self._world.send_message(
                chat_id=chat_id, text=text, parse_mode=parse_mode, reply_markup=markup
            ),
        )
        return parsed("sendMessage", parse_sent, raw)

    async def edit_message_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        reply_markup: InlineKeyboard | None = None,
    ) -> None:
        markup = keyboard_json(reply_markup) if reply_markup is not None else None
        await self._call(
            "editMessageText",
            lambda: self._world.edit_message_text(
                chat_id=chat_id, message_id=message_id, text=text, parse_mode=parse_mode, reply_markup=markup
            ),
        )

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> SentMessage:
        raw = await self._call(
            "sendDocument",
            lambda: self._world.send_document(
                chat_id=chat_id, file_name=filename, data=data, caption=caption
            ),
        )
        return parsed("sendDocument", parse_sent, raw)

    async def send_photo(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> SentMessage:
        raw = await self._call(
            "sendPhoto",
            lambda: self._world.send_photo(chat_id=chat_id, file_name=filename, data=data, caption=caption),
        )
        return parsed("sendPhoto", parse_sent, raw)

    async def answer_callback_query(self, callback_query_id: str, text: str | None = None) -> None:
        await self._call(
            "answerCallbackQuery",
            lambda: self._world.answer_callback_query(callback_query_id=callback_query_id, text=text),
        )

    async def get_file(self, file_id: str) -> TgFile:
        raw = await self._call("getFile", lambda: self._world.get_file(file_id=file_id))
        return parsed("getFile", parse_file, raw)

    async def download_file(self, file_path: str) -> bytes:
        return await self._call("downloadFile", lambda: self._world.download(file_path))
