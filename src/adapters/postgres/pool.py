"""The session limiter and a small pool of idle psycopg connections.

Connections are psycopg's synchronous ones, used only from worker threads
(:mod:`adapters.postgres.threads`): opening, each transaction and closing each run
whole on a thread, so no round trip goes through an event loop bridge.

At most ``limit`` transactions run at once (the audit's SESSION_LIMIT; Supabase's
free tier allows a handful of sessions). Callers beyond that wait on a
``trio.Semaphore``. Idle connections (up to ``limit``) are kept for reuse; a
connection that saw an error or a cancellation is closed, never reused, because
its state on the server is unknown.

Cancel safety: the permit is taken and released by ``async with`` on the
semaphore, and the counters change only in synchronous code next to it, so a
cancellation at any await gives both back. Closing a connection is shielded.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import psycopg
import trio
from psycopg.pq import ConnStatus, TransactionStatus
from psycopg.rows import TupleRow

from adapters.postgres.errors import SERVICE
from adapters.postgres.threads import run_abandonable
from adapters.postgres.tx import Session
from bot.errors import ServiceUnavailable

PgConnection = psycopg.Connection
Connection = psycopg.Connection[TupleRow]
Connect = Callable[[], Connection]  # blocking: called on a worker thread

# Upper bound on closing a discarded connection (it normally takes microseconds:
# libpq sends Terminate and closes the socket).
_CLOSE_BUDGET_S = 2.0


def connector(
    url: str,
    *,
    connect_timeout_s: int = 5,
    statement_timeout_ms: int = 10_000,
    application_name: str = "csvbot",
) -> Connect:
    """A function opening one connection as the adapter needs it.

    ``prepare_threshold=None`` turns server-side prepared statements off, which
    pgbouncer in transaction mode cannot route. ``options`` sets the statement
    timeout for direct connections; pgbouncer drops that startup option, which is
    why each transaction sets it again (see ``tx.SETUP_SQL``).
    """

    def connect() -> Connection:
        conn: Connection = PgConnection.connect(
            url,
            connect_timeout=connect_timeout_s,
            prepare_threshold=None,
            autocommit=True,  # transactions are explicit (see tx.run_transaction)
            options=f"-c statement_timeout={statement_timeout_ms}",
            application_name=application_name,
        )
        return conn

    return connect


def _close_quietly(conn: Connection | Session) -> None:
    try:
        conn.close()
    except psycopg.Error:
        pass  # already broken: nothing left to close cleanly


def _close_unused(conn: Connection) -> None:
    _close_quietly(conn)


def _ignore(_: object) -> None:
    return None


def _reusable(session: Session) -> bool:
    conn = session.conn
    return (
        not conn.closed
        and conn.pgconn.status == ConnStatus.OK
        and conn.info.transaction_status == TransactionStatus.IDLE
    )


class SessionPool:
    def __init__(self, connect: Connect, limit: int = 4, *, max_idle_s: float = 60.0) -> None:
        if limit < 1:
            raise ValueError("session limit must be at least 1")
        self._connect = connect
        self._permits = trio.Semaphore(limit)
        self._idle: list[tuple[float, Session]] = []  # (returned at, conn); newest last
        self._max_idle_s = max_idle_s
        self._closed = False
        self.limit = limit
        self.sessions_in_use = 0
        self.max_sessions_in_use = 0
        self.opened = 0
        self.discarded = 0
        # The wait for a permit, for capacity reports: how often and how long.
        self.checkouts = 0
        self.waits_s: deque[float] = deque(maxlen=100_000)  # of those that waited, newest last

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    @property
    def free_permits(self) -> int:
        return self._permits.value

    @property
    def sessions_waiting(self) -> int:
        """Transactions queued for a session right now."""
        return self._permits.statistics().tasks_waiting

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """A connection for one transaction, under the session limit.

        The connection goes back to the idle pool only if the block exits normally
        and the transaction is finished; otherwise it is closed."""
        if self._closed:
            raise ServiceUnavailable(SERVICE, "repository is closed")
        asked_at, must_wait = trio.current_time(), self._permits.value == 0
        async with self._permits:
            self.checkouts += 1
            if must_wait:
                self.waits_s.append(trio.current_time() - asked_at)
            self.sessions_in_use += 1
            self.max_sessions_in_use = max(self.max_sessions_in_use, self.sessions_in_use)
            try:
                conn = await self._checkout()
                clean = False
                try:
                    yield conn
                    clean = True
                finally:
                    if clean and not self._closed and _reusable(conn):
                        self._idle.append((trio.current_time(), conn))
                    else:
                        await self._discard(conn)
            finally:
                self.sessions_in_use -= 1

    async def _checkout(self) -> Session:
        while self._idle:
            returned_at, session = self._idle.pop()
            # Servers and poolers drop idle clients; an old connection is more
            # likely dead than worth a health-check round trip.
            if trio.current_time() - returned_at <= self._max_idle_s and _reusable(session):
                return session
            await self._discard(session)
        # A cancelled caller leaves at once; the connection, once open, is closed.
        opened = await run_abandonable(self._connect, _close_unused)
        self.opened += 1
        return Session(opened)

    async def _discard(self, session: Session) -> None:
        self.discarded += 1
        with trio.move_on_after(_CLOSE_BUDGET_S, shield=True):
            await run_abandonable(functools.partial(_close_quietly, session), _ignore)

    async def aclose(self) -> None:
        """Close idle connections; connections in use are closed when returned."""
        self._closed = True
        while self._idle:
            _, conn = self._idle.pop()
            await self._discard(conn)


__all__ = ["Connect", "Connection", "SessionPool", "connector"]
