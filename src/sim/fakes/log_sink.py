"""The simulated LogSink: records log events into the trace and counts them.

Blocking is modelled, not performed: a synchronous log handler (the audit's
blocker 1, a FileHandler on the event loop) costs ``sync_write_cost_s`` per record,
and since it blocks the loop, it advances the MockClock at once, for every task.
A queued handler (the fix) costs nothing on the loop; its background writer
pays the write cost instead, and when records come faster than it writes, it falls
behind: ``writer_lag_peak_s`` reports how far (records wait in memory, the loop
does not).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import trio

from sim.simulator.kernel.clock import JumpingClock
from sim.simulator.kernel.trace import Trace

_MAX_FIELD_CHARS = 60


def _field_text(value: object) -> str:
    """A short, address-free rendering of one log field for the trace."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return value if len(value) <= _MAX_FIELD_CHARS else value[:_MAX_FIELD_CHARS] + "…"
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    # Arbitrary objects may render with their address; their type name is stable.
    return f"<{type(value).__name__}>"


@dataclass(frozen=True, slots=True)
class LogRecord:
    at: float
    level: int
    event: str
    fields: dict[str, object]


class SimLogSink:
    """Implements ``bot.ports.LogSink``."""

    def __init__(
        self,
        trace: Trace | None,
        clock: JumpingClock | None = None,
        *,
        sync_write_cost_s: float = 0.0,
        secrets: tuple[str, ...] = (),
        keep_last: int = 200,
        blocking: bool | None = None,
    ) -> None:
        if sync_write_cost_s < 0:
            raise ValueError("sync_write_cost_s must be >= 0")
        if sync_write_cost_s > 0 and clock is None:
            raise ValueError("a synchronous write cost needs the MockClock to advance")
        self._trace = trace
        self._clock = clock
        self.sync_write_cost_s = sync_write_cost_s
        self._cost_override: float | None = None
        # A synchronous handler (writes on the loop); else a queue and a background writer.
        self.blocking = sync_write_cost_s > 0 if blocking is None else blocking
        if self.blocking and clock is None:
            raise ValueError("a synchronous handler needs the MockClock to advance")
        self._writer_free_at = 0.0
        self.writer_lag_peak_s = 0.0
        self._secrets = tuple(s for s in secrets if s)
        self.records = 0
        self.by_level: dict[str, int] = {}
        self.by_event: dict[str, int] = {}
        self.blocked_s = 0.0  # virtual time the loop spent inside emit
        self.secret_leaks = 0
        self.peak_per_second = 0
        self._second = -1
        self._in_second = 0
        self.last: deque[LogRecord] = deque(maxlen=keep_last)

    def set_write_cost_override(self, cost_s: float | None) -> None:
        """A slow-disk window: every write costs ``cost_s`` until reset with None.

        With a synchronous handler the loop pays it; with a queue, the writer does."""
        self._cost_override = cost_s

    def _leaks_secret(self, event: str, fields: dict[str, object]) -> bool:
        texts = [event, *(str(value) for value in fields.values())]
        return any(secret in text for secret in self._secrets for text in texts)

    def emit(self, level: int, event: str, fields: dict[str, object]) -> None:
        now = trio.current_time()
        self.records += 1
        name = logging.getLevelName(level)
        self.by_level[name] = self.by_level.get(name, 0) + 1
        self.by_event[event] = self.by_event.get(event, 0) + 1
        second = int(now)
        if second != self._second:
            self._second, self._in_second = second, 0
        self._in_second += 1
        self.peak_per_second = max(self.peak_per_second, self._in_second)
        rendered = " ".join(f"{key}={_field_text(value)}" for key, value in fields.items())
        if self._secrets and self._leaks_secret(event, fields):
            self.secret_leaks += 1
        if self._trace is not None:
            self._trace.record("log", f"{name} {event} {rendered}")
        self.last.append(LogRecord(now, level, event, fields))
        cost = self.sync_write_cost_s if self._cost_override is None else self._cost_override
        if not self.blocking:
            # The background writer takes records in order, each costing ``cost``.
            self._writer_free_at = max(self._writer_free_at, now) + cost
            self.writer_lag_peak_s = max(self.writer_lag_peak_s, self._writer_free_at - now)
            return
        if cost > 0:
            if self._clock is None:
                raise RuntimeError("a synchronous write cost needs the MockClock to advance")
            # The write blocks the event loop: all of virtual time moves, for every task.
            self._clock.jump(cost)
            self.blocked_s += cost
