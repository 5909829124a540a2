"""A process's handles on the outside world, revoked when the process is killed.

Each incarnation of a simulated process gets its own :class:`Handles`; every port it
is given goes through a :class:`RevocablePort` bound to them. After a kill, a call
through a revoked port never reaches the service: it waits, which in the killed
(cancelled, unshielded) tree means it is cancelled on the spot, and raises
:class:`ProcessGone` should the task somehow still run. So whatever
a dying task still tries to do on its way out (a write in a ``finally``, a hand-back)
has no effect, as with a process that no longer exists. The next incarnation gets
fresh handles.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar, cast

import trio

T = TypeVar("T")
_SWEPT_WITHIN_S = 1.0  # the kill's sweeps take no virtual time; a task still here after this escaped


class ProcessGone(RuntimeError):
    """A task of a killed process got past the kill and reached a revoked port."""


class Handles:
    """Whether one incarnation of a process may still reach its services."""

    __slots__ = ("process", "revoked")

    def __init__(self, process: str) -> None:
        self.process = process
        self.revoked = False

    def revoke(self) -> None:
        self.revoked = True

    async def refuse(self) -> NoReturn:
        """What a call gets once the process is gone: nothing reaches the service. Its
        tree is being swept (cancelled, unshielded), so this wait ends the task; if not,
        say so."""
        with trio.move_on_after(_SWEPT_WITHIN_S):
            await trio.sleep_forever()
        raise ProcessGone(f"{self.process} was killed, yet one of its tasks still runs")


class RevocablePort:
    """Wraps one port; its async methods refuse to act once the handles are revoked."""

    def __init__(self, target: object, handles: Handles) -> None:
        self._target = target
        self._handles = handles

    @property
    def wrapped(self) -> object:
        return self._target

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attribute):
            return attribute
        wrapper = self._wrap(attribute)
        self.__dict__[name] = wrapper
        return wrapper

    def _wrap(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        handles = self._handles

        @functools.wraps(fn)
        async def call(*args: Any, **kwargs: Any) -> Any:
            if handles.revoked:
                await handles.refuse()
            return await fn(*args, **kwargs)

        return call


def revocable(target: T, handles: Handles) -> T:
    """``target`` behind a :class:`RevocablePort`, typed as the port it implements."""
    return cast(T, RevocablePort(target, handles))
