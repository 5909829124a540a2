"""The deployment's send allowance in Redis: one atomic Lua script per send.

Two GCRA buckets, each one key holding its theoretical arrival time (TAT, in ms):
``{prefix}send:global`` for the bot token and ``{prefix}send:chat:<id>`` per chat,
and ``{prefix}send:pause``, which lives as long as the latest 429's pause.
The script reads Redis's own clock (``TIME``), so every process on every machine
agrees on "now"; each key expires once its TAT is in the past, so idle chats cost
nothing. A ``pause`` (a 429's ``retry_after``) pushes the global TAT forward, which
pauses every process.
"""

from __future__ import annotations

from typing import Any

from adapters.redis_client import RedisClient
from bot.ports import SendRates

# KEYS: global TAT key, pause key[, chat TAT key]
# ARGV: now_ms ("" = Redis TIME), global interval, global tolerance, chat interval,
#       chat tolerance (all ms), pause_ms
# Returns the wait until the reserved slot, in ms, as a string (Lua numbers would be
# truncated to integers on the way out).
RESERVE_LUA = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
else
  now = tonumber(ARGV[1])
end
local gi, gt = tonumber(ARGV[2]), tonumber(ARGV[3])
local ci, ct = tonumber(ARGV[4]), tonumber(ARGV[5])
local pause = tonumber(ARGV[6])
local gtat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if pause > 0 then
  gtat = math.max(gtat, now + pause + gt)
  if redis.call('PTTL', KEYS[2]) < pause then
    redis.call('SET', KEYS[2], '1', 'PX', math.ceil(pause))
  end
end
local slot = math.max(now, gtat - gt)
local ctat = 0
if #KEYS > 2 then
  ctat = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
  slot = math.max(slot, ctat - ct)
end
gtat = math.max(gtat, slot) + gi
redis.call('SET', KEYS[1], string.format('%.3f', gtat), 'PX', math.ceil(gtat - now) + 1000)
if #KEYS > 2 then
  ctat = math.max(ctat, slot) + ci
  redis.call('SET', KEYS[3], string.format('%.3f', ctat), 'PX', math.ceil(ctat - now) + 1000)
end
return string.format('%.3f', slot - now)
"""


class RedisSendBucket:
    """Implements :class:`bot.ports.SendBucket`."""

    def __init__(self, client: RedisClient, prefix: str = "csvbot:", *, fallback_share: int = 2) -> None:
        self._client = client
        self._prefix = prefix
        self.fallback_share = fallback_share
        self._script: Any = client.raw.register_script(RESERVE_LUA)

    @property
    def pause_key(self) -> str:
        return f"{self._prefix}send:pause"

    def keys(self, chat_id: int | None) -> list[str]:
        base = [f"{self._prefix}send:global", self.pause_key]
        return base if chat_id is None else [*base, f"{self._prefix}send:chat:{chat_id}"]

    async def reserve(
        self, chat_id: int | None, rates: SendRates, pause_s: float = 0.0, *, now_s: float | None = None
    ) -> float:
        """``now_s`` replaces Redis's clock (tests make the arithmetic exact with it)."""
        args = [
            "" if now_s is None else f"{now_s * 1000:.3f}",
            rates.global_interval_s * 1000,
            rates.global_tolerance_s * 1000,
            rates.chat_interval_s * 1000,
            rates.chat_tolerance_s * 1000,
            max(0.0, pause_s) * 1000,
        ]
        wait_ms = await self._client.call(self._script, keys=self.keys(chat_id), args=args)
        return max(0.0, float(wait_ms) / 1000)

    async def paused_for(self) -> float:
        left_ms = await self._client.call(self._client.raw.pttl, self.pause_key)
        return max(0, int(left_ms)) / 1000


__all__ = ["RESERVE_LUA", "RedisSendBucket"]
