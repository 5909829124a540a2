"""The process CPU runner: a warm pool has its libraries loaded before the first file."""

from __future__ import annotations

import sys

import trio

from adapters.cpu import ProcessCpuRunner


def _loaded() -> tuple[bool, bool]:
    return "pandas" in sys.modules, "matplotlib.backends.backend_agg" in sys.modules


async def test_a_warmed_pool_runs_work_in_processes_that_loaded_their_libraries() -> None:
    runner = ProcessCpuRunner(1)
    with trio.fail_after(60):
        await runner.warm()
        assert await runner.run("probe", _loaded) == (True, True)
