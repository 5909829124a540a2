"""Bot API-shaped JSON for the emulator: envelopes, users, chats, keyboards, log records.

Shared by the in-memory world (which returns Bot API-shaped results) and the HTTP
server (which wraps them in ``{"ok": ...}`` envelopes and serves the control API).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain import InlineButton, InlineKeyboard, TgUser
from sim.fakes.telegram.records import SentRecord

JsonDict = dict[str, Any]

MAX_CALLBACK_DATA_BYTES = 64


class WireError(ValueError):
    """A request parameter does not have the shape the Bot API expects."""


def ok(result: object) -> JsonDict:
    return {"ok": True, "result": result}


def error(error_code: int, description: str, retry_after: int | None = None) -> JsonDict:
    body: JsonDict = {"ok": False, "error_code": error_code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return body


def user_to_wire(user: TgUser, *, is_bot: bool = False) -> JsonDict:
    out: JsonDict = {"id": user.id, "is_bot": is_bot, "first_name": user.first_name or f"user{user.id}"}
    if user.username is not None:
        out["username"] = user.username
    if user.language_code is not None:
        out["language_code"] = user.language_code
    return out


def chat_to_wire(chat_id: int, user: TgUser) -> JsonDict:
    """Telegram's convention: a private chat's id is the user's id; groups are negative."""
    if chat_id == user.id:
        chat: JsonDict = {"id": chat_id, "type": "private", "first_name": user.first_name or f"user{user.id}"}
        if user.username is not None:
            chat["username"] = user.username
        return chat
    return {"id": chat_id, "type": "group", "title": f"chat {chat_id}"}


def keyboard_from_wire(markup: object) -> InlineKeyboard | None:
    """Parse ``reply_markup``; only inline keyboards with callback buttons are modelled."""
    if markup is None:
        return None
    if not isinstance(markup, Mapping) or not isinstance(markup.get("inline_keyboard"), list):
        raise WireError("can't parse reply keyboard markup JSON object")
    rows: list[tuple[InlineButton, ...]] = []
    for row in markup["inline_keyboard"]:
        if not isinstance(row, list):
            raise WireError("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
        buttons: list[InlineButton] = []
        for button in row:
            if not isinstance(button, Mapping):
                raise WireError("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            text, data = button.get("text"), button.get("callback_data")
            if not isinstance(text, str) or not text:
                raise WireError("can't parse inline keyboard button: Text must be non-empty")
            if not isinstance(data, str):
                raise WireError(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if not data or len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
                raise WireError("BUTTON_DATA_INVALID")
            buttons.append(InlineButton(text=text, callback_data=data))
        rows.append(tuple(buttons))
    return tuple(rows)


def keyboard_to_wire(keyboard: InlineKeyboard) -> JsonDict:
    return {
        "inline_keyboard": [
            [{"text": b.text, "callback_data": b.callback_data} for b in row] for row in keyboard
        ]
    }


def record_to_json(record: SentRecord, download_prefix: str) -> JsonDict:
    """A log record for the control API: file bytes become a download link."""
    out: JsonDict = {
        "seq": record.seq,
        "kind": record.kind,
        "chat_id": record.chat_id,
        "message_id": record.message_id,
        "date": record.date,
    }
    if record.text is not None:
        out["text"] = record.text
        out["parse_mode"] = record.parse_mode
    if record.kind in ("message", "edit"):
        out["reply_markup"] = keyboard_to_wire(record.reply_markup) if record.reply_markup else None
    if record.caption is not None:
        out["caption"] = record.caption
    if record.file_id is not None:
        out["file_id"] = record.file_id
        out["file_name"] = record.file_name
        out["file_size"] = len(record.data or b"")
        out["download"] = f"{download_prefix}/{record.file_id}"
    if record.callback_query_id is not None:
        out["callback_query_id"] = record.callback_query_id
        out["show_alert"] = record.show_alert
    return out
