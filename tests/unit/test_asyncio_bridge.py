"""The trio-asyncio bridge: results, errors, and cancellation reaching the asyncio side."""

from __future__ import annotations

import asyncio
import types

import psycopg
import pytest
import trio
import trio_asyncio
from psycopg.rows import TupleRow

from adapters.asyncio_bridge import aio, loop_is_open, rebind_running_loop
from contract.pg_fixtures import Admin, aio_loop, database_url

__all__ = ["aio_loop"]  # fixture, imported for pytest


async def test_returns_results_and_raises_errors(aio_loop: None) -> None:
    async def add(a: int, b: int = 0) -> int:
        await asyncio.sleep(0)
        return a + b

    async def fail() -> None:
        raise KeyError("x")

    assert loop_is_open()
    assert await aio(add, 2, b=3) == 5
    with pytest.raises(KeyError):
        await aio(fail)


async def test_cancellation_reaches_asyncio_and_waits_for_its_cleanup(aio_loop: None) -> None:
    seen: list[str] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            await asyncio.sleep(0.01)  # cleanup that itself awaits
            seen.append("cleaned up")
            raise

    with trio.move_on_after(0.05) as scope:
        await aio(slow)
    assert scope.cancelled_caught
    assert seen == ["cancelled", "cleaned up"]  # finished before the Trio side went on


async def test_cancelled_query_is_cancelled_on_the_server(aio_loop: None) -> None:
    url = database_url()
    admin = await Admin.open(url)
    conn: psycopg.AsyncConnection[TupleRow] = await aio(psycopg.AsyncConnection.connect, url, autocommit=True)
    try:
        pid = conn.info.backend_pid

        async def sleep_on_server() -> None:
            await conn.execute("SELECT pg_sleep(30)")

        with trio.fail_after(20):  # far below the 30 s the query would take
            with trio.move_on_after(0.2):
                await aio(sleep_on_server)
        [(state,)] = await admin.rows("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,))
        assert state == "idle"
    finally:
        with trio.CancelScope(shield=True):
            await aio(conn.close)
            await admin.aclose()


async def test_outside_the_loop_is_a_clear_error() -> None:
    async def nothing() -> None:
        pass

    assert not loop_is_open()
    coro_fn = nothing
    with pytest.raises(RuntimeError, match="open_loop"):
        await aio(coro_fn)


async def test_rebind_running_loop_repairs_an_early_import() -> None:
    module = types.ModuleType("early")
    vars(module)["get_running_loop"] = lambda: None  # as bound by an import before trio_asyncio's
    rebind_running_loop(module)
    assert vars(module)["get_running_loop"] is asyncio.get_running_loop
    async with trio_asyncio.open_loop() as loop:

        async def which() -> object:
            return vars(module)["get_running_loop"]()

        assert await aio(which) is loop
