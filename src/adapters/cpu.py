"""CPU-bound work in worker processes (ports.CpuRunner).

trio-parallel keeps a pool of worker processes; with ``kill_on_cancel=True`` a
call that outlives its deadline is killed with its process, so a pathological
file cannot stall the bot or leave a runaway computation behind.
"""

from __future__ import annotations

from typing import Any

import trio
import trio_parallel


def warm_up() -> None:
    """Load what the first profile or chart in a fresh worker process would: the libraries
    and matplotlib's fonts (about a second of CPU per process)."""
    from bot.analysis import charts

    charts.chart_histogram(b"n\n1\n2\n3\n", "warm.csv", 0, "en")


class ProcessCpuRunner:
    def __init__(self, max_workers: int = 2) -> None:
        self._limiter = trio.CapacityLimiter(max_workers)

    async def run(self, kind: str, fn: Any, *args: Any) -> Any:
        return await trio_parallel.run_sync(fn, *args, kill_on_cancel=True, limiter=self._limiter)

    async def warm(self) -> None:
        """Start every worker process and load its libraries now, at start-up, rather than
        on the first users' files (trio-parallel keeps idle workers for reuse)."""
        async with trio.open_nursery() as nursery:
            for _ in range(int(self._limiter.total_tokens)):
                nursery.start_soon(self.run, "warm", warm_up)


class ThreadCpuRunner:
    """For tests and small deployments: threads, abandoned (not killed) on cancel."""

    def __init__(self, max_workers: int = 2) -> None:
        self._limiter = trio.CapacityLimiter(max_workers)

    async def run(self, kind: str, fn: Any, *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=True, limiter=self._limiter)
