"""A client of the emulator's control API (``/_emu/``): act as a user, read what the bot sent.

Used by the terminal chat and by end-to-end tests that drive an emulator over HTTP.
Control API failures raise :class:`ControlError`; this is a test tool, not a port.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from bot.domain import TgUser

JsonDict = dict[str, Any]


class ControlError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ChatPage:
    items: list[JsonDict]
    last_seq: int


def _user_json(user: TgUser) -> JsonDict:
    return {
        "id": user.id,
        "language_code": user.language_code,
        "first_name": user.first_name,
        "username": user.username,
    }


class EmulatorControl:
    """Acts on an emulator at ``base_url`` (the URL serve_emulator reported)."""

    def __init__(self, base_url: str, client: httpx2.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client if client is not None else httpx2.AsyncClient(timeout=60.0)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    @staticmethod
    def _checked(response: httpx2.Response) -> JsonDict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            detail = body.get("error") if isinstance(body, dict) else response.text[:200]
            raise ControlError(f"control API answered {response.status_code}: {detail}")
        return body

    async def send_text(self, user: TgUser, chat_id: int, text: str) -> JsonDict:
        response = await self._client.post(
            f"{self.base_url}/_emu/chats/{chat_id}/text", json={"user": _user_json(user), "text": text}
        )
        return self._checked(response)

    async def send_document(
        self,
        user: TgUser,
        chat_id: int,
        file_name: str,
        data: bytes,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> JsonDict:
        form = {"user": json.dumps(_user_json(user)), "file_name": file_name}
        if mime_type:
            form["mime_type"] = mime_type
        if caption:
            form["caption"] = caption
        response = await self._client.post(
            f"{self.base_url}/_emu/chats/{chat_id}/document", data=form, files={"file": (file_name, data)}
        )
        return self._checked(response)

    async def press(self, user: TgUser, chat_id: int, message_id: int, callback_data: str) -> JsonDict:
        response = await self._client.post(
            f"{self.base_url}/_emu/chats/{chat_id}/press",
            json={"user": _user_json(user), "message_id": message_id, "callback_data": callback_data},
        )
        return self._checked(response)

    async def messages(self, chat_id: int, after: int = 0, wait_s: float = 0.0) -> ChatPage:
        """What the bot did in the chat after cursor ``after``; waits up to ``wait_s`` for news."""
        response = await self._client.get(
            f"{self.base_url}/_emu/chats/{chat_id}/messages",
            params={"after": after, "wait": wait_s},
            timeout=wait_s + 15.0,
        )
        body = self._checked(response)
        return ChatPage(items=list(body["items"]), last_seq=int(body["last_seq"]))

    async def download(self, path: str) -> bytes:
        """Bytes of a document or photo, from a record's ``download`` path."""
        response = await self._client.get(f"{self.base_url}{path}")
        if response.status_code != 200:
            raise ControlError(f"download answered {response.status_code}")
        return response.content

    async def inject(self, method: str, fault: Mapping[str, Any], count: int = 1) -> None:
        """The next ``count`` calls of ``method`` meet ``fault``: a ``[[faults]]`` table of a
        ``botapi_*`` kind (see scenarios/README.md)."""
        body = {"method": method, "count": count, "fault": dict(fault)}
        self._checked(await self._client.post(f"{self.base_url}/_emu/faults", json=body))

    async def fail_next(
        self, method: str, error_code: int, description: str, retry_after: int | None = None, count: int = 1
    ) -> None:
        fault: JsonDict = {"kind": "botapi_error", "error_code": error_code, "description": description}
        if retry_after is not None:
            fault["retry_after"] = retry_after
        await self.inject(method, fault, count)

    async def break_next(self, method: str, count: int = 1, *, after_effect: bool = False) -> None:
        await self.inject(
            method, {"kind": "botapi_no_response", "phase": "after" if after_effect else "before"}, count
        )

    async def set_webhook_conflict(self, active: bool) -> None:
        response = await self._client.post(f"{self.base_url}/_emu/webhook_conflict", json={"active": active})
        self._checked(response)

    async def state(self) -> JsonDict:
        return self._checked(await self._client.get(f"{self.base_url}/_emu/state"))
