"""Calling asyncio libraries (psycopg's AsyncConnection) from Trio through trio-asyncio.

The process (the app, every test that touches such an adapter) runs its Trio code
inside ``async with trio_asyncio.open_loop():``; that opens an asyncio event loop
driven by Trio, and :func:`aio` runs one asyncio coroutine on it per call.

Cancellation crosses the bridge: when the calling Trio scope is cancelled, the
asyncio task is cancelled (it sees ``asyncio.CancelledError`` at its current
await), Trio waits for that task to finish its cleanup, and then raises
``trio.Cancelled`` in the caller. So an asyncio library's own cancellation
handling (psycopg cancels the running query on the server) still runs.

Import order matters: trio-asyncio makes ``asyncio.get_running_loop`` see its loop by
replacing that function when it is imported. A library that did
``from asyncio import get_running_loop`` earlier keeps the original, which finds no
loop; :func:`rebind_running_loop` fixes such a module after the fact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import ParamSpec, TypeVar

import trio_asyncio

P = ParamSpec("P")
T = TypeVar("T")


def rebind_running_loop(module: ModuleType) -> None:
    """Point ``module.get_running_loop`` at trio-asyncio's version (see module doc)."""
    if hasattr(module, "get_running_loop"):
        vars(module)["get_running_loop"] = asyncio.get_running_loop


def loop_is_open() -> bool:
    """True when called inside ``trio_asyncio.open_loop()``."""
    return trio_asyncio.current_loop.get() is not None


async def aio(fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``await fn(*args, **kwargs)`` where ``fn`` is an asyncio coroutine function.

    Creating the coroutine happens on the asyncio side too, so libraries that look
    up the running asyncio loop when called (not only when awaited) work.
    """
    if not loop_is_open():
        raise RuntimeError("asyncio code called outside 'async with trio_asyncio.open_loop():'")
    result: T = await trio_asyncio.aio_as_trio(fn)(*args, **kwargs)
    return result


__all__ = ["aio", "loop_is_open", "rebind_running_loop"]
