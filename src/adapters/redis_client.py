"""One redis-py client per process, its blocking calls run on worker threads.

Every command goes through :meth:`RedisClient.call` (or :meth:`RedisClient.call_blocking`
for a read that waits on the server, XREADGROUP BLOCK): the call, its retry after a
broken connection included, runs on a worker thread in one hand-off from Trio and one
back (no event-loop bridge: through trio-asyncio a round trip cost about twice the
client CPU). redis-py's exceptions become :mod:`bot.errors`, so nothing of the library
leaks into the core.

Cancellation, two ways:
- an ordinary call is abandoned: the caller leaves at once and the thread finishes the
  round trip on its own, within the socket timeout (``RedisOptions.read_timeout_s``,
  set from the policy table), and returns its connection to the pool. A thread keeps
  its limiter token until it ends, and the limiter is as large as the pool, so a burst
  of callers waits in Trio (cancellably) for a connection, never on a thread;
- a blocking read has connections and threads of its own (``blocking_connections``),
  so a waiting worker never takes the pool that sends and state need; cancelling it
  shuts its socket down, which ends the wait on the server at once, and the caller
  leaves when the thread has.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
import trio
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

from adapters.threads import run_abandonable, run_interruptible
from bot.errors import ServiceUnavailable

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class RedisReplyError(ServiceUnavailable):
    """Redis answered a command with an error reply (``-ERR``, ``-NOGROUP``...).

    Adapters look at :attr:`reply` for the replies they expect (a missing consumer
    group); any other reply reaches the core as a plain ``ServiceUnavailable``."""

    def __init__(self, reply: str) -> None:
        super().__init__("redis", reply)
        self.reply = reply


@dataclass(frozen=True, slots=True)
class RedisOptions:
    connect_timeout_s: float = 2.0
    # How long an abandoned call's thread can still wait for its reply.
    read_timeout_s: float = 5.0
    # Blocking reads (XREADGROUP BLOCK) must return before this, or redis-py would
    # report a healthy wait as a timeout.
    blocking_read_timeout_s: float = 10.0
    max_connections: int = 20
    blocking_connections: int = 2
    health_check_interval_s: int = 30


def _is_socket_path(target: str) -> bool:
    return "://" not in target


def describe_target(target: str) -> str:
    """The URL without its password, for logs and error messages."""
    if _is_socket_path(target):
        return f"unix:{target}"
    parts = urlsplit(target)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _ignore(_: object) -> None:
    return None


class _Interrupted(Exception):
    """A blocking read's caller was cancelled before the read was sent."""


class _BlockingSlot:
    """One connection for blocking reads, and the way to end a read from Trio."""

    def __init__(self, make: Callable[[], redis.Redis]) -> None:
        self._make = make
        self.client: redis.Redis | None = None  # connected on first use, on its thread
        self.interrupted = threading.Event()

    def run(self, fn: Callable[[redis.Redis], Any]) -> Any:  # on a worker thread
        if self.client is None:
            self.client = self._make()
        self.client.connection.connect()  # type: ignore[union-attr]  # no-op when connected
        # Checked after connecting: an interrupt that came earlier is seen here, a
        # later one finds the socket to shut down.
        if self.interrupted.is_set():
            raise _Interrupted("cancelled by the caller")
        return fn(self.client)

    def interrupt(self) -> None:  # on the Trio thread: must not block
        self.interrupted.set()
        conn = self.client.connection if self.client is not None else None
        sock: socket.socket | None = getattr(conn, "_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed meanwhile: the read has ended already


class RedisClient:
    """A connection pool plus the one way to run a command on it."""

    def __init__(self, target: str = DEFAULT_REDIS_URL, options: RedisOptions | None = None) -> None:
        """``target`` is a ``redis://``/``rediss://``/``unix://`` URL or a unix socket path.

        Creating the client does no I/O: connections open on first use."""
        self.options = options or RedisOptions()
        self.target = describe_target(target)
        self._url = target
        opts = self.options
        # One immediate retry inside redis-py covers a pooled connection that Redis
        # closed (restart, idle timeout); longer waits are the caller's deadline's job.
        self.pool = self._make_pool(opts.max_connections, opts.read_timeout_s, retries=1)
        self.raw = redis.Redis(connection_pool=self.pool)
        self._limiter = trio.CapacityLimiter(opts.max_connections)
        self._blocking_limiter = trio.CapacityLimiter(opts.blocking_connections)
        self._idle_slots = [self._new_slot() for _ in range(opts.blocking_connections)]
        self._all_slots = list(self._idle_slots)

    def _make_pool(self, size: int, read_timeout_s: float, retries: int) -> redis.ConnectionPool:
        opts = self.options
        common: dict[str, Any] = {
            "socket_connect_timeout": opts.connect_timeout_s,
            "socket_timeout": read_timeout_s,
            "health_check_interval": opts.health_check_interval_s,
            "decode_responses": True,
            "retry": Retry(NoBackoff(), retries, supported_errors=(RedisConnectionError,)),
        }
        # The limiters keep the threads to the pool's size, so no thread waits here;
        # a blocking pool is the second line, should that ever change.
        if _is_socket_path(self._url):
            return redis.BlockingConnectionPool(  # type: ignore[no-untyped-call]  # untyped in redis-py
                connection_class=redis.UnixDomainSocketConnection,
                path=self._url,
                max_connections=size,
                timeout=None,
                **common,
            )
        return redis.BlockingConnectionPool.from_url(self._url, max_connections=size, timeout=None, **common)

    def _new_slot(self) -> _BlockingSlot:
        def make() -> redis.Redis:
            # No retry inside redis-py: an interrupted read must not be sent again.
            pool = self._make_pool(1, self.options.blocking_read_timeout_s, retries=0)
            return redis.Redis(connection_pool=pool, single_connection_client=True)

        return _BlockingSlot(make)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on a worker thread; map its failures.

        ``fn`` is a bound method of :attr:`raw` (or a function using it). A cancelled
        caller leaves at once (see the module doc)."""
        try:
            return await run_abandonable(
                lambda: self._with_reconnect(fn, args, kwargs), _ignore, self._limiter
            )
        except (RedisError, OSError) as exc:
            raise self._mapped(exc) from exc

    async def call_blocking(self, fn: Callable[[redis.Redis], Any]) -> Any:
        """Run ``fn(client)``, a read that waits on the server, on a connection of its own.

        Cancelling the caller ends the read (its connection is closed)."""
        async with self._blocking_limiter:
            slot = self._idle_slots.pop()
            slot.interrupted.clear()
            try:
                return await run_interruptible(lambda: slot.run(fn), slot.interrupt)
            except (RedisError, OSError) as exc:
                raise self._mapped(exc) from exc
            finally:
                self._idle_slots.append(slot)

    def _with_reconnect(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:  # on a worker thread
        """After a broken connection every idle one in the pool is suspect (Redis
        restarted): they are dropped and the call is tried once more on a new one, so
        the first call after Redis comes back does not fail on a stale socket."""
        try:
            return fn(*args, **kwargs)
        except (RedisConnectionError, OSError):
            try:
                self.pool.disconnect(inuse_connections=False)
            except (RedisError, OSError):
                pass  # the next try opens a new connection either way
            return fn(*args, **kwargs)

    def _mapped(self, exc: RedisError | OSError) -> ServiceUnavailable:
        if isinstance(exc, ResponseError):
            return RedisReplyError(str(exc))
        # ConnectionError, TimeoutError, BusyLoadingError...; OSError: the socket layer's own
        return ServiceUnavailable("redis", f"{self.target}: {type(exc).__name__}: {exc}")

    async def ping(self) -> bool:
        """Health check: True when Redis answers PING; raises ServiceUnavailable otherwise."""
        return bool(await self.call(self.raw.ping))

    async def aclose(self) -> None:
        """Close the pools' connections (safe to call twice)."""
        clients = [slot.client for slot in self._all_slots if slot.client is not None]
        await trio.to_thread.run_sync(self._close, clients)

    def _close(self, clients: list[redis.Redis]) -> None:
        for pool in [self.pool, *(c.connection_pool for c in clients)]:
            try:
                pool.disconnect()
            except (RedisError, OSError):
                pass  # closing a pool whose server is gone must not fail shutdown
        for client in clients:
            try:
                client.close()
            except (RedisError, OSError):
                pass


__all__ = [
    "DEFAULT_REDIS_URL",
    "RedisClient",
    "RedisOptions",
    "RedisReplyError",
    "describe_target",
]
