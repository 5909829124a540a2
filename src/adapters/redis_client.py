"""One redis-py asyncio client per process, called from Trio through trio-asyncio.

redis-py's asyncio client runs on the asyncio loop that ``trio_asyncio.open_loop()``
provides; every command goes through :meth:`RedisClient.call`, which crosses into
asyncio, and turns redis-py's exceptions into :mod:`bot.errors` so nothing of the
library leaks into the core. Cancelling the Trio caller cancels the asyncio task and
waits for it: redis-py then drops the connection it was using instead of returning a
half-read one to the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

from adapters.asyncio_bridge import aio
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
    # Blocking commands (XREADGROUP BLOCK) must return before ``read_timeout_s``,
    # or redis-py would report a healthy wait as a timeout.
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 10.0
    max_connections: int = 20
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


class RedisClient:
    """A connection pool plus the one way to run a command on it."""

    def __init__(self, target: str = DEFAULT_REDIS_URL, options: RedisOptions | None = None) -> None:
        """``target`` is a ``redis://``/``rediss://``/``unix://`` URL or a unix socket path.

        Creating the client does no I/O: connections open on first use."""
        self.options = options or RedisOptions()
        self.target = describe_target(target)
        opts = self.options
        common: dict[str, Any] = {
            "socket_connect_timeout": opts.connect_timeout_s,
            "socket_timeout": opts.read_timeout_s,
            "health_check_interval": opts.health_check_interval_s,
            "decode_responses": True,
            # One immediate retry covers a pooled connection that Redis closed
            # (restart, idle timeout); longer waits are the caller's deadline's job.
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        }
        # A burst of callers beyond max_connections waits for a free connection (within
        # the caller's deadline) instead of failing with "Too many connections".
        if _is_socket_path(target):
            pool: aioredis.ConnectionPool = aioredis.BlockingConnectionPool(
                connection_class=aioredis.UnixDomainSocketConnection,
                path=target,
                max_connections=opts.max_connections,
                timeout=None,
                **common,
            )
        else:
            pool = aioredis.BlockingConnectionPool.from_url(
                target, max_connections=opts.max_connections, timeout=None, **common
            )
        self.raw: aioredis.Redis = aioredis.Redis(connection_pool=pool)

    async def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Run ``await fn(*args, **kwargs)`` on the asyncio side; map its failures.

        ``fn`` is a bound method of :attr:`raw` (or a coroutine function using it).

        After a broken connection every idle one in the pool is suspect (Redis
        restarted): they are dropped and the call is tried once more on a new one, so
        the first call after Redis comes back does not fail on a stale socket."""
        for last_try in (False, True):
            try:
                return await aio(fn, *args, **kwargs)
            except ResponseError as exc:
                raise RedisReplyError(str(exc)) from exc
            except (RedisConnectionError, OSError) as exc:  # OSError: the socket layer's own
                if last_try:
                    raise ServiceUnavailable("redis", f"{self.target}: {type(exc).__name__}: {exc}") from exc
                await self._drop_idle_connections()
            except RedisError as exc:  # TimeoutError, BusyLoadingError, ...
                raise ServiceUnavailable("redis", f"{self.target}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable: the last try returns or raises")

    async def _drop_idle_connections(self) -> None:
        try:
            await aio(self.raw.connection_pool.disconnect, inuse_connections=False)
        except (RedisError, OSError):
            pass  # the next try opens a new connection either way
        except asyncio.CancelledError:
            # redis-py re-raises what closing each connection raised, a connection
            # another task's cancellation is closing included; that cancellation is not
            # this caller's (a cancelled caller sees trio.Cancelled from the bridge).
            pass

    async def ping(self) -> bool:
        """Health check: True when Redis answers PING; raises ServiceUnavailable otherwise."""
        return bool(await self.call(self.raw.ping))

    async def aclose(self) -> None:
        """Close the pool's connections (safe to call twice)."""
        try:
            await aio(self.raw.connection_pool.disconnect)
        except (RedisError, OSError):
            pass  # closing a pool whose server is gone must not fail shutdown


__all__ = [
    "DEFAULT_REDIS_URL",
    "RedisClient",
    "RedisOptions",
    "RedisReplyError",
    "describe_target",
]
