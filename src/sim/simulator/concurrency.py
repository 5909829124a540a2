"""Work in flight against the bot's configured limits: handlers and jobs at once.

The bot promises back-pressure: at most ``max_concurrent_updates`` updates handled at
once by a poller, at most ``worker_concurrency`` jobs per worker loop. The simulator
checks it from outside the bot's own bookkeeping, by sampling the task tree with the
run's occupancy series: per nursery, the lane tasks whose coroutine chain is inside
:meth:`bot.handlers.Router.handle`, and the job tasks
(:func:`bot.workers._handle_then_free_slot`, one per delivery a worker takes on).
Counting per nursery keeps a crashed incarnation's lingering tasks apart from the new
one's. Both name the bot's functions by reference, so a rename fails loudly here
instead of turning the check silently green.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio

from bot import workers
from bot.handlers import Router

_JOB_TASK = f"{workers._handle_then_free_slot.__module__}.{workers._handle_then_free_slot.__qualname__}"
_HANDLE_CODE = Router.handle.__code__


@dataclass(slots=True)
class WorkInFlight:
    peak_handlers: int = 0  # most updates one poller was handling at once
    peak_jobs: int = 0  # most jobs one worker loop was running at once

    def sample(self) -> None:
        root = trio.lowlevel.current_root_task()
        pending = [root] if root is not None else []
        while pending:
            task = pending.pop()
            for nursery in task.child_nurseries:
                children = nursery.child_tasks
                jobs = sum(1 for t in children if t.name == _JOB_TASK)
                handling = sum(1 for t in children if t.name.startswith("bot.updates") and _inside_handle(t))
                self.peak_jobs = max(self.peak_jobs, jobs)
                self.peak_handlers = max(self.peak_handlers, handling)
                pending.extend(children)


def _inside_handle(task: trio.lowlevel.Task) -> bool:
    coro: Any = task.coro
    depth = 0
    while coro is not None and depth < 60:
        frame = getattr(coro, "cr_frame", None)
        if frame is None:
            return False
        if frame.f_code is _HANDLE_CODE:
            return True
        coro = getattr(coro, "cr_await", None)
        depth += 1
    return False
