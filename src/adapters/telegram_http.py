"""The Telegram Bot API over HTTP on Trio.

The JSON methods (getUpdates, sendMessage, ...: every update's poll and reply) go over
:class:`adapters.json_http.JsonHttpClient`, a lean keep-alive HTTP/1.1 client, with
orjson; file uploads and downloads, an injected httpx2 client (tests' mock transports)
and a proxy from the environment go over httpx2 (via anyio).

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
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2
import orjson

from adapters.json_http import HttpFailure, JsonHttpClient
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


def _proxied(base_url: str) -> bool:
    """A proxy set in the environment for this URL (httpx2 honours it; the lean client does not)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return True  # not ours to handle: httpx2 says what is wrong with it
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname)


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
        # The JSON methods (every update's poll and reply) go over a lean keep-alive client;
        # files and downloads, a given client (tests' mock transports) and proxies stay on httpx2.
        self._json: JsonHttpClient | None = None
        if client is None and not _proxied(self._base_url):
            self._json = JsonHttpClient(self._base_url)
        # Parsed updates by id: a poll returns again the updates still being handled,
        # and an update's content never changes. Ids below the poll's offset are dropped.
        self._parsed: dict[int, Update] = {}
        self._max_download_bytes = max_download_bytes
        self._log_filter = _RedactToken(token)
        for name in _HTTPX_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)

    def __repr__(self) -> str:
        return f"HttpTelegramApi(base_url={self._base_url!r})"

    async def aclose(self) -> None:
        for name in _HTTPX_LOGGERS:
            logging.getLogger(name).removeFilter(self._log_filter)
        if self._json is not None:
            await self._json.aclose()
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
        failure: str | None = None
        if files is None and self._json is not None:
            try:
                status, content = await self._json.post(
                    f"/bot{self._token}/{method}", orjson.dumps(params), timeout_s
                )
            except HttpFailure as exc:
                failure = str(exc)
            else:
                return self._answer(method, status, content)
            raise wire.unavailable(method, failure)
        url = f"{self._base_url}/bot{self._token}/{method}"
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
        return self._answer(method, response.status_code, response.content)

    def _answer(self, method: str, status: int, content: bytes) -> Any:
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, Mapping) or "ok" not in body:
            if status >= 500 or status == 429:
                raise wire.unavailable(method, f"HTTP {status}")
            raise TelegramError(status, f"HTTP {status} without a Bot API answer")
        if body.get("ok") is True:
            return body.get("result")
        code = wire.opt_int(body.get("error_code")) or status
        description = self._redact(str(body.get("description") or f"HTTP {status}"))
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
        return wire.parsed("getUpdates", self._parse_updates, raw)

    def _parse_updates(self, raw: object) -> list[Update]:
        """wire.parse_updates, reusing what an earlier poll parsed (see ``_parsed``)."""
        if not isinstance(raw, list):
            return wire.parse_updates(raw)
        known = self._parsed
        out: list[Update] = []
        for item in raw:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            update = known.get(update_id) if type(update_id) is int else None
            if update is None:
                update = wire.parse_update(item)
            out.append(update)
        if out:
            self._forget_below(out[0].update_id)
        else:
            known.clear()
        for update in out:
            known[update.update_id] = update
        return out

    def _forget_below(self, oldest: int) -> None:
        # Telegram returns updates from the offset on, oldest first: below the first
        # returned, an update is confirmed and never comes again.
        for update_id in [u for u in self._parsed if u < oldest]:
            del self._parsed[update_id]

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
