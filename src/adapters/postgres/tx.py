"""One transaction's statements, run whole on a session's worker thread.

The repository hands a whole transaction to :func:`run_transaction` through
:func:`adapters.postgres.threads.run_interruptible`, so a transaction costs one
hand-off from Trio and one back, not one per statement.

Round trips: the connection stays in pipeline mode, so BEGIN and the per-transaction
setup travel with the first statement, and each later statement and the COMMIT take
one round trip each (a one-statement transaction: two, where it took four). No
statement is prepared on the server (pgbouncer in transaction mode could not route it).

Transaction bodies are written as coroutines (``async def body(tx)``, ``await
tx.run(...)``) but never suspend: :meth:`Tx.run` blocks the worker thread on
psycopg's synchronous connection, and :func:`run_transaction` drives the body to its
end in one step. A body must await nothing but ``Tx``'s methods.

On any failure nothing is rolled back here: the pool throws the connection away, and
the server rolls back what a closed connection left open.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import psycopg
from psycopg import Connection, Cursor, Pipeline
from psycopg.rows import TupleRow

T = TypeVar("T")

Row = tuple[Any, ...]
Params = Sequence[Any] | Mapping[str, Any]

# Timeouts and schema are set per transaction (SET LOCAL semantics) rather than per
# session: behind pgbouncer in transaction mode each transaction may run on a
# different server connection, and session settings would leak or be lost.
SETUP_SQL = (
    "SELECT set_config('statement_timeout', %s, true), "
    "set_config('search_path', coalesce(%s, current_setting('search_path')), true)"
)


def _never_interrupted() -> None:
    return None


class Session:
    """One server connection (autocommit; transactions are explicit), kept in pipeline
    mode between transactions: entering it costs nothing, leaving it a round trip."""

    def __init__(self, conn: Connection[TupleRow]) -> None:
        self.conn = conn
        self._mode: AbstractContextManager[Pipeline] | None = None
        self._pipeline: Pipeline | None = None

    def pipelined(self) -> Pipeline:
        if self._pipeline is None:
            self._mode = self.conn.pipeline()
            self._pipeline = self._mode.__enter__()
        return self._pipeline

    def close(self) -> None:
        """Close the connection; a transaction left open is rolled back by the server."""
        mode, self._mode, self._pipeline = self._mode, None, None
        self.conn.close()
        if mode is not None:
            try:
                mode.__exit__(None, None, None)  # only psycopg's bookkeeping is left
            except psycopg.Error:
                pass  # "the connection is closed": as intended

    def unpipelined(self) -> None:
        mode, self._mode, self._pipeline = self._mode, None, None
        if mode is not None:
            mode.__exit__(None, None, None)


class Tx:
    """Runs the statements of one open transaction. Every statement goes through
    :meth:`run`, which is also where tests inject failures, and where a cancelled
    caller's transaction stops (``check`` raises)."""

    def __init__(
        self,
        cursor: Cursor[TupleRow],
        check: Callable[[], None] = _never_interrupted,
        pipeline: Pipeline | None = None,
        *,
        wait: bool = True,
    ) -> None:
        self._cursor = cursor
        self._check = check
        self._pipeline = pipeline
        self._wait = wait  # False: queue the statement, its result is not needed

    async def run(self, query: str, params: Params | None = None) -> list[Row]:
        """Execute one statement; its rows, or [] if it returns none.

        Outside pipeline mode (migrations) a text without ``params`` goes over the
        simple protocol, so it may hold several statements."""
        self._check()
        self._cursor.execute(query, params)  # type: ignore[arg-type]
        if not self._wait:
            return []
        if self._pipeline is not None:
            self._pipeline.sync()
        if self._cursor.description is None:
            return []
        return self._cursor.fetchall()

    async def one(self, query: str, params: Params | None = None) -> Row | None:
        rows = await self.run(query, params)
        return rows[0] if rows else None


TxBody = Callable[[Tx], Coroutine[Any, Any, T]]


def finish_now(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never suspends to its result (see the module doc)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coro.close()
    raise RuntimeError("a transaction body awaited something other than Tx")


def run_transaction(
    session: Session,
    statement_timeout_ms: int,
    search_path: str | None,
    body: TxBody[T],
    check: Callable[[], None] = _never_interrupted,
    *,
    pipelined: bool = True,
) -> T:
    """Run ``body`` in one transaction (blocking, on a worker thread): committed if it
    returns; if anything escapes it, the caller must discard the connection."""
    pipeline: Pipeline | None = None
    if pipelined:
        pipeline = session.pipelined()
    else:
        session.unpipelined()
    with session.conn.cursor() as cursor:
        cursor.execute("BEGIN")
        finish_now(
            Tx(cursor, check, pipeline, wait=False).run(SETUP_SQL, (str(statement_timeout_ms), search_path))
        )
        result = finish_now(body(Tx(cursor, check, pipeline)))
        cursor.execute("COMMIT")
        if pipeline is not None:
            pipeline.sync()
    return result


__all__ = ["SETUP_SQL", "Params", "Row", "Session", "Tx", "TxBody", "finish_now", "run_transaction"]
