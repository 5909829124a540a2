"""Operation policies applied: deadlines and retries of every call to the outside.

``Guard.call("db.statement", repo.get_job, job_id)`` runs ONE attempt under a
cancel scope of the operation's deadline (bot.policy), records its latency and
outcome in metrics, and turns expiry into :class:`DeadlineExceeded`. Scopes
nest, so an inner call never outlives its caller's budget.

``Guard.retrying(op, attempt)`` runs ``attempt`` again under the operation's
retry policy (stamina: exponential backoff with jitter) while the failure is
transient. A policy with a bounded number of attempts never starts a wait its
caller's budget could not cover: it then re-raises the failure itself, so the
caller can answer the user instead of being cut by its own deadline; an unbounded
one (polling, claiming jobs) keeps trying until its caller stops it. A
``retry_after`` on the failure (Telegram's 429) is the wait. Flows call
:meth:`bot.context.BotContext.call`, which combines the two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import stamina
import trio

from bot.errors import DeadlineExceeded, PortError, ServiceUnavailable, TelegramError
from bot.log import Logger
from bot.policy import Op
from bot.ports import Metrics
from bot.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: unreachable, too slow, Telegram's 5xx or 429."""
    if isinstance(exc, TelegramError):
        return exc.error_code >= 500 or exc.retry_after is not None
    return isinstance(exc, (ServiceUnavailable, DeadlineExceeded))


class Guard:
    def __init__(self, settings: Settings, metrics: Metrics, log: Logger | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.log = log
        # Each retry is logged and counted here, through the bot's own ports.
        stamina.instrumentation.set_on_retry_hooks([])

    def seconds(self, op: Op) -> float:
        return self.settings.deadline(op)

    def remaining(self) -> float:
        """Seconds left in the innermost enclosing deadline (inf when none)."""
        return trio.current_effective_deadline() - trio.current_time()

    # ``call`` and ``call_waiting`` hand back call_within's coroutine rather than await it
    # in one of their own: every outside call goes through here, and each coroutine layer
    # costs a frame on every resume of the call. Awaited, they behave as async functions.

    def call(
        self, op: Op, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> Coroutine[Any, Any, T]:
        """One attempt under the operation's deadline."""
        return self.call_within(op, self.seconds(op), fn, *args, **kwargs)

    def call_waiting(
        self, op: Op, wait_s: float, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> Coroutine[Any, Any, T]:
        """One attempt of a call that waits on purpose (a long poll, a blocking read):
        its deadline is that wait plus the operation's own."""
        return self.call_within(op, wait_s + self.seconds(op), fn, *args, **kwargs)

    async def call_within(
        self, op: str, seconds: float, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """One attempt with an explicit budget, recorded under ``op`` (also names that are
        no operation of the bot's own, such as a health probe)."""
        if not seconds >= 0:  # as trio.fail_after: a negative or NaN budget is a bug
            raise ValueError(f"{op}: deadline must be non-negative, got {seconds!r}")
        start = trio.current_time()
        outcome = "cancelled"
        try:
            # The same cancel scope trio.fail_after builds, made directly: every call pays
            # for one, so the context-manager wrappers around it are left out.
            with trio.CancelScope(deadline=start + seconds):
                result = await fn(*args, **kwargs)
                outcome = "ok"
                return result
            # Only reached when this scope's own deadline cut the call.
            outcome = "timeout"
            raise DeadlineExceeded(op, seconds)
        except PortError:
            if outcome != "timeout":
                outcome = "error"
            raise
        except trio.Cancelled:
            raise
        except BaseException:
            outcome = "aborted"  # the caller's own exception (an early end, a bug)
            raise
        finally:
            self.metrics.observe(op, trio.current_time() - start, outcome)

    async def retrying(
        self,
        op: Op,
        attempt: Callable[[], Awaitable[T]],
        *,
        on: Callable[[Exception], bool] = is_transient,
    ) -> T:
        """``attempt()`` until it succeeds, fails for good, or the retry policy or budget ends."""
        retry = self.settings.retries[op]
        next_wait = 0.0  # stamina's lower bound for the wait after the current attempt
        last: Exception | None = None

        def again(exc: Exception) -> bool | float:
            nonlocal last
            if not on(exc):
                return False
            given = getattr(exc, "retry_after", None)
            wait = float(given) if given is not None else next_wait + retry.wait_jitter
            # A bounded policy gives the failure back rather than start a wait its
            # caller's budget cannot cover; an unbounded one waits until cancelled.
            if retry.attempts is not None and wait >= self.remaining():
                return False
            last = exc
            return wait if given is not None else True

        try:
            # Most calls succeed at once: the retry machinery is set up only after a failure.
            return await attempt()
        except Exception as exc:  # handed to the policy below, which decides
            first = exc
        async for trial in stamina.retry_context(
            on=again,
            attempts=retry.attempts,
            timeout=None,  # stamina's timeout is wall-clock time; budgets are trio deadlines
            wait_initial=retry.wait_initial,
            wait_max=retry.wait_max,
            wait_jitter=retry.wait_jitter,
        ):
            with trial:
                next_wait = trial.next_wait
                if trial.num == 1:
                    raise first  # the attempt made above: stamina judges it like any other
                self._record_retry(op, trial.num, last)
                return await attempt()
        raise AssertionError("unreachable: stamina re-raises the last failure")

    def _record_retry(self, op: Op, number: int, cause: Exception | None) -> None:
        self.metrics.count("retries", op)
        if self.log is not None:
            self.log.warning("retry", op=op, attempt=number, error=str(cause))
