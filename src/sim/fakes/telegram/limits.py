"""Telegram's flood limits, as the emulator enforces them.

Telegram asks bots to stay under about 30 messages/s in total, about one message/s
per chat and 20 messages a minute per group, tolerates short bursts, and answers 429
``retry_after`` beyond that. Here the first two are GCRA buckets whose bursts are a
little wider than a conforming sender's (``bot.ratelimit``), so that network jitter
between a sender's slot and the message's arrival is not punished; a group (a negative
chat id) also has a sliding window of 20 sends in any 60 s. Every accepted send is
counted, so a run can show the rate the whole deployment actually sent at.

A sender that comes back before its ``retry_after`` has passed is refused again with a
longer wait (twice what was left, as Telegram's growing flood waits), and counted. A 429
on a call that sends nothing (``getFile``, ``answerCallbackQuery``...) holds that request
alone (the method and the file or query it names): repeating it before ``retry_after`` is
counted the same way (:meth:`SendLimits.admit_call`).
Not ``enabled``, the limits only watch: sends past them go through and are counted
as ``over_limit``.
"""

from __future__ import annotations

import math
from collections import deque
from contextvars import ContextVar
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


class _Window:
    """At most ``count`` sends in any ``span_s`` seconds (a group's 20 a minute)."""

    def __init__(self, count: int, span_s: float) -> None:
        self.count, self.span_s = count, span_s
        self.times: deque[float] = deque()

    def wait_for(self, now: float) -> float:
        """Seconds until a send at ``now`` would fit (0: it fits); takes nothing."""
        while self.times and self.times[0] <= now - self.span_s:
            self.times.popleft()
        return 0.0 if len(self.times) < self.count else self.times[0] + self.span_s - now

    def take(self, now: float) -> None:
        self.times.append(now)


def is_group(chat_id: int | None) -> bool:
    """Groups, supergroups and channels have negative ids; private chats positive."""
    return chat_id is not None and chat_id < 0


_PENALTY_FACTOR = 2.0  # a retry_after not honoured: the next wait is this many times what was left
_GLOBAL = 0  # key of the bot-wide refusal in ``_refused`` (chat ids are never 0)
# Sends already on the wire when a 429 was answered cannot have known of it: a send
# that left the sender before this long after the 429 is not held against the sender.
IN_FLIGHT_GRACE_S = 1.0
# When the call in progress left its sender (virtual time), before whatever delayed it
# on the way (a slow network): set around each call by the simulator's fault proxy.
# Unset, the call left when it arrived.
SENT_AT: ContextVar[float | None] = ContextVar("sim_call_sent_at", default=None)
# Whether the send in progress kept to the limits when it left, judged then
# (:meth:`SendLimits.depart`), in the order sends leave: set by the fault proxy before the
# delay on the way, which may reorder sends. Unset, the send is judged when it arrives.
PACED: ContextVar[bool | None] = ContextVar("sim_call_paced", default=None)


@dataclass
class SendLimits:
    """Enforced when ``enabled``; counted either way."""

    enabled: bool = True
    over_limit: int = 0  # sends past the limits (let through when not enabled)
    ignored_retry_after: int = 0  # sends before a 429's retry_after had passed
    global_per_s: float = 30.0
    global_burst: int = 10
    chat_per_s: float = 1.0
    chat_burst: int = 5
    group_per_min: int = 20
    accepted: int = 0
    refused: int = 0
    _global: _Bucket | None = None
    _chats: dict[int, _Bucket] = field(default_factory=dict)
    _groups: dict[int, _Window] = field(default_factory=dict)
    # The same buckets on the times the sends left the bot: the bot is judged on its own
    # pacing, not on a network that bunched conforming sends together on the way.
    _sent_global: _Bucket | None = None
    _sent_chats: dict[int, _Bucket] = field(default_factory=dict)
    _sent_groups: dict[int, _Window] = field(default_factory=dict)
    jittered: int = 0  # refused on arrival though they conformed when they left
    _window: deque[float] = field(default_factory=deque)  # accepted sends in the last second
    # chat (or _GLOBAL) -> (when the last 429 was answered, until when it holds)
    _refused: dict[int, tuple[float, float]] = field(default_factory=dict)
    # the same for the calls that send nothing, each request held alone (lower-cased
    # method, the file or query it names)
    _refused_calls: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    peak_per_s: int = 0  # most sends accepted within any one second

    def depart(self, method: str, chat_id: int | None, sent: float) -> bool | None:
        """Whether a send leaving the bot at ``sent`` keeps to the limits on the bot's own
        pacing (None: the call sends nothing). Called as each send leaves, so the
        verdicts follow the order the bot sent in, whatever the network then does."""
        if method.replace("_", "").lower() not in LIMITED_METHODS:
            return None
        return self._conformed_when_sent(chat_id, sent)

    def admit(
        self, method: str, chat_id: int | None, sent_at: float | None = None, paced: bool | None = None
    ) -> int | None:
        """None if the send may go ahead, else the ``retry_after`` (whole seconds) of a 429.
        ``sent_at``: when the sender sent it (default: now, or :data:`SENT_AT`); ``paced``:
        the verdict of :meth:`depart` when it left (default: :data:`PACED`, else judged now)."""
        if method.lower() not in LIMITED_METHODS:
            return None
        now = trio.current_time()
        if sent_at is None:
            sent_at = SENT_AT.get()
        sent = now if sent_at is None else sent_at
        keys = (_GLOBAL,) if chat_id is None else (_GLOBAL, chat_id)
        left = max(self._left(key, now, sent) for key in keys)
        if left > EPSILON_S:
            self.ignored_retry_after += 1
            if self.enabled:
                return self._refuse(chat_id, now, _PENALTY_FACTOR * left)
        glob = self._global = self._global or _Bucket(self.global_per_s, self.global_burst)
        chat = None
        if chat_id is not None:
            chat = self._chats.setdefault(chat_id, _Bucket(self.chat_per_s, self.chat_burst))
        group = None
        if chat_id is not None and is_group(chat_id):
            group = self._groups.setdefault(chat_id, _Window(self.group_per_min, 60.0))
        # Check all before taking any, so a refusal costs the sender nothing.
        glob_wait = max(glob.tat - glob.tolerance - now, 0.0)
        chat_wait = 0.0 if chat is None else max(chat.tat - chat.tolerance - now, 0.0)
        if group is not None:
            chat_wait = max(chat_wait, group.wait_for(now))
        wait = max(glob_wait, chat_wait)
        conformed = PACED.get() if paced is None else paced
        if conformed is None:
            conformed = self._conformed_when_sent(chat_id, sent)
        if wait > EPSILON_S:
            if conformed:
                self.jittered += 1
            else:
                self.over_limit += 1
            if self.enabled:
                return self._refuse(None if glob_wait >= chat_wait else chat_id, now, wait)
        glob.wait(now)
        if chat is not None:
            chat.wait(now)
        if group is not None:
            group.take(now)
        self.accepted += 1
        self._window.append(now)
        while self._window[0] <= now - 1.0:
            self._window.popleft()
        self.peak_per_s = max(self.peak_per_s, len(self._window))
        return None

    def _conformed_when_sent(self, chat_id: int | None, sent: float) -> bool:
        glob = self._sent_global = self._sent_global or _Bucket(self.global_per_s, self.global_burst)
        late = glob.tat - glob.tolerance - sent > EPSILON_S
        chat = None
        if chat_id is not None:
            chat = self._sent_chats.setdefault(chat_id, _Bucket(self.chat_per_s, self.chat_burst))
            late = late or chat.tat - chat.tolerance - sent > EPSILON_S
        group = None
        if chat_id is not None and is_group(chat_id):
            group = self._sent_groups.setdefault(chat_id, _Window(self.group_per_min, 60.0))
            late = late or group.wait_for(sent) > EPSILON_S
        glob.tat = max(glob.tat, sent) + glob.interval
        if chat is not None:
            chat.tat = max(chat.tat, sent) + chat.interval
        if group is not None:
            group.take(sent)
        return not late

    def note_retry_after(
        self, chat_id: int | None, retry_after: float, method: str | None = None, request: str = ""
    ) -> None:
        """A 429 given for another reason (a scenario's fault): a send before it passed
        did not honour it either. On a ``method`` that sends nothing, it holds that
        ``request`` (the file or query the call names)."""
        now = trio.current_time()
        if method is not None and method.lower() not in LIMITED_METHODS:
            key = (method.lower(), request)
            _, until = self._refused_calls.get(key, (0.0, 0.0))
            self._refused_calls[key] = (now, max(until, now + retry_after))
            return
        self._hold(chat_id, now, retry_after)

    def admit_call(self, method: str, request: str = "", sent_at: float | None = None) -> int | None:
        """For a call that sends nothing: None if it may go ahead, else the ``retry_after``
        of a 429 (the same request came back before its 429's wait had passed)."""
        key = (method.lower(), request)
        if not self._refused_calls or key not in self._refused_calls:
            return None
        now = trio.current_time()
        if sent_at is None:
            sent_at = SENT_AT.get()
        sent = now if sent_at is None else sent_at
        answered_at, until = self._refused_calls[key]
        left = until - now if sent > answered_at + IN_FLIGHT_GRACE_S else 0.0
        if left <= EPSILON_S:
            if until <= now:
                del self._refused_calls[key]  # bounded: a hold that ran out is forgotten
            return None
        self.ignored_retry_after += 1
        if not self.enabled:
            return None
        self.refused += 1
        retry_after = max(1, math.ceil(_PENALTY_FACTOR * left - EPSILON_S))
        self._refused_calls[key] = (now, max(until, now + retry_after))
        return retry_after

    def _left(self, key: int, now: float, sent: float) -> float:
        """Seconds a 429 still holds for a sender who could have seen it (0: none)."""
        answered_at, until = self._refused.get(key, (0.0, 0.0))
        return until - now if sent > answered_at + IN_FLIGHT_GRACE_S else 0.0

    def _hold(self, chat_id: int | None, now: float, retry_after: float) -> None:
        key = _GLOBAL if chat_id is None else chat_id
        _, until = self._refused.get(key, (0.0, 0.0))
        self._refused[key] = (now, max(until, now + retry_after))

    def _refuse(self, chat_id: int | None, now: float, wait: float) -> int:
        self.refused += 1
        retry_after = max(1, math.ceil(wait - EPSILON_S))
        self._hold(chat_id, now, retry_after)
        return retry_after

    def summary(self) -> dict[str, object]:
        return {
            "enforced": self.enabled,
            "over_limit": self.over_limit,
            "ignored_retry_after": self.ignored_retry_after,
            "accepted": self.accepted,
            "refused_429": self.refused,
            "refused_for_jitter": self.jittered,
            "peak_per_s": self.peak_per_s,
        }


__all__ = ["LIMITED_METHODS", "SendLimits", "is_group"]
