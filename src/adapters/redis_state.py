"""Conversation state in Redis: one JSON value per (chat, user) with an expiry.

Losing a value is acceptable by design (the user is asked to start the step
again), so an unreadable value is treated as no value rather than as an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.redis_client import RedisClient


class RedisConversationStore:
    """Implements :class:`bot.ports.ConversationStore`."""

    def __init__(self, client: RedisClient, prefix: str = "csvbot:") -> None:
        self._client = client
        self._prefix = prefix

    def key(self, chat_id: int, user_id: int) -> str:
        return f"{self._prefix}fsm:{chat_id}:{user_id}"

    async def get(self, chat_id: int, user_id: int) -> dict[str, Any] | None:
        raw = await self._client.call(self._client.raw.get, self.key(chat_id, user_id))
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    async def set(self, chat_id: int, user_id: int, data: dict[str, Any], ttl_s: int) -> None:
        if ttl_s < 1:
            raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s}")
        # Serialise before any I/O: a value that is not JSON fails here, not half-way.
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        await self._client.call(self._client.raw.set, self.key(chat_id, user_id), payload, ex=ttl_s)

    async def clear(self, chat_id: int, user_id: int) -> None:
        await self._client.call(self._client.raw.delete, self.key(chat_id, user_id))

    async def mark(self, name: str, ttl_s: int) -> bool:
        if ttl_s < 1:
            raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s}")
        key = f"{self._prefix}mark:{name}"
        done = await self._client.call(self._client.raw.set, key, "1", nx=True, ex=ttl_s)
        return bool(done)

    async def is_marked(self, name: str) -> bool:
        found = await self._client.call(self._client.raw.exists, f"{self._prefix}mark:{name}")
        return bool(found)

    # One hash of kept updates: written and given its expiry in one transaction.

    async def keep_updates(self, updates: Mapping[int, str], ttl_s: int) -> None:
        if ttl_s < 1:
            raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s}")
        if not updates:
            return
        key, fields = self._kept_key, {str(k): v for k, v in updates.items()}

        def write(raw: Any) -> None:
            raw.pipeline(transaction=True).hset(key, mapping=fields).expire(key, ttl_s).execute()

        await self._client.call(write, self._client.raw)

    async def kept_updates(self) -> dict[int, str]:
        raw = await self._client.call(self._client.raw.hgetall, self._kept_key)
        kept: dict[int, str] = {}
        for field, value in raw.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            if name.lstrip("-").isdigit():
                kept[int(name)] = value.decode() if isinstance(value, bytes) else str(value)
        return kept

    async def drop_updates(self, update_ids: Sequence[int]) -> None:
        if update_ids:
            await self._client.call(self._client.raw.hdel, self._kept_key, *(str(u) for u in update_ids))

    @property
    def _kept_key(self) -> str:
        return f"{self._prefix}kept-updates"


__all__ = ["RedisConversationStore"]
