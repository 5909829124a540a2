"""How long each call to another service lasted, measured where the bot makes it (the
fault proxy times each call, see :class:`sim.simulator.faults.proxy.FaultProxy`).

"Every outside call has a deadline" is a promise of the bot's, so the simulator holds
it to bounds of its own, not to the bot's policy table (a wrong entry there is exactly
what must be caught): a call to Postgres, Redis, storage or Telegram that lasts past
its service's bound was not cut by any deadline. The bounds are twice the design's
deadlines (DESIGN.md: statements 10 s, storage 15 s, Redis 1-2 s, Telegram calls 10 s,
files 30 s), with the waits a call asks for on purpose added (a long poll's timeout, a
blocking queue read's block).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

BOUND_S: dict[str, float] = {
    "repo": 20.0,
    "blobs": 30.0,
    "state": 4.0,
    "queue": 4.0,
    "send_bucket": 4.0,
    "telegram": 60.0,
}
# Arguments that are a wait the caller asked for (seconds), by method.
_ASKED_WAIT = {"get_updates": "timeout_s", "claim": "block_s"}
_KEPT = 20


@dataclass(slots=True)
class CallTimes:
    """The longest call per service, and the calls past their bound."""

    longest: dict[str, float] = field(default_factory=dict)
    over: list[str] = field(default_factory=list)
    over_total: int = 0

    def record(self, label: str, service: str, seconds: float, bound: float) -> None:
        if seconds > self.longest.get(service, 0.0):
            self.longest[service] = round(seconds, 3)
        if seconds > bound:
            self.over_total += 1
            if len(self.over) < _KEPT:
                at = trio.current_time() - seconds
                self.over.append(f"{label} took {seconds:.1f} s (bound {bound:g} s), from t={at:.1f} s")


@dataclass(frozen=True, slots=True)
class CallBound:
    """The bound of one method's calls: its service's, plus the wait a call asks for."""

    base: float
    waited: str | None = None  # the argument that is an asked-for wait (seconds)
    position: int = -1  # its position among the positional arguments

    @classmethod
    def of(cls, service: str, method: str, fn: Callable[..., Any]) -> CallBound:
        waited = _ASKED_WAIT.get(method)
        position = list(inspect.signature(fn).parameters).index(waited) if waited else -1
        return cls(BOUND_S[service], waited, position)

    def for_call(self, seconds: float, args: tuple[Any, ...], kwargs: dict[str, Any]) -> float:
        """The bound of this call (its base whenever the call took no longer: the wait
        asked for only raises it)."""
        if self.waited is None or seconds <= self.base:
            return self.base
        asked = kwargs.get(self.waited, args[self.position] if len(args) > self.position else 0)
        return self.base + float(asked or 0)
