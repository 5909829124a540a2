"""Blocking psycopg calls on worker threads, with Trio's cancellation kept.

A whole transaction runs on one worker thread with psycopg's synchronous connection
(:func:`adapters.threads.run_interruptible`): one hand-off from Trio and one back,
whatever the number of round trips, and no event-loop bridge in between (through
trio-asyncio each round trip cost ~0.17 ms of CPU in the bridge's reader emulation).
A cancelled caller's transaction is stopped by :class:`QueryInterrupter`, so the
caller's deadline holds within a round trip or two.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import psycopg
import trio

from adapters.threads import run_abandonable, run_interruptible


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
