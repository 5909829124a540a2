"""Liveness and readiness, and the gauges that are sampled rather than reported.

- :class:`LoopMonitor` ticks on the event loop; ``/healthz`` is healthy while the
  last tick is under a second old (a blocked loop stops ticking). Its lateness is
  the ``loop.lag_seconds`` gauge.
- :func:`probe_forever` asks one dependency (Postgres, Redis, storage) whether it
  answers, every few seconds, under its named deadline; :class:`Readiness` keeps when
  each last answered, and ``<name>.up`` is the gauge.
- The poller is polling when its last long poll finished ``ok`` within its budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from adapters.ops.prometheus import PrometheusMetrics
from bot.errors import DeadlineExceeded, PortError
from bot.guard import Guard
from bot.log import Logger

HEALTHY_WITHIN_S = 1.0
_TICK_S = 0.25


class LoopMonitor:
    def __init__(self, metrics: PrometheusMetrics) -> None:
        self._metrics = metrics
        self._last_tick = time.monotonic()

    def healthy(self) -> tuple[bool, float]:
        """(the loop ticked within a second, seconds since the last tick)."""
        age = time.monotonic() - self._last_tick
        return age < HEALTHY_WITHIN_S, age

    async def run(self) -> None:
        self._metrics.gauge("loop.lag_seconds", 0.0)  # the series exists from the start
        while True:
            before = time.monotonic()
            await trio.sleep(_TICK_S)
            self._last_tick = time.monotonic()
            self._metrics.gauge("loop.lag_seconds", max(0.0, self._last_tick - before - _TICK_S))


@dataclass(slots=True)
class Readiness:
    """When each dependency last answered; ready when all did recently and the poller polls."""

    metrics: PrometheusMetrics
    dependencies: tuple[str, ...]
    ready_within_s: float
    # None for a process without a poller (a worker).
    poll_budget_s: float | None
    _answered: dict[str, float] = field(default_factory=dict)

    def answered(self, dependency: str) -> None:
        self._answered[dependency] = time.monotonic()

    def report(self) -> tuple[bool, dict[str, Any]]:
        now = time.monotonic()
        checks: dict[str, Any] = {}
        for name in self.dependencies:
            at = self._answered.get(name)
            age = math.inf if at is None else now - at
            checks[name] = _check(age, self.ready_within_s)
        if self.poll_budget_s is not None:
            checks["poller"] = _check(self.metrics.seconds_since_ok("telegram.poll"), self.poll_budget_s)
        return all(c["ok"] for c in checks.values()), checks


def _check(age_s: float, within_s: float) -> dict[str, Any]:
    return {
        "ok": age_s <= within_s,
        "last_answer_s_ago": None if math.isinf(age_s) else round(age_s, 3),
        "within_s": within_s,
    }


T = TypeVar("T")


async def probe_forever(
    name: str,
    probe: Callable[[], Awaitable[T]],
    *,
    deadline_s: float,
    every_s: float,
    guard: Guard,
    readiness: Readiness,
    log: Logger,
    on_answer: Callable[[T], None] | None = None,
) -> None:
    """Probe ``name`` every ``every_s``; each call is ``probe.<name>`` under ``deadline_s``.

    A failure is logged when the dependency goes down and again when it comes back,
    not on every probe."""
    metrics = readiness.metrics
    up: bool | None = None
    while True:
        try:
            answer = await guard.call_within(f"probe.{name}", deadline_s, probe)
        except (PortError, DeadlineExceeded) as exc:
            metrics.gauge(f"{name}.up", 0)
            if up is not False:
                log.warning("probe.down", dependency=name, error=str(exc))
            up = False
        else:
            readiness.answered(name)
            metrics.gauge(f"{name}.up", 1)
            if on_answer is not None:
                on_answer(answer)
            if up is False:
                log.warning("probe.up", dependency=name)
            up = True
        await trio.sleep(every_s)


async def sample_forever(sample: Callable[[], None], every_s: float = 1.0) -> None:
    """Gauges that cost nothing to read (session counts): sampled every second."""
    while True:
        sample()
        await trio.sleep(every_s)


__all__ = ["HEALTHY_WITHIN_S", "LoopMonitor", "Readiness", "probe_forever", "sample_forever"]
