"""Yields that nobody could see, skipped: the same schedule in fewer passes of trio's loop.

Most of a simulated run is one task at a time: a service latency of a few milliseconds
while every other task waits for something seconds away. trio still spends a whole pass
of its run loop on each such wait (and on each bare checkpoint in the fakes), and that
scheduling was the largest single cost of a run. When a yield cannot change what happens
next, the task carries on instead, as trio's own docs allow ("the scheduler has the option
of ignoring this and continuing to run the current task").

A yield of task T is invisible when, had T yielded, the next pass would run T alone and
nothing else would have changed on the way:

- T is the last task of the current batch and nothing else is runnable (no other task
  runs before T resumes, and T's batch has one task, so the seeded shuffle draws nothing);
- no deadline of trio's comes due by the instant T resumes (no scope is cancelled on the
  way: a deadline that could cut the wait takes the ordinary path, so every deadline is
  enforced exactly as before), and for a timed wait no other timer does either;
- T is not cancelled, nothing waits for I/O, for "all tasks blocked" or on the entry
  queue, and no instrument watches the I/O wait (which would see one pass fewer).

The current batch is known because trio shuffles each batch with its module-level ``_r``
when deterministic scheduling is on (see :mod:`sim.simulator.kernel.determinism`): the
seeded scheduler installs :class:`BatchRandom`, which keeps the list it shuffled, the very
list trio pops tasks from. Without it (any run that is not the simulator's) nothing is
skipped. A skipped yield still ends the task's step for the instruments (the blocking
watch measures each step as before).
"""

from __future__ import annotations

import random
from typing import Any

import trio
import trio._core._run as _trio_run


class BatchRandom(random.Random):
    """trio's scheduler rng: draws exactly as :class:`random.Random`, and remembers the
    batch of the pass in progress (the list trio shuffles, then pops tasks from)."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.batch: list[Any] = [None]  # not known until trio shuffles one: never "last"

    def shuffle(self, x: list[Any]) -> None:  # type: ignore[override]
        self.batch = x
        super().shuffle(x)


def quiet_runner(task: Any) -> Any | None:
    """trio's runner when ``task`` (the current task) could skip a yield: it runs alone
    and uncancelled, and nothing outside the tasks can wake anyone (deadlines and timers
    are for the caller to check). None otherwise."""
    rng = _trio_run._r
    if type(rng) is not BatchRandom or rng.batch:
        return None
    runner = task._runner
    hooks = runner.instruments.data  # UserDict's own dict: a plain lookup, not a method call
    if (
        runner.runq
        or runner.waiting_for_idle
        or runner.ki_pending
        or task._cancel_status.effectively_cancelled
        or len(runner.io_manager._registered) > 1  # the run's own wake-up socket only
        or runner.entry_queue.queue
        or runner.entry_queue.idempotent_queue
        or "before_io_wait" in hooks
        or "after_io_wait" in hooks
    ):
        return None
    return runner


def end_step(runner: Any, task: Any) -> None:
    """The instruments' view of a skipped yield: the step ends and the next one begins."""
    instruments = runner.instruments
    hooks = instruments.data
    if "after_task_step" in hooks:
        instruments.call("after_task_step", task)
    if "before_task_step" in hooks:
        instruments.call("before_task_step", task)


async def sim_checkpoint() -> None:
    """``trio.lowlevel.checkpoint()``, skipped when nobody could tell (for the fakes)."""
    task = trio.lowlevel.current_task()
    runner = quiet_runner(task)
    if runner is not None and runner.deadlines.next_deadline() > runner.clock.current_time():
        end_step(runner, task)
        return
    await trio.lowlevel.checkpoint()


async def sim_acquire(semaphore: trio.Semaphore) -> None:
    """``await semaphore.acquire()``, whose yield after a free permit is skipped when
    nobody could tell (a busy semaphore parks the task as usual)."""
    task = trio.lowlevel.current_task()
    runner = quiet_runner(task)
    if (
        runner is not None
        and semaphore.value > 0
        and runner.deadlines.next_deadline() > runner.clock.current_time()
    ):
        semaphore.acquire_nowait()
        end_step(runner, task)
        return
    await semaphore.acquire()
