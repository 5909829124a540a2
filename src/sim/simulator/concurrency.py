"""Work in flight against the bot's configured limits: handlers and jobs at once.

The bot promises back-pressure: at most ``max_concurrent_updates`` updates handled at
once by a poller, at most ``worker_concurrency`` jobs per worker loop. The simulator
checks it from outside the bot's own bookkeeping:

- handlers, exactly: for the run, :meth:`bot.handlers.Router.handle` (the one entry of
  every update) is wrapped to count the calls in progress per router (one per poller);
- jobs, by sampling the task tree with the run's occupancy series: per nursery, the job
  tasks (:func:`bot.workers._handle_then_free_slot`, one per delivery a worker takes
  on). Counting per nursery keeps a crashed incarnation's lingering tasks apart from
  the new one's; jobs last seconds, so the samples see them.

Both name the bot's functions by reference, so a rename fails loudly here instead of
turning the check silently green.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import trio

from bot import workers
from bot.domain import Update
from bot.handlers import Router
from sim.simulator.workload import Workload

_JOB_TASK = f"{workers._handle_then_free_slot.__module__}.{workers._handle_then_free_slot.__qualname__}"
# The simulated users' tasks (thousands, alive from the start) hold none of the bot's:
# the walk skips them.
_USER_TASK = f"{Workload._user.__module__}.{Workload._user.__qualname__}"


@dataclass(slots=True)
class WorkInFlight:
    peak_handlers: int = 0  # most updates one poller was handling at once
    peak_jobs: int = 0  # most jobs one worker loop was running at once
    _handling: dict[Router, int] = field(default_factory=dict)

    def sample(self) -> None:
        root = trio.lowlevel.current_root_task()
        pending = [root] if root is not None else []
        while pending:
            task = pending.pop()
            for nursery in task.child_nurseries:
                children = nursery.child_tasks
                jobs = sum(1 for t in children if t.name == _JOB_TASK)
                self.peak_jobs = max(self.peak_jobs, jobs)
                pending.extend(t for t in children if t.name != _USER_TASK)


@contextmanager
def counting_handlers(work: WorkInFlight) -> Iterator[WorkInFlight]:
    """Count ``Router.handle`` calls in progress per router, for the run (restored after)."""
    original = Router.handle

    async def handle(router: Router, update: Update) -> None:
        running = work._handling[router] = work._handling.get(router, 0) + 1
        work.peak_handlers = max(work.peak_handlers, running)
        try:
            await original(router, update)
        finally:
            work._handling[router] -= 1

    setattr(Router, "handle", handle)  # noqa: B010
    try:
        yield work
    finally:
        setattr(Router, "handle", original)  # noqa: B010
