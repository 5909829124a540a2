"""One transaction's statements, run whole on a session's worker thread.

The repository hands a whole transaction to :func:`run_transaction` through
:func:`adapters.postgres.threads.run_interruptible`, so a transaction costs one
hand-off from Trio and one back, not one per statement.

Transaction bodies are written as coroutines (``async def body(tx)``, ``await
tx.run(...)``) but never suspend: :meth:`Tx.run` blocks the worker thread on
psycopg's synchronous connection, and :func:`run_transaction` drives the body to its
end in one step. A body must await nothing but ``Tx``'s methods.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from psycopg import Connection, Cursor
from psycopg.rows import TupleRow

T = TypeVar("T")

Row = tuple[Any, ...]

# Timeouts and schema are set per transaction (SET LOCAL semantics) rather than per
# session: behind pgbouncer in transaction mode each transaction may run on a
# different server connection, and session settings would leak or be lost.
SETUP_SQL = (
    "SELECT set_config('statement_timeout', %s, true), "
    "set_config('search_path', coalesce(%s, current_setting('search_path')), true)"
)


def _never_interrupted() -> None:
    return None


class Tx:
    """Runs the statements of one open transaction. Every statement goes through
    :meth:`run`, which is also where tests inject failures, and where a cancelled
    caller's transaction stops (``check`` raises)."""

    def __init__(self, cursor: Cursor[TupleRow], check: Callable[[], None] = _never_interrupted) -> None:
        self._cursor = cursor
        self._check = check

    async def run(self, query: str, params: Sequence[Any] | None = None) -> list[Row]:
        """Execute one statement; its rows, or [] if it returns none.

        Without ``params`` the text goes over the simple protocol, so it may hold
        several statements (migrations)."""
        self._check()
        self._cursor.execute(query, params)  # type: ignore[arg-type]
        if self._cursor.description is None:
            return []
        return self._cursor.fetchall()

    async def one(self, query: str, params: Sequence[Any] | None = None) -> Row | None:
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
    conn: Connection[TupleRow],
    statement_timeout_ms: int,
    search_path: str | None,
    body: TxBody[T],
    check: Callable[[], None] = _never_interrupted,
) -> T:
    """Run ``body`` in one transaction (blocking, on a worker thread): committed if
    it returns, rolled back if anything escapes it."""
    with conn.transaction(), conn.cursor() as cursor:
        tx = Tx(cursor, check)
        finish_now(tx.run(SETUP_SQL, (str(statement_timeout_ms), search_path)))
        return finish_now(body(tx))


__all__ = ["SETUP_SQL", "Row", "Tx", "TxBody", "finish_now", "run_transaction"]
