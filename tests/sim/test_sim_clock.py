"""SimClock and its timers give the schedule MockClock and trio.sleep give, ties included."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import pytest
import trio
from trio.testing import MockClock

from sim.simulator.kernel import seeded_scheduler
from sim.simulator.kernel.clock import SimClock, sim_sleep

Sleep = Callable[[float], Awaitable[None]]


async def _world(sleep: Sleep, clock: SimClock | MockClock, seed: int) -> list[tuple[float, int, str]]:
    """Tasks that sleep "latencies" under deadlines, explicit cancels and blocking jumps.
    Times are whole tenths, so latencies end exactly when deadlines pass and cancels land."""
    rng = random.Random(seed)
    log: list[tuple[float, int, str]] = []
    plans = [[(rng.randint(1, 6) / 10, rng.randint(1, 8) / 10) for _ in range(8)] for _ in range(12)]

    async def caller(n: int, steps: list[tuple[float, float]]) -> None:
        for latency, budget in steps:
            with trio.move_on_after(budget) as scope:
                try:
                    await sleep(latency)
                    log.append((trio.current_time(), n, "done"))
                except trio.Cancelled:
                    log.append((trio.current_time(), n, "cancelled"))
                    raise
            if scope.cancelled_caught:
                log.append((trio.current_time(), n, "timeout"))
            await trio.lowlevel.checkpoint()

    async def blocker() -> None:
        for _ in range(10):
            await trio.sleep(rng.randint(1, 5) / 10)
            clock.jump(rng.randint(0, 3) / 10)  # work on the loop: time passes for everyone
            log.append((trio.current_time(), -1, "jumped"))

    async with trio.open_nursery() as nursery:
        scopes = []
        for n, steps in enumerate(plans):
            scope = trio.CancelScope()
            scopes.append(scope)

            async def run(
                n: int = n, steps: list[tuple[float, float]] = steps, scope: trio.CancelScope = scope
            ) -> None:
                with scope:
                    await caller(n, steps)

            nursery.start_soon(run)
        nursery.start_soon(blocker)
        for scope in scopes[::3]:
            await trio.sleep(rng.randint(1, 9) / 10)
            scope.cancel()  # lands in the same pass as some latency's end
            log.append((trio.current_time(), -2, "cancel"))
    return log


@pytest.mark.parametrize("seed", range(6))
def test_timers_schedule_exactly_as_trio_sleep_does(seed: int) -> None:
    mock = MockClock(autojump_threshold=0)
    with seeded_scheduler(seed):
        expected = trio.run(_world, trio.sleep, mock, seed, clock=mock)
    sim = SimClock()
    with seeded_scheduler(seed):
        got = trio.run(_world, sim_sleep, sim, seed, clock=sim)
    assert any(event == "cancelled" for _, _, event in expected)
    assert any(event == "timeout" for _, _, event in expected)
    assert got == expected


async def test_sim_sleep_is_trio_sleep_under_another_clock(autojump_clock: MockClock) -> None:
    await sim_sleep(1.5)
    assert trio.current_time() == 1.5


def test_a_cancelled_timer_holds_nothing() -> None:
    clock = SimClock()

    async def main() -> float:
        with trio.move_on_after(1.0):
            await sim_sleep(100.0)
        await sim_sleep(0.5)
        return trio.current_time()

    assert trio.run(main, clock=clock) == 1.5


def test_a_task_woken_by_someone_else_is_not_woken_again() -> None:
    # A hard stop may reschedule a parked task directly; its timer must not fire later.
    clock = SimClock()

    async def main() -> float:
        sleeper: trio.lowlevel.Task | None = None

        async def sleep_long() -> None:
            nonlocal sleeper
            sleeper = trio.lowlevel.current_task()
            await sim_sleep(10.0)
            await trio.sleep(20.0)  # parked elsewhere when the old timer would be due

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sleep_long)
            await trio.sleep(1.0)
            assert sleeper is not None
            trio.lowlevel.reschedule(sleeper)
        return trio.current_time()

    assert trio.run(main, clock=clock) == 21.0
