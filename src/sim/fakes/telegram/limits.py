"""Telegram's flood limits, as the emulator enforces them.

Telegram asks bots to stay under about 30 messages/s in total and about one message/s
per chat, tolerates short bursts, and answers 429 ``retry_after`` beyond that. Here
both are GCRA buckets whose bursts are a little wider than a conforming sender's
(``bot.ratelimit``), so that network jitter between a sender's slot and the message's
arrival is not punished. Every accepted send is counted, so a run can show the rate
the whole deployment actually sent at.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import trio

# Methods that put a message in a chat (or change one) and count against the limits.
LIMITED_METHODS = frozenset({"sendmessage", "editmessagetext", "senddocument", "sendphoto"})
EPSILON_S = 1e-6  # the buckets' float arithmetic drifts; a conforming send must still pass


class _Bucket:
    def __init__(self, per_s: float, burst: int) -> None:
        self.interval = 1.0 / per_s
        self.tolerance = (burst - 1) * self.interval
        self.tat = 0.0

    def wait(self, now: float) -> float:
        """0 and the send is taken, or the seconds until it would conform."""
        earliest = self.tat - self.tolerance
        if now < earliest - EPSILON_S:
            return earliest - now
        self.tat = max(self.tat, now) + self.interval
        return 0.0


@dataclass
class SendLimits:
    """Enforced when ``enabled``; counted either way."""

    enabled: bool = True
    global_per_s: float = 30.0
    global_burst: int = 10
    chat_per_s: float = 1.0
    chat_burst: int = 5
    accepted: int = 0
    refused: int = 0
    _global: _Bucket | None = None
    _chats: dict[int, _Bucket] = field(default_factory=dict)
    _window: deque[float] = field(default_factory=deque)  # accepted sends in the last second
    peak_per_s: int = 0  # most sends accepted within any one second

    def admit(self, method: str, chat_id: int | None) -> int | None:
        """None if the send may go ahead, else the ``retry_after`` (whole seconds) of a 429."""
        if method.lower() not in LIMITED_METHODS:
            return None
        now = trio.current_time()
        if self.enabled:
            glob = self._global = self._global or _Bucket(self.global_per_s, self.global_burst)
            chat = (
                None
                if chat_id is None
                else self._chats.setdefault(chat_id, _Bucket(self.chat_per_s, self.chat_burst))
            )
            # Check both before taking either, so a refusal costs the sender nothing.
            wait = max(glob.tat - glob.tolerance - now, 0.0)
            if chat is not None:
                wait = max(wait, chat.tat - chat.tolerance - now)
            if wait > EPSILON_S:
                self.refused += 1
                return max(1, math.ceil(wait))
            glob.wait(now)
            if chat is not None:
                chat.wait(now)
        self.accepted += 1
        self._window.append(now)
        while self._window[0] <= now - 1.0:
            self._window.popleft()
        self.peak_per_s = max(self.peak_per_s, len(self._window))
        return None

    def summary(self) -> dict[str, object]:
        return {
            "enforced": self.enabled,
            "accepted": self.accepted,
            "refused_429": self.refused,
            "peak_per_s": self.peak_per_s,
        }


__all__ = ["LIMITED_METHODS", "SendLimits"]
