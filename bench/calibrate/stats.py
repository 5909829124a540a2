"""Samples of one operation: wall time and client CPU per call, summarised."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Samples:
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)

    async def time(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``fn`` once, recording its wall time and this thread's CPU time.

        The servers (Postgres, pgbouncer, Redis, the emulators) run in other
        processes, so the CPU is the client's alone."""
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        result = await fn()
        self.wall_s.append(time.perf_counter() - wall0)
        self.cpu_s.append(time.thread_time() - cpu0)
        return result

    def summary(self) -> dict[str, float | int]:
        return {
            "n": len(self.wall_s),
            "p50_s": round(percentile(self.wall_s, 50), 6),
            "p95_s": round(percentile(self.wall_s, 95), 6),
            "cpu_p50_s": round(percentile(self.cpu_s, 50), 6),
            "cpu_mean_s": round(statistics.fmean(self.cpu_s), 6) if self.cpu_s else math.nan,
        }


def lognormal(p50: float, p95: float, cap_s: float = 1.0) -> dict[str, Any]:
    """A lognormal with this median and 95th percentile, as a scenario latency table
    (nothing below 10 us: a fitted term that small is no cost at all)."""
    if p50 < 1e-5:
        return {"dist": "none"}
    sigma = min(1.5, max(0.0, math.log(max(p95, p50) / p50) / 1.6449))
    return {"dist": "lognormal", "median_s": round(p50, 6), "sigma": round(sigma, 3), "max_s": cap_s}
