"""Named deadlines: the one place where a call to the outside gets its time budget.

``Guard.call("db.statement", repo.get_job, job_id)`` runs the call under a cancel
scope of the configured length, records its latency and outcome in metrics, and
turns expiry into :class:`DeadlineExceeded`. Scopes nest, so an inner call never
outlives its caller's budget: when the caller's deadline is the nearer one, the
caller's scope fires and the call is cancelled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import trio

from bot.errors import DeadlineExceeded, PortError
from bot.ports import Metrics
from bot.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


class Guard:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics

    def seconds(self, name: str) -> float:
        return self.settings.deadline(name)

    async def call(
        self,
        name: str,
        fn: Callable[P, Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return await self.call_within(name, self.seconds(name), fn, *args, **kwargs)

    async def call_within(
        self,
        name: str,
        seconds: float,
        fn: Callable[P, Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Like :meth:`call` with an explicit budget (long polls compute theirs)."""
        start = trio.current_time()
        outcome = "cancelled"
        try:
            with trio.fail_after(seconds):
                result = await fn(*args, **kwargs)
            outcome = "ok"
            return result
        except trio.TooSlowError:
            outcome = "timeout"
            raise DeadlineExceeded(name, seconds) from None
        except PortError:
            outcome = "error"
            raise
        except trio.Cancelled:
            raise
        except BaseException:
            outcome = "aborted"  # the caller's own exception (an early end, a bug)
            raise
        finally:
            self.metrics.observe(name, trio.current_time() - start, outcome)

    def remaining(self) -> float:
        """Seconds left in the innermost enclosing deadline (inf when none)."""
        return trio.current_effective_deadline() - trio.current_time()
