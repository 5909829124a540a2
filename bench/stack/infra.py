"""What the stack runs on: pgbouncer in front of Postgres, and the bot's OS processes.

Postgres and Redis are the machine's (``DATABASE_URL``, ``REDIS_URL``); each run gets
its own schema and key prefix, dropped afterwards. pgbouncer is started with
``scripts/pgbouncer.sh`` on a free port and stopped at the end. Every wait is bounded;
every process started here is stopped (SIGTERM, then SIGKILL of its process group).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
import trio

ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_host_port(url: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@{host}:{port}" if auth else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Pgbouncer:
    url: str  # the database through pgbouncer
    admin_url: str  # pgbouncer's admin console (SHOW POOLS)


@asynccontextmanager
async def pgbouncer(database_url: str, folder: Path) -> AsyncIterator[Pgbouncer]:
    parts = urlsplit(database_url)
    port = free_port()
    env = {
        **os.environ,
        "PGBOUNCER_PORT": str(port),
        "PGBOUNCER_USER": parts.username or "postgres",
        "PGBOUNCER_UPSTREAM_HOST": parts.hostname or "127.0.0.1",
        "PGBOUNCER_UPSTREAM_PORT": str(parts.port or 5432),
    }
    script = str(ROOT / "scripts" / "pgbouncer.sh")
    with trio.fail_after(300):  # may install it with apt first
        await trio.run_process(["bash", script, "start", str(folder)], env=env)
    try:
        url = with_host_port(database_url, "127.0.0.1", port)
        yield Pgbouncer(url, urlunsplit(urlsplit(url)._replace(path="/pgbouncer")))
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(30):
            await trio.run_process(["bash", script, "stop", str(folder)], env=env, check=False)


def drop_schema(database_url: str, schema: str) -> None:
    with contextlib.suppress(psycopg.Error), psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def drop_keys(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    except redis.RedisError:
        pass
    finally:
        client.close()


@dataclass
class Child:
    name: str
    process: trio.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def stop(self) -> None:
        with trio.CancelScope(shield=True):
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
                with trio.move_on_after(STOP_GRACE_S):
                    await self.process.wait()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)  # its CPU pool, if left behind
            with trio.move_on_after(STOP_GRACE_S):
                await self.process.wait()


@asynccontextmanager
async def child(
    name: str, command: Sequence[str], env: Mapping[str, str], log_path: Path
) -> AsyncIterator[Child]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = await trio.lowlevel.open_process(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    proc = Child(name, process, log_path)
    try:
        yield proc
    finally:
        await proc.stop()


async def wait_for_log(proc: Child, event: str, timeout_s: float) -> None:
    with trio.fail_after(timeout_s):
        while f" {event} " not in f"{proc.log()} ":
            if proc.process.returncode is not None:
                raise RuntimeError(f"{proc.name} exited ({proc.process.returncode}):\n{proc.log()[-3000:]}")
            await trio.sleep(0.1)


def bot_command(jobs: int) -> list[str]:
    return [sys.executable, "-m", "adapters", "run", "--workers", str(jobs)]


def worker_command(name: str) -> list[str]:
    return [sys.executable, "-m", "adapters", "worker", "--name", name]
