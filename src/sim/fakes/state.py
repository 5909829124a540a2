"""In-memory twin of the Redis conversation store, expiring on Trio's clock.

Values are stored as JSON text, like Redis holds them, so a caller that mutates a
returned dict, or stores something JSON cannot hold, behaves as it would for real.
Expiry uses ``trio.current_time()``: under a MockClock it follows virtual time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import trio

from sim.simulator.kernel.quiet import sim_checkpoint


class MemoryConversationStore:
    """Implements :class:`bot.ports.ConversationStore`."""

    def __init__(self) -> None:
        # key -> (JSON text, expiry on trio's clock)
        self._values: dict[tuple[int, int], tuple[str, float]] = {}
        self._marks: dict[str, float] = {}  # marker -> expiry on trio's clock
        # Kept updates (one hash in Redis, one expiry for all of it, renewed by each write).
        self._kept: dict[int, str] = {}
        self._kept_until = 0.0

    async def get(self, chat_id: int, user_id: int) -> dict[str, Any] | None:
        await sim_checkpoint()
        key = (chat_id, user_id)
        entry = self._values.get(key)
        if entry is None:
            return None
        payload, expires_at = entry
        if trio.current_time() >= expires_at:
            del self._values[key]
            return None
        value = json.loads(payload)
        return value if isinstance(value, dict) else None

    async def set(self, chat_id: int, user_id: int, data: dict[str, Any], ttl_s: int) -> None:
        if ttl_s < 1:
            raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s}")
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        await sim_checkpoint()
        self._values[(chat_id, user_id)] = (payload, trio.current_time() + ttl_s)

    async def clear(self, chat_id: int, user_id: int) -> None:
        await sim_checkpoint()
        self._values.pop((chat_id, user_id), None)

    async def mark(self, name: str, ttl_s: int) -> bool:
        if ttl_s < 1:
            raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s}")
        await trio.lowlevel.checkpoint()
        now = trio.current_time()
        expires_at = self._marks.get(name)
        if expires_at is not None and now < expires_at:
            return False
        self._marks[name] = now + ttl_s
        return True

    async def is_marked(self, name: str) -> bool:
        await trio.lowlevel.checkpoint()
        expires_at = self._marks.get(name)
        return expires_at is not None and trio.current_time() < expires_at

    async def keep_updates(self, updates: Mapping[int, str], ttl_s: int) -> None:
        if ttl_s < 1:
            raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s}")
        await sim_checkpoint()
        if updates:
            self._kept.update(updates)
            self._kept_until = trio.current_time() + ttl_s

    async def kept_updates(self) -> dict[int, str]:
        await sim_checkpoint()
        if trio.current_time() >= self._kept_until:
            self._kept.clear()
        return dict(self._kept)

    async def drop_updates(self, update_ids: Sequence[int]) -> None:
        await sim_checkpoint()
        for update_id in update_ids:
            self._kept.pop(update_id, None)

    def lose_everything(self) -> None:
        """Model a Redis restart without persistence: every conversation is forgotten."""
        self._values.clear()
        self._marks.clear()
        self._kept.clear()

    def live_keys(self) -> int:
        """Entries not yet expired, the expired ones dropped first, as Redis's active
        expiry cycle reclaims them (for reports: what ``DBSIZE`` would show)."""
        now = trio.current_time()
        for key in [k for k, (_, expires_at) in self._values.items() if now >= expires_at]:
            del self._values[key]
        for name in [n for n, expires_at in self._marks.items() if now >= expires_at]:
            del self._marks[name]
        return len(self._values) + len(self._marks)

    def __len__(self) -> int:
        """Entries held, expired ones included until next read (for reports)."""
        return len(self._values) + len(self._marks)


__all__ = ["MemoryConversationStore"]
