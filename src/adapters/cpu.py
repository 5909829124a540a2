"""CPU-bound work in worker processes (ports.CpuRunner).

trio-parallel keeps a pool of worker processes; with ``kill_on_cancel=True`` a
call that outlives its deadline is killed with its process, so a pathological
file cannot stall the bot or leave a runaway computation behind.
"""

from __future__ import annotations

from typing import Any

import trio
import trio_parallel


class ProcessCpuRunner:
    def __init__(self, max_workers: int = 2) -> None:
        self._limiter = trio.CapacityLimiter(max_workers)

    async def run(self, kind: str, fn: Any, *args: Any) -> Any:
        return await trio_parallel.run_sync(fn, *args, kill_on_cancel=True, limiter=self._limiter)


class ThreadCpuRunner:
    """For tests and small deployments: threads, abandoned (not killed) on cancel."""

    def __init__(self, max_workers: int = 2) -> None:
        self._limiter = trio.CapacityLimiter(max_workers)

    async def run(self, kind: str, fn: Any, *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=True, limiter=self._limiter)
