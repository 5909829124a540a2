"""The Bot API's wire format: JSON to domain types, keyboards to JSON, error codes
to :mod:`bot.errors`. No HTTP here: the HTTP adapter and the simulated one both
use these, so they agree by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bot.domain import (
    InlineKeyboard,
    SentMessage,
    TgCallbackQuery,
    TgDocument,
    TgFile,
    TgMessage,
    TgUser,
    Update,
)
from bot.errors import ServiceUnavailable, TelegramConflict, TelegramError, TelegramRetryAfter

JsonDict = dict[str, Any]

ALLOWED_UPDATES = ("message", "callback_query")
DEFAULT_RETRY_AFTER_S = 1.0  # a 429 without parameters.retry_after (never seen, but be safe)

T = TypeVar("T")


class MalformedResponse(ValueError):
    """The Bot API answered JSON we cannot read."""


# ---------------------------------------------------------------- error mapping


def telegram_error(error_code: int, description: str, retry_after: float | None = None) -> TelegramError:
    """The PortError for an ``ok: false`` answer."""
    if error_code == 429:
        return TelegramRetryAfter(
            description, float(retry_after) if retry_after is not None else DEFAULT_RETRY_AFTER_S
        )
    if error_code == 409:
        return TelegramConflict(description)
    return TelegramError(error_code, description, retry_after)


def unavailable(method: str, detail: str) -> ServiceUnavailable:
    return ServiceUnavailable("telegram", f"{method}: {detail}")


# ---------------------------------------------------------------- JSON -> domain


def _obj(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedResponse("expected an object")
    return value


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _int(value: object) -> int:
    out = opt_int(value)
    if out is None:
        raise MalformedResponse("expected an integer")
    return out


def parse_user(raw: object) -> TgUser:
    d = _obj(raw)
    return TgUser(
        id=_int(d.get("id")),
        language_code=_opt_str(d.get("language_code")),
        first_name=_opt_str(d.get("first_name")) or "",
        username=_opt_str(d.get("username")),
    )


def parse_document(raw: object) -> TgDocument:
    d = _obj(raw)
    file_id, unique = d.get("file_id"), d.get("file_unique_id")
    if not isinstance(file_id, str) or not isinstance(unique, str):
        raise MalformedResponse("document without file ids")
    return TgDocument(
        file_id=file_id,
        file_unique_id=unique,
        file_name=_opt_str(d.get("file_name")),
        mime_type=_opt_str(d.get("mime_type")),
        file_size=opt_int(d.get("file_size")),
    )


def parse_message(raw: object) -> TgMessage:
    d = _obj(raw)
    sender = d.get("from")
    document = d.get("document")
    return TgMessage(
        message_id=_int(d.get("message_id")),
        chat_id=_int(_obj(d.get("chat")).get("id")),
        date=opt_int(d.get("date")) or 0,
        from_user=parse_user(sender) if sender is not None else None,
        text=_opt_str(d.get("text")),
        document=parse_document(document) if document is not None else None,
        caption=_opt_str(d.get("caption")),
    )


def parse_callback_query(raw: object) -> TgCallbackQuery:
    d = _obj(raw)
    query_id = d.get("id")
    if not isinstance(query_id, str):
        raise MalformedResponse("callback query without id")
    message = d.get("message")
    chat_id = message_id = None
    if isinstance(message, Mapping):
        chat_id = opt_int(_obj(message.get("chat")).get("id"))
        message_id = opt_int(message.get("message_id"))
    return TgCallbackQuery(
        id=query_id,
        from_user=parse_user(d.get("from")),
        data=_opt_str(d.get("data")),
        chat_id=chat_id,
        message_id=message_id,
    )


def parse_update(raw: object) -> Update:
    """Kinds other than message/callback_query become an empty Update: the core still
    has to confirm its update_id."""
    d = _obj(raw)
    message, query = d.get("message"), d.get("callback_query")
    return Update(
        update_id=_int(d.get("update_id")),
        message=parse_message(message) if message is not None else None,
        callback_query=parse_callback_query(query) if query is not None else None,
    )


def update_wire(update: Update) -> JsonDict:
    """The Bot API JSON that :func:`parse_update` reads back as ``update`` (what the bot
    keeps of an update it must resume after a restart)."""
    wire: JsonDict = {"update_id": update.update_id}
    if update.message is not None:
        wire["message"] = _message_wire(update.message)
    if update.callback_query is not None:
        query = update.callback_query
        wire["callback_query"] = _without_none(
            {"id": query.id, "from": _user_wire(query.from_user), "data": query.data}
        )
        if query.chat_id is not None:  # the message the button was under (Telegram names both)
            wire["callback_query"]["message"] = _without_none(
                {"message_id": query.message_id, "chat": {"id": query.chat_id}}
            )
    return wire


def _message_wire(message: TgMessage) -> JsonDict:
    document = message.document
    return _without_none(
        {
            "message_id": message.message_id,
            "chat": {"id": message.chat_id},
            "date": message.date,
            "from": None if message.from_user is None else _user_wire(message.from_user),
            "text": message.text,
            "caption": message.caption,
            "document": None
            if document is None
            else _without_none(
                {
                    "file_id": document.file_id,
                    "file_unique_id": document.file_unique_id,
                    "file_name": document.file_name,
                    "mime_type": document.mime_type,
                    "file_size": document.file_size,
                }
            ),
        }
    )


def _user_wire(user: TgUser) -> JsonDict:
    return _without_none(
        {
            "id": user.id,
            "language_code": user.language_code,
            "first_name": user.first_name,
            "username": user.username,
        }
    )


def _without_none(fields: JsonDict) -> JsonDict:
    return {k: v for k, v in fields.items() if v is not None}


def parse_updates(raw: object) -> list[Update]:
    if not isinstance(raw, list):
        raise MalformedResponse("expected a list of updates")
    return [parse_update(item) for item in raw]


def parse_sent(raw: object) -> SentMessage:
    d = _obj(raw)
    return SentMessage(chat_id=_int(_obj(d.get("chat")).get("id")), message_id=_int(d.get("message_id")))


def parse_file(raw: object) -> TgFile:
    d = _obj(raw)
    file_id = d.get("file_id")
    if not isinstance(file_id, str):
        raise MalformedResponse("file without file_id")
    return TgFile(
        file_id=file_id, file_path=_opt_str(d.get("file_path")), file_size=opt_int(d.get("file_size"))
    )


def keyboard_json(keyboard: InlineKeyboard) -> JsonDict:
    return {
        "inline_keyboard": [
            [{"text": b.text, "callback_data": b.callback_data} for b in row] for row in keyboard
        ]
    }


def parsed(method: str, parse: Callable[[object], T], raw: object) -> T:
    """``parse(raw)``; a result that is not Bot API-shaped counts as no answer."""
    try:
        return parse(raw)
    except MalformedResponse as exc:
        detail = f"malformed response ({exc})"
    raise unavailable(method, detail)  # outside `except`: no chained internals
