"""Blocking work on a worker thread in one hand-off, with Trio's cancellation kept.

Trio cannot interrupt a thread, so each call says what a cancellation does:
- :func:`run_interruptible` calls ``interrupt()`` (from the Trio thread, it must not
  block) and waits for the thread to end; then the caller sees ``trio.Cancelled``.
  The work decides how fast it stops: a Postgres transaction stops before its next
  statement and has the running one cancelled on the server
  (``adapters.postgres.threads.QueryInterrupter``); a blob write stops before it
  publishes the file;
- :func:`run_abandonable` lets the caller go at once; the thread finishes on its own
  and hands what it made to ``cleanup`` (a connection being opened is closed). With a
  ``limiter``, the thread holds its token until it ends, abandoned or not, so the
  limiter bounds the threads actually running (and what they hold, a connection).

The worker threads come from Trio's thread cache; each call runs in a copy of the
caller's context (as ``trio.to_thread.run_sync`` does).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import outcome
import trio

T = TypeVar("T")


async def run_interruptible(fn: Callable[[], T], interrupt: Callable[[], None]) -> T:
    """``fn()`` on a worker thread; on cancellation, ``interrupt()`` and wait for it to end."""
    task = trio.lowlevel.current_task()
    token = trio.lowlevel.current_trio_token()
    context = contextvars.copy_context()
    interrupted = False

    def deliver(result: outcome.Outcome[T]) -> None:
        token.run_sync_soon(trio.lowlevel.reschedule, task, outcome.Value(result))

    def abort(_: Any) -> trio.lowlevel.Abort:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            interrupt()
        return trio.lowlevel.Abort.FAILED  # the thread still owns the connection: wait for it

    trio.lowlevel.start_thread_soon(lambda: context.run(fn), deliver)
    result: outcome.Outcome[T] = await trio.lowlevel.wait_task_rescheduled(abort)
    if interrupted:
        await trio.lowlevel.checkpoint()  # raises Cancelled: the scope stays cancelled
    return result.unwrap()


async def run_abandonable(
    fn: Callable[[], T], cleanup: Callable[[T], None], limiter: trio.CapacityLimiter | None = None
) -> T:
    """``fn()`` on a worker thread; on cancellation the caller leaves at once and a
    late result goes to ``cleanup`` (on a worker thread).

    With ``limiter``, waits for one of its tokens first (a cancellable wait) and gives
    it back when the thread ends."""
    task = trio.lowlevel.current_task()
    token = trio.lowlevel.current_trio_token()
    context = contextvars.copy_context()
    abandoned = False  # read and written on the Trio thread only
    borrower = object()
    if limiter is not None:
        await limiter.acquire_on_behalf_of(borrower)

    def arrive(result: outcome.Outcome[T]) -> None:  # on the Trio thread
        if limiter is not None:
            limiter.release_on_behalf_of(borrower)
        if not abandoned:
            trio.lowlevel.reschedule(task, result)
        elif isinstance(result, outcome.Value):
            trio.lowlevel.start_thread_soon(functools.partial(cleanup, result.value), _ignore)

    def deliver(result: outcome.Outcome[T]) -> None:
        try:
            token.run_sync_soon(arrive, result)
        except trio.RunFinishedError:
            if isinstance(result, outcome.Value):
                cleanup(result.value)

    def abort(_: Any) -> trio.lowlevel.Abort:
        nonlocal abandoned
        abandoned = True
        return trio.lowlevel.Abort.SUCCEEDED

    try:
        trio.lowlevel.start_thread_soon(lambda: context.run(fn), deliver)
    except BaseException:
        if limiter is not None:
            limiter.release_on_behalf_of(borrower)
        raise
    value: T = await trio.lowlevel.wait_task_rescheduled(abort)
    return value


def _ignore(_: object) -> None:
    return None


__all__ = ["run_abandonable", "run_interruptible"]
