"""Skipping yields nobody could see leaves the schedule exactly as it was."""

from __future__ import annotations

import random

import pytest
import trio

from sim.simulator.kernel import seeded_scheduler
from sim.simulator.kernel.clock import SimClock, sim_sleep
from sim.simulator.kernel.quiet import sim_acquire, sim_checkpoint

Log = list[tuple[float, int, str]]


async def _world(clock: SimClock, seed: int) -> Log:
    """Callers that wait "latencies" under deadlines close to them, take a shared
    semaphore, pass checkpoints, and are sometimes cancelled or frozen by a blocking jump.
    Mostly one task runs at a time, so most yields can be skipped; some deadlines land
    just before, at, or just after a wait's end."""
    rng = random.Random(seed)
    log: Log = []
    permits = trio.Semaphore(2)

    async def caller(n: int) -> None:
        await trio.sleep(rng.random() * 5)
        for _ in range(30):
            latency = rng.lognormvariate(-3, 1)
            budget = latency * rng.choice([0.5, 1.0, 1.0 + 1e-12, 2.0, 50.0])
            with trio.move_on_after(budget) as scope:
                try:
                    await sim_acquire(permits)
                    try:
                        await sim_sleep(latency)
                        await sim_checkpoint()
                        await sim_sleep(latency / 3)
                    finally:
                        permits.release()
                    log.append((trio.current_time(), n, "done"))
                except trio.Cancelled:
                    log.append((trio.current_time(), n, "cancelled"))
                    raise
            if scope.cancelled_caught:
                log.append((trio.current_time(), n, "timeout"))
            await sim_checkpoint()
            await trio.sleep(rng.expovariate(2.0))

    async def blocker() -> None:
        for _ in range(10):
            await trio.sleep(rng.random())
            clock.jump(rng.random() / 10)  # work on the loop: time passes for everyone
            log.append((trio.current_time(), -1, "jumped"))

    async with trio.open_nursery() as nursery:
        scopes = []
        for n in range(6):
            scope = trio.CancelScope()
            scopes.append(scope)

            async def run(n: int = n, scope: trio.CancelScope = scope) -> None:
                with scope:
                    await caller(n)

            nursery.start_soon(run)
        nursery.start_soon(blocker)
        for scope in scopes[::2]:
            await trio.sleep(rng.random() * 10)
            scope.cancel()
            log.append((trio.current_time(), -2, "cancel"))
    return log


def _run(seed: int, *, skip: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Log, int]:
    passes = 0
    shuffle = random.Random.shuffle

    def counting(self: random.Random, x: list[object]) -> None:
        nonlocal passes
        passes += 1
        shuffle(self, x)

    with monkeypatch.context() as patch:
        patch.setattr(random.Random, "shuffle", counting)
        clock = SimClock()
        with seeded_scheduler(seed, skip_quiet_yields=skip):
            log = trio.run(_world, clock, seed, clock=clock)
    return log, passes


@pytest.mark.parametrize("seed", range(8))
def test_skipped_yields_leave_the_schedule_as_it_was(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    expected, every_pass = _run(seed, skip=False, monkeypatch=monkeypatch)
    got, fewer = _run(seed, skip=True, monkeypatch=monkeypatch)
    assert any(event == "timeout" for _, _, event in expected)
    assert any(event == "cancelled" for _, _, event in expected)
    assert got == expected
    assert fewer < every_pass * 0.8  # most yields were skipped
