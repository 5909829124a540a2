"""One transaction's statements, run on the asyncio side of the bridge.

Everything here is asyncio code: the repository hands a whole transaction to
:func:`run_transaction` through :func:`adapters.asyncio_bridge.aio`, so a
transaction costs one Trio-to-asyncio hop, not one per statement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from psycopg import AsyncConnection, AsyncCursor
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


class Tx:
    """Runs the statements of one open transaction. Every statement goes through
    :meth:`run`, which is also where tests inject failures."""

    def __init__(self, cursor: AsyncCursor[TupleRow]) -> None:
        self._cursor = cursor

    async def run(self, query: str, params: Sequence[Any] | None = None) -> list[Row]:
        """Execute one statement; its rows, or [] if it returns none.

        Without ``params`` the text goes over the simple protocol, so it may hold
        several statements (migrations)."""
        await self._cursor.execute(query, params)  # type: ignore[arg-type]
        if self._cursor.description is None:
            return []
        return list(await self._cursor.fetchall())

    async def one(self, query: str, params: Sequence[Any] | None = None) -> Row | None:
        rows = await self.run(query, params)
        return rows[0] if rows else None


TxBody = Callable[[Tx], Awaitable[T]]


async def run_transaction(
    conn: AsyncConnection[TupleRow],
    statement_timeout_ms: int,
    search_path: str | None,
    body: TxBody[T],
) -> T:
    """Run ``body`` in one transaction: committed if it returns, rolled back if
    anything (an error, a cancellation) escapes it."""
    async with conn.transaction(), conn.cursor() as cursor:
        tx = Tx(cursor)
        await tx.run(SETUP_SQL, (str(statement_timeout_ms), search_path))
        return await body(tx)


__all__ = ["SETUP_SQL", "Row", "Tx", "TxBody", "run_transaction"]
