"""Plain records of the emulated world: what the bot sent, what users uploaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.domain import InlineKeyboard

SentKind = Literal["message", "edit", "document", "photo", "callback_answer"]


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One thing the bot did to a chat, in the order the world saw it.

    ``seq`` increases across the whole world, so "everything after seq N" is a cursor.
    """

    seq: int
    chat_id: int
    kind: SentKind
    date: int
    message_id: int | None = None
    text: str | None = None
    parse_mode: str | None = None
    reply_markup: InlineKeyboard | None = None
    caption: str | None = None
    file_id: str | None = None
    file_name: str | None = None
    mime_type: str | None = None
    data: bytes | None = None
    callback_query_id: str | None = None
    show_alert: bool = False

    @property
    def button_data(self) -> list[str]:
        """The callback data of every button, row by row."""
        return [b.callback_data for row in self.reply_markup or () for b in row]


@dataclass(frozen=True, slots=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    file_name: str | None
    mime_type: str | None
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class UserAction:
    """What a user action produced: the queued update and the ids it carries."""

    update_id: int
    message_id: int | None = None
    file_id: str | None = None
    callback_query_id: str | None = None
