"""Blocking psycopg calls on worker threads, with Trio's cancellation kept.

A whole transaction runs on one worker thread with psycopg's synchronous connection:
one hand-off from Trio and one back, whatever the number of round trips, and no
event-loop bridge in between (through trio-asyncio each round trip cost ~0.17 ms
of CPU in the bridge's reader emulation).

Trio cannot interrupt a thread, so each call says what a cancellation does:
- :func:`run_interruptible` calls ``interrupt()`` (from the Trio thread, it must not
  block) and waits for the thread to end; then the caller sees ``trio.Cancelled``.
  The transaction's interrupter (:class:`QueryInterrupter`) makes the thread stop
  before its next statement and cancels the running one on the server, so the
  caller's deadline holds within a round trip or two;
- :func:`run_abandonable` lets the caller go at once; the thread finishes on its own
  and hands what it made to ``cleanup`` (a connection being opened is closed).

The worker threads come from Trio's thread cache; each call runs in a copy of the
caller's context (as ``trio.to_thread.run_sync`` does).
"""

from __future__ import annotations

import contextvars
import functools
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import outcome
import psycopg
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


async def run_abandonable(fn: Callable[[], T], cleanup: Callable[[T], None]) -> T:
    """``fn()`` on a worker thread; on cancellation the caller leaves at once and a
    late result goes to ``cleanup`` (on a worker thread)."""
    task = trio.lowlevel.current_task()
    token = trio.lowlevel.current_trio_token()
    context = contextvars.copy_context()
    abandoned = False  # read and written on the Trio thread only

    def arrive(result: outcome.Outcome[T]) -> None:  # on the Trio thread
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

    trio.lowlevel.start_thread_soon(lambda: context.run(fn), deliver)
    value: T = await trio.lowlevel.wait_task_rescheduled(abort)
    return value


def _ignore(_: object) -> None:
    return None


class Interrupted(Exception):
    """The caller was cancelled: the transaction stops before its next statement."""


class QueryInterrupter:
    """Stops one transaction running on a worker thread, from the Trio thread.

    ``__call__`` sets the flag the transaction checks before each statement and,
    on a helper thread, asks the server to cancel the running statement. If the
    transaction has not ended ``grace_s`` later (the server or the network does not
    answer), the socket is shut down, which ends any wait on it."""

    def __init__(self, conn: psycopg.Connection[Any], grace_s: float) -> None:
        self._conn = conn
        self._grace_s = grace_s
        self.requested = threading.Event()
        self.finished = threading.Event()

    def check(self) -> None:
        if self.requested.is_set():
            raise Interrupted("cancelled by the caller")

    def __call__(self) -> None:
        self.requested.set()
        trio.lowlevel.start_thread_soon(self._stop, _ignore)

    def _stop(self) -> None:
        if self.finished.is_set():
            return
        try:
            self._conn.cancel_safe(timeout=self._grace_s)
        except psycopg.Error:
            pass  # the socket shutdown below still ends the wait
        if self.finished.wait(self._grace_s):
            return
        try:
            fd = self._conn.fileno()
            with socket.socket(fileno=socket.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, psycopg.Error):
            pass  # already closed


__all__ = ["Interrupted", "QueryInterrupter", "run_abandonable", "run_interruptible"]
