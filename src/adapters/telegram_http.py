"""The Telegram Bot API over HTTP (httpx on Trio, via anyio).

Raises only :mod:`bot.errors`. The bot token is part of every URL, so no message
built here ever quotes a URL or an httpx exception: errors name the method and
the failure class instead, are raised outside the ``except`` block (no chained
httpx exception carrying the request), and a logging filter scrubs the token
from httpx's own request log lines.

Deadlines belong to the core; the per-request httpx timeout is only a backstop,
generous enough for a long poll (``timeout_s + 15``).

The JSON -> domain parsers and the error mapping are public: the simulated
adapter uses the same ones, so both adapters agree by construction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

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
from bot.settings import MAX_TELEGRAM_DOWNLOAD_BYTES

JsonDict = dict[str, Any]

ALLOWED_UPDATES = ("message", "callback_query")
POLL_TIMEOUT_MARGIN_S = 15.0
CALL_TIMEOUT_S = 60.0  # backstop only; the core's deadlines are much shorter
DEFAULT_RETRY_AFTER_S = 1.0  # a 429 without parameters.retry_after (never seen, but be safe)

_HTTPX_LOGGERS = ("httpx", "httpcore")

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


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _int(value: object) -> int:
    out = _opt_int(value)
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
        file_size=_opt_int(d.get("file_size")),
    )


def parse_message(raw: object) -> TgMessage:
    d = _obj(raw)
    sender = d.get("from")
    document = d.get("document")
    return TgMessage(
        message_id=_int(d.get("message_id")),
        chat_id=_int(_obj(d.get("chat")).get("id")),
        date=_opt_int(d.get("date")) or 0,
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
        chat_id = _opt_int(_obj(message.get("chat")).get("id"))
        message_id = _opt_int(message.get("message_id"))
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
        file_id=file_id, file_path=_opt_str(d.get("file_path")), file_size=_opt_int(d.get("file_size"))
    )


def keyboard_json(keyboard: InlineKeyboard) -> JsonDict:
    return {
        "inline_keyboard": [
            [{"text": b.text, "callback_data": b.callback_data} for b in row] for row in keyboard
        ]
    }


# ---------------------------------------------------------------- the adapter


class _RedactToken(logging.Filter):
    """Rewrites log records that would print the token (httpx logs every request URL at INFO)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<token>"), ()
        return True


def parsed(method: str, parse: Callable[[object], T], raw: object) -> T:
    """``parse(raw)``; a result that is not Bot API-shaped counts as no answer."""
    try:
        return parse(raw)
    except MalformedResponse as exc:
        detail = f"malformed response ({exc})"
    raise unavailable(method, detail)  # outside `except`: no chained internals


class HttpTelegramApi:
    """bot.ports.TelegramApi over HTTPS."""

    def __init__(
        self,
        token: str,
        base_url: str = "https://api.telegram.org",
        client: httpx.AsyncClient | None = None,
        *,
        max_download_bytes: int = MAX_TELEGRAM_DOWNLOAD_BYTES,
    ) -> None:
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        self._max_download_bytes = max_download_bytes
        self._log_filter = _RedactToken(token)
        for name in _HTTPX_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)

    def __repr__(self) -> str:
        return f"HttpTelegramApi(base_url={self._base_url!r})"

    async def aclose(self) -> None:
        for name in _HTTPX_LOGGERS:
            logging.getLogger(name).removeFilter(self._log_filter)
        if self._owns_client:
            await self._client.aclose()

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "<token>") if self._token else text

    # -------------------------------------------------------- transport

    async def _call(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        files: Mapping[str, tuple[str, bytes]] | None = None,
        timeout_s: float = CALL_TIMEOUT_S,
    ) -> Any:
        """POST one method; return ``result`` or raise the mapped PortError."""
        url = f"{self._base_url}/bot{self._token}/{method}"
        failure: str | None = None
        response: httpx.Response | None = None
        try:
            if files is None:
                response = await self._client.post(url, json=dict(params), timeout=timeout_s)
            else:
                form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
                response = await self._client.post(url, data=form, files=dict(files), timeout=timeout_s)
        except httpx.TimeoutException as exc:
            failure = f"timed out ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            failure = f"network error ({type(exc).__name__})"
        # Raised here, not inside `except`, so no httpx exception (with its URL) is chained.
        if failure is not None or response is None:
            raise unavailable(method, failure or "no response")
        return self._result(method, response)

    def _result(self, method: str, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, Mapping) or "ok" not in body:
            if response.status_code >= 500 or response.status_code == 429:
                raise unavailable(method, f"HTTP {response.status_code}")
            raise TelegramError(response.status_code, f"HTTP {response.status_code} without a Bot API answer")
        if body.get("ok") is True:
            return body.get("result")
        code = _opt_int(body.get("error_code")) or response.status_code
        description = self._redact(str(body.get("description") or f"HTTP {response.status_code}"))
        parameters = body.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, Mapping) else None
        raise telegram_error(code, description, retry_after if isinstance(retry_after, int | float) else None)

    # -------------------------------------------------------- the port

    async def get_updates(self, offset: int | None, timeout_s: int, limit: int = 100) -> list[Update]:
        params: JsonDict = {"timeout": timeout_s, "limit": limit, "allowed_updates": list(ALLOWED_UPDATES)}
        if offset is not None:
            params["offset"] = offset
        raw = await self._call("getUpdates", params, timeout_s=timeout_s + POLL_TIMEOUT_MARGIN_S)
        return parsed("getUpdates", parse_updates, raw)

    @staticmethod
    def _text_params(
        chat_id: int, text: str, parse_mode: str | None, reply_markup: InlineKeyboard | None
    ) -> JsonDict:
        params: JsonDict = {"chat_id": chat_id, "text": text}
        if parse_mode is not None:
            params["parse_mode"] = parse_mode
        if reply_markup is not None:
            params["reply_markup"] = keyboard_json(reply_markup)
        return params

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        reply_markup: InlineKeyboard | None = None,
    ) -> SentMessage:
        raw = await self._call("sendMessage", self._text_params(chat_id, text, parse_mode, reply_markup))
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
        params = self._text_params(chat_id, text, parse_mode, reply_markup)
        params["message_id"] = message_id
        await self._call("editMessageText", params)

    async def _send_file(
        self, method: str, field: str, chat_id: int, filename: str, data: bytes, caption: str | None
    ) -> SentMessage:
        params: JsonDict = {"chat_id": str(chat_id)}
        if caption is not None:
            params["caption"] = caption
        raw = await self._call(method, params, files={field: (filename, data)})
        return parsed(method, parse_sent, raw)

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> SentMessage:
        return await self._send_file("sendDocument", "document", chat_id, filename, data, caption)

    async def send_photo(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> SentMessage:
        return await self._send_file("sendPhoto", "photo", chat_id, filename, data, caption)

    async def answer_callback_query(self, callback_query_id: str, text: str | None = None) -> None:
        params: JsonDict = {"callback_query_id": callback_query_id}
        if text is not None:
            params["text"] = text
        await self._call("answerCallbackQuery", params)

    async def get_file(self, file_id: str) -> TgFile:
        raw = await self._call("getFile", {"file_id": file_id})
        return parsed("getFile", parse_file, raw)

    async def download_file(self, file_path: str) -> bytes:
        """Stream the file, refusing more than ``max_download_bytes`` (the Bot API's limit)."""
        url = f"{self._base_url}/file/bot{self._token}/{quote(file_path, safe='/')}"
        failure: str | None = None
        error_response: httpx.Response | None = None
        chunks: list[bytes] = []
        try:
            async with self._client.stream("GET", url, timeout=CALL_TIMEOUT_S) as response:
                if response.status_code != 200:
                    await response.aread()
                    error_response = response
                else:
                    received = 0
                    async for chunk in response.aiter_bytes():
                        received += len(chunk)
                        if received > self._max_download_bytes:
                            failure = "too big"
                            break
                        chunks.append(chunk)
        except httpx.TimeoutException as exc:
            failure = f"timed out ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            failure = f"network error ({type(exc).__name__})"
        if failure == "too big":
            raise TelegramError(400, f"file is bigger than {self._max_download_bytes} bytes")
        if failure is not None:
            raise unavailable("downloadFile", failure)
        if error_response is not None:
            self._result("downloadFile", error_response)  # raises the mapped error
            raise TelegramError(error_response.status_code, f"HTTP {error_response.status_code}")
        return b"".join(chunks)
