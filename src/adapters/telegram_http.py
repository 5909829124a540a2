"""The Telegram Bot API over HTTP (httpx2 on Trio, via anyio).

Raises only :mod:`bot.errors`. The bot token is part of every URL, so no message
built here ever quotes a URL or an httpx2 exception: errors name the method and
the failure class instead, are raised outside the ``except`` block (no chained
httpx2 exception carrying the request), and a logging filter scrubs the token
from httpx2's own request log lines.

Deadlines belong to the core; the per-request httpx2 timeout is only a backstop,
generous enough for a long poll (``timeout_s`` + a margin); the composition root
derives both from the core's operation policies.

The JSON -> domain parsers and the error mapping live in :mod:`bot.telegram_wire`,
shared with the simulated adapter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx2

from bot import telegram_wire as wire
from bot.domain import (
    InlineKeyboard,
    SentMessage,
    TgFile,
    Update,
)
from bot.errors import TelegramError
from bot.settings import MAX_TELEGRAM_DOWNLOAD_BYTES
from bot.telegram_wire import JsonDict

POLL_TIMEOUT_MARGIN_S = 15.0
CALL_TIMEOUT_S = 60.0  # backstop only; the core's deadlines are much shorter
_HTTPX_LOGGERS = ("httpx2", "httpcore2")

# ---------------------------------------------------------------- the adapter


class _RedactToken(logging.Filter):
    """Rewrites log records that would print the token (httpx2 logs every request URL at INFO)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<token>"), ()
        return True


class HttpTelegramApi:
    """bot.ports.TelegramApi over HTTPS."""

    def __init__(
        self,
        token: str,
        base_url: str = "https://api.telegram.org",
        client: httpx2.AsyncClient | None = None,
        *,
        max_download_bytes: int = MAX_TELEGRAM_DOWNLOAD_BYTES,
        call_timeout_s: float = CALL_TIMEOUT_S,
        poll_margin_s: float = POLL_TIMEOUT_MARGIN_S,
    ) -> None:
        self._call_timeout_s = call_timeout_s
        self._poll_margin_s = poll_margin_s
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client if client is not None else httpx2.AsyncClient()
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
        timeout_s: float | None = None,
    ) -> Any:
        """POST one method; return ``result`` or raise the mapped PortError."""
        timeout_s = self._call_timeout_s if timeout_s is None else timeout_s
        url = f"{self._base_url}/bot{self._token}/{method}"
        failure: str | None = None
        response: httpx2.Response | None = None
        try:
            if files is None:
                response = await self._client.post(url, json=dict(params), timeout=timeout_s)
            else:
                form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
                response = await self._client.post(url, data=form, files=dict(files), timeout=timeout_s)
        except httpx2.TimeoutException as exc:
            failure = f"timed out ({type(exc).__name__})"
        except httpx2.HTTPError as exc:
            failure = f"network error ({type(exc).__name__})"
        # Raised here, not inside `except`, so no httpx2 exception (with its URL) is chained.
        if failure is not None or response is None:
            raise wire.unavailable(method, failure or "no response")
        return self._result(method, response)

    def _result(self, method: str, response: httpx2.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, Mapping) or "ok" not in body:
            if response.status_code >= 500 or response.status_code == 429:
                raise wire.unavailable(method, f"HTTP {response.status_code}")
            raise TelegramError(response.status_code, f"HTTP {response.status_code} without a Bot API answer")
        if body.get("ok") is True:
            return body.get("result")
        code = wire.opt_int(body.get("error_code")) or response.status_code
        description = self._redact(str(body.get("description") or f"HTTP {response.status_code}"))
        parameters = body.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, Mapping) else None
        raise wire.telegram_error(
            code, description, retry_after if isinstance(retry_after, int | float) else None
        )

    # -------------------------------------------------------- the port

    async def get_updates(self, offset: int | None, timeout_s: int, limit: int = 100) -> list[Update]:
        params: JsonDict = {
            "timeout": timeout_s,
            "limit": limit,
            "allowed_updates": list(wire.ALLOWED_UPDATES),
        }
        if offset is not None:
            params["offset"] = offset
        raw = await self._call("getUpdates", params, timeout_s=timeout_s + self._poll_margin_s)
        return wire.parsed("getUpdates", wire.parse_updates, raw)

    @staticmethod
    def _text_params(
        chat_id: int, text: str, parse_mode: str | None, reply_markup: InlineKeyboard | None
    ) -> JsonDict:
        params: JsonDict = {"chat_id": chat_id, "text": text}
        if parse_mode is not None:
            params["parse_mode"] = parse_mode
        if reply_markup is not None:
            params["reply_markup"] = wire.keyboard_json(reply_markup)
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
        return wire.parsed("sendMessage", wire.parse_sent, raw)

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
        return wire.parsed(method, wire.parse_sent, raw)

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
        return wire.parsed("getFile", wire.parse_file, raw)

    async def download_file(self, file_path: str) -> bytes:
        """Stream the file, refusing more than ``max_download_bytes`` (the Bot API's limit)."""
        url = f"{self._base_url}/file/bot{self._token}/{quote(file_path, safe='/')}"
        failure: str | None = None
        error_response: httpx2.Response | None = None
        chunks: list[bytes] = []
        try:
            async with self._client.stream("GET", url, timeout=self._call_timeout_s) as response:
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
        except httpx2.TimeoutException as exc:
            failure = f"timed out ({type(exc).__name__})"
        except httpx2.HTTPError as exc:
            failure = f"network error ({type(exc).__name__})"
        if failure == "too big":
            raise TelegramError(400, f"file is bigger than {self._max_download_bytes} bytes")
        if failure is not None:
            raise wire.unavailable("downloadFile", failure)
        if error_response is not None:
            self._result("downloadFile", error_response)  # raises the mapped error
            raise TelegramError(error_response.status_code, f"HTTP {error_response.status_code}")
        return b"".join(chunks)
