"""Guards that make anything escaping the simulation fail loudly.

A real socket or a worker thread inside a MockClock run makes virtual time depend
on real time (autojump fires while the thread or socket is busy), so determinism is
silently lost. Inside the simulation, trio sockets, DNS lookups and
``trio.to_thread`` raise :class:`SimulationEscape` instead.
"""

from __future__ import annotations

import socket as _stdlib_socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import trio
import trio._threads as _trio_threads

_THREAD_PRIMITIVE = "start_thread_soon"  # what trio.to_thread.run_sync calls to spawn a thread


class SimulationEscape(RuntimeError):
    """Code under simulation tried to reach the real world."""


class _RefusingResolver(trio.abc.HostnameResolver):
    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> NoReturn:
        raise SimulationEscape(f"DNS lookup of {host!r} inside the simulation")

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> NoReturn:
        raise SimulationEscape(f"reverse DNS lookup of {sockaddr!r} inside the simulation")


class _RefusingSocketFactory(trio.abc.SocketFactory):
    def socket(
        self,
        family: _stdlib_socket.AddressFamily | int = _stdlib_socket.AF_INET,
        type: _stdlib_socket.SocketKind | int = _stdlib_socket.SOCK_STREAM,
        proto: int = 0,
    ) -> NoReturn:
        raise SimulationEscape("a real socket was opened inside the simulation")


def install_socket_guards() -> None:
    """Refuse trio sockets and DNS for the rest of the current ``trio.run``.

    Both settings are RunVars: they vanish with the run, nothing to restore.
    """
    trio.socket.set_custom_hostname_resolver(_RefusingResolver())
    trio.socket.set_custom_socket_factory(_RefusingSocketFactory())


def _refuse_thread(*_args: Any, **_kwargs: Any) -> None:
    raise SimulationEscape("trio.to_thread was used inside the simulation (threads run in real time)")


@contextmanager
def threads_forbidden() -> Iterator[None]:
    """Make ``trio.to_thread.run_sync`` (and trio.Path / open_file, built on it) raise.

    Patches the one primitive every to_thread call goes through; restored afterwards.
    """
    saved: Callable[..., None] = getattr(_trio_threads, _THREAD_PRIMITIVE)
    setattr(_trio_threads, _THREAD_PRIMITIVE, _refuse_thread)
    try:
        yield
    finally:
        setattr(_trio_threads, _THREAD_PRIMITIVE, saved)
