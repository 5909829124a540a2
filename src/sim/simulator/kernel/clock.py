"""The simulator's virtual clock, and a cheap sleep for the simulated services.

:class:`SimClock` behaves as trio's ``MockClock(autojump_threshold=0)`` at rate 0:
time stands still while any task can run; once none can, it jumps to the next
deadline. It is written against trio's public ``Clock`` interface instead, for two
savings that matter when a run makes tens of thousands of service calls:

- :func:`sim_sleep`, the wait of a simulated latency, is a timer of the clock's
  own: the task parks with ``wait_task_rescheduled`` and the clock reschedules it
  when virtual time reaches its deadline. ``trio.sleep`` builds a cancel scope
  with a deadline and wakes the task by cancelling it (an exception raised and
  caught) for the same effect.
- The jump happens when trio asks how long to sleep, which it does only when no
  task is runnable, so the woken tasks run in the same pass of the run loop (with
  MockClock that pass is an empty one, and the next one runs them).

A run's schedule is the one MockClock and ``trio.sleep`` give: the clock jumps to
the same instants (with the same float arithmetic), the same tasks wake at each,
and trio orders every batch of runnable tasks itself. Under any other clock,
:func:`sim_sleep` is plain ``trio.sleep``. The bot's own sleeps are never replaced:
only the simulator's models of time spent elsewhere use the timers.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import Any, Protocol

import trio

from sim.simulator.kernel.quiet import end_step, quiet_runner

# [deadline, sequence, task or None once cancelled]: a list, so that a cancelled
# timer is marked in place and dropped when it reaches the top of the heap.
_Timer = list[Any]


class JumpingClock(Protocol):
    """A virtual clock that blocking work can advance: SimClock, or trio's MockClock in tests."""

    def current_time(self) -> float: ...

    def jump(self, seconds: float) -> None: ...


class SimClock(trio.abc.Clock):
    """``trio.run(f, clock=SimClock())``."""

    def __init__(self) -> None:
        self._now = 0.0
        self._timers: list[_Timer] = []
        self._sequence = itertools.count()

    def __repr__(self) -> str:
        return f"<SimClock, time={self._now:.7f}, timers={len(self._timers)}>"

    # ------------------------------------------------------------------ trio.abc.Clock

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return self._now

    def deadline_to_sleep_time(self, deadline: float) -> float:
        """trio asks this only when no task can run: jump to the next deadline (trio's
        or a timer's) and say there is no real time to wait."""
        timers = self._timers
        while timers and timers[0][2] is None:
            heapq.heappop(timers)
        if timers and timers[0][0] < deadline:
            deadline = timers[0][0]
        jump = deadline - self._now
        if 0 < jump < math.inf:
            self._now += jump  # MockClock's arithmetic: the same instants, bit for bit
            self._wake_due()
        return 0.0

    def jump(self, seconds: float) -> None:
        """Advance virtual time now (work that blocks the loop: everybody waits). Timers
        that come due are woken at once, so they run in the pass where trio expires its
        own deadlines passed by the jump."""
        if seconds < 0:
            raise ValueError("time can't go backwards")
        self._now += seconds
        self._wake_due()

    def _wake_due(self) -> None:
        timers, now = self._timers, self._now
        reschedule = trio.lowlevel.reschedule
        while timers and timers[0][0] <= now:
            task = heapq.heappop(timers)[2]
            if task is not None:
                reschedule(task)

    # ------------------------------------------------------------------ the timer

    async def sleep(self, seconds: float) -> None:
        """``trio.sleep(seconds)``, woken by this clock instead of by a cancelled scope."""
        if seconds <= 0:
            await trio.sleep(seconds)
            return
        task = trio.lowlevel.current_task()
        if self._skip_wait(task, self._now + seconds):
            return
        timer: _Timer = [self._now + seconds, next(self._sequence), task]
        heapq.heappush(self._timers, timer)

        def abort(_: Any) -> trio.lowlevel.Abort:
            timer[2] = None  # cancelled: dropped when it reaches the top of the heap
            return trio.lowlevel.Abort.SUCCEEDED

        try:
            await trio.lowlevel.wait_task_rescheduled(abort)
        finally:
            # However the task left (our wake, a cancel, or a harder stop that reschedules
            # it directly), the timer must never wake it again.
            timer[2] = None
        if _cancelled_now():
            # Woken, then cancelled before this step: a deadline of this same instant
            # (trio expires those after the clock wakes its timers) or a cancel made in
            # this pass. trio.sleep's own scope would not have caught that Cancelled:
            # raise it here, at once, as trio.sleep would.
            raise _cancelled()

    def _skip_wait(self, task: trio.lowlevel.Task, wake: float) -> bool:
        """Spend the wait at once when nobody could tell (see sim.simulator.kernel.quiet):
        the task runs alone, and neither a deadline of trio's nor another timer comes due
        by the instant the clock would wake it. The clock moves exactly as it would have,
        jump by jump, and the task's step ends for the instruments."""
        runner = quiet_runner(task)
        if runner is None:
            return False
        now = self._now
        while now < wake:  # deadline_to_sleep_time's jumps, until the timer is due
            now += wake - now
        timers = self._timers
        while timers and timers[0][2] is None:
            heapq.heappop(timers)
        if (timers and timers[0][0] <= now) or runner.deadlines.next_deadline() <= now:
            return False
        self._now = now
        end_step(runner, task)
        return True


def _cancelled_now() -> bool:
    """Whether the current task is in a cancelled scope: trio's own flag when it has one
    (current_effective_deadline walks every enclosing scope to say the same)."""
    status = getattr(trio.lowlevel.current_task(), "_cancel_status", None)
    flag = getattr(status, "effectively_cancelled", None)
    if isinstance(flag, bool):
        return flag
    return trio.current_effective_deadline() == -math.inf


def _cancelled() -> trio.Cancelled:
    # trio has no public constructor for Cancelled; its run loop builds them like this.
    create = getattr(trio.Cancelled, "_create", None)
    if create is None:
        raise SimClockHookMissing("trio.Cancelled._create is gone: update sim.simulator.kernel.clock")
    cancelled: trio.Cancelled = create(source="unknown", reason="cancelled as a simulated latency ended")
    return cancelled


class SimClockHookMissing(RuntimeError):
    """The installed trio no longer has the private constructor the clock relies on."""


async def sim_sleep(seconds: float) -> None:
    """Spend ``seconds`` of virtual time in a simulated service (see :class:`SimClock`)."""
    clock = trio.lowlevel.current_clock()
    if isinstance(clock, SimClock):
        await clock.sleep(seconds)
    else:
        await trio.sleep(seconds)
