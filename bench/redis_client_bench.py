"""Client CPU per Redis call, for each way of calling Redis from Trio, on this machine.

    python bench/redis_client_bench.py                  # REDIS_URL, 2000 calls per operation
    python bench/redis_client_bench.py --count 5000 --only bridge,threads
    just bench redis_client --count 5000

Variants:
- ``bridge``: redis-py's asyncio client through trio-asyncio (one bridge crossing per call);
- ``to_thread``: redis-py's sync client, each call in ``trio.to_thread.run_sync`` with a limiter;
- ``threads``: the production adapter (``adapters.redis_client.RedisClient`` of this checkout),
  its blocking read through ``call_blocking`` where it has one;
- ``coredis``: coredis on Trio (anyio), when it is importable (``pip install coredis``).

Operations, one after another on one task: GET, SET EX, XADD MAXLEN ~, the send bucket's
EVALSHA, XREADGROUP BLOCK on a stream holding an entry for every read (so it answers at
once), and the ack's MULTI XACK XDEL. CPU is this process's (``time.process_time``: every
thread, redis-py's parsing on workers included), divided by the number of calls; Redis's
own CPU is not in it. Wall time is printed for reference only (the machine is shared).
The variants run in turn, ``--rounds`` times, and each figure is the lowest seen.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import trio
import trio_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from adapters.redis_send_bucket import RESERVE_LUA

OPS = ("get", "set", "xadd", "evalsha", "xreadgroup", "ack")
GROUP = "bench"
CONSUMER = "bench-1"
# Lifted send rates: the script never has to wait (ms, as the adapter passes them).
RESERVE_ARGS = ["", 0.1, 1000.0, 0.1, 1000.0, 0.0]

Call = Callable[[], Awaitable[Any]]
Ops = dict[str, Call]


class Names:
    def __init__(self, prefix: str) -> None:
        self.key = f"{prefix}state"
        self.stream = f"{prefix}jobs"
        self.read_stream = f"{prefix}read"
        self.bucket = [f"{prefix}send:global", f"{prefix}send:pause", f"{prefix}send:chat:1"]


def _redis_py_ops(
    call: Callable[..., Awaitable[Any]],
    raw: Any,
    names: Names,
    sha: str,
    call_blocking: Callable[[Callable[[Any], Any]], Awaitable[Any]] | None = None,
) -> Ops:
    """The operations on a redis-py client (sync or asyncio), each through ``call``;
    the blocking read through ``call_blocking(fn(client))`` when given."""
    pending: list[str] = []
    streams = {names.read_stream: ">"}

    async def read() -> None:
        if call_blocking is None:
            reply = await call(raw.xreadgroup, GROUP, CONSUMER, streams, count=1, block=1000)
        else:
            reply = await call_blocking(lambda r: r.xreadgroup(GROUP, CONSUMER, streams, count=1, block=1000))
        pending.append(reply[0][1][0][0])

    async def ack() -> None:
        entry = pending.pop()

        def body(pipe: Any) -> Any:
            pipe.xack(names.read_stream, GROUP, entry)
            pipe.xdel(names.read_stream, entry)
            return pipe.execute()

        await call(_pipelined(raw, body))

    return {
        "get": lambda: call(raw.get, names.key),
        "set": lambda: call(raw.set, names.key, '{"step":"column"}', ex=600),
        "xadd": lambda: call(raw.xadd, names.stream, {"job": "j"}, maxlen=100_000, approximate=True),
        "evalsha": lambda: call(raw.evalsha, sha, 3, *names.bucket, *RESERVE_ARGS),
        "xreadgroup": read,
        "ack": ack,
    }


def _pipelined(raw: Any, body: Callable[[Any], Any]) -> Callable[[], Any]:
    """A function running ``body`` on a MULTI pipeline (a coroutine function for asyncio)."""
    import redis.asyncio

    if isinstance(raw, redis.asyncio.Redis):

        async def run_async() -> Any:
            async with raw.pipeline(transaction=True) as pipe:
                return await body(pipe)

        return run_async

    def run_sync() -> Any:
        with raw.pipeline(transaction=True) as pipe:
            return body(pipe)

    return run_sync


async def bridge_ops(url: str, names: Names, stack: AsyncExitStack) -> Ops:
    import redis.asyncio as aioredis

    from adapters.asyncio_bridge import aio

    await stack.enter_async_context(trio_asyncio.open_loop())
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=20, timeout=None, decode_responses=True, socket_timeout=10.0
    )
    raw = aioredis.Redis(connection_pool=pool)
    stack.push_async_callback(aio, pool.disconnect)
    sha = await aio(raw.script_load, RESERVE_LUA)
    return _redis_py_ops(aio, raw, names, sha)


async def to_thread_ops(url: str, names: Names, stack: AsyncExitStack) -> Ops:
    import redis

    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=20, timeout=None, decode_responses=True, socket_timeout=10.0
    )
    raw = redis.Redis(connection_pool=pool)
    stack.callback(pool.disconnect)
    limiter = trio.CapacityLimiter(20)

    async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await trio.to_thread.run_sync(
            lambda: fn(*args, **kwargs), abandon_on_cancel=True, limiter=limiter
        )

    sha = await call(raw.script_load, RESERVE_LUA)
    return _redis_py_ops(call, raw, names, sha)


async def threads_ops(url: str, names: Names, stack: AsyncExitStack) -> Ops:
    """The adapter of this checkout; its ``call`` runs ``raw``'s methods where it runs them."""
    from adapters.redis_client import RedisClient

    client = RedisClient(url)
    stack.push_async_callback(client.aclose)
    sha = await client.call(client.raw.script_load, RESERVE_LUA)
    return _redis_py_ops(client.call, client.raw, names, sha, getattr(client, "call_blocking", None))


async def coredis_ops(url: str, names: Names, stack: AsyncExitStack) -> Ops:
    import coredis

    client: Any = coredis.Redis.from_url(url, decode_responses=True, max_connections=20)
    await stack.enter_async_context(client)
    sha = await client.script_load(RESERVE_LUA)
    pending: list[str] = []

    async def read() -> None:
        reply = await client.xreadgroup(GROUP, CONSUMER, {names.read_stream: ">"}, count=1, block=1000)
        pending.append(next(iter(reply.values()))[0].identifier)

    async def ack() -> None:
        entry = pending.pop()
        async with client.pipeline(transaction=True) as pipe:
            pipe.xack(names.read_stream, GROUP, [entry])
            pipe.xdel(names.read_stream, [entry])

    return {
        "get": lambda: client.get(names.key),
        "set": lambda: client.set(names.key, '{"step":"column"}', ex=600),
        "xadd": lambda: client.xadd(
            names.stream,
            {"job": "j"},
            trim_strategy=coredis.PureToken.MAXLEN,
            threshold=100_000,
            trim_operator=coredis.PureToken.APPROXIMATELY,
        ),
        "evalsha": lambda: client.evalsha(sha, names.bucket, RESERVE_ARGS),
        "xreadgroup": read,
        "ack": ack,
    }


VARIANTS = {"bridge": bridge_ops, "to_thread": to_thread_ops, "threads": threads_ops, "coredis": coredis_ops}


def _prepare(url: str, names: Names, count: int) -> None:
    """A stream with an entry for every read (plus warm-up), and its group."""
    import redis

    with redis.Redis.from_url(url) as r:
        r.delete(names.read_stream)
        r.xgroup_create(names.read_stream, GROUP, id="0", mkstream=True)
        with r.pipeline(transaction=False) as pipe:
            for _ in range(count + 100):
                pipe.xadd(names.read_stream, {"job": "j"})
            pipe.execute()


def _drop(url: str, prefix: str) -> None:
    import redis

    with redis.Redis.from_url(url) as r:
        keys = list(r.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            r.delete(*keys)


async def measure(variant: str, url: str, count: int) -> dict[str, tuple[float, float]]:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    names = Names(prefix)
    await trio.to_thread.run_sync(_prepare, url, names, count)
    out: dict[str, tuple[float, float]] = {}
    try:
        async with AsyncExitStack() as stack:
            ops = await VARIANTS[variant](url, names, stack)
            for name in OPS:
                op = ops[name]
                for _ in range(50):  # warm-up: connections, imports, caches
                    await op()
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(count):
                    await op()
                out[name] = ((time.process_time() - cpu) / count, (time.perf_counter() - wall) / count)
    finally:
        await trio.to_thread.run_sync(_drop, url, prefix)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--count", type=int, default=2000, help="calls per operation (default 2000)")
    parser.add_argument("--only", default=",".join(VARIANTS), help="comma-separated variants")
    parser.add_argument(
        "--rounds", type=int, default=2, help="every variant once per round; the lowest CPU is kept"
    )
    args = parser.parse_args()
    results: dict[str, dict[str, tuple[float, float]]] = {}
    variants = args.only.split(",")
    for _ in range(args.rounds):  # interleaved, so a change in the machine's load hits all alike
        for variant in list(variants):
            try:
                run = trio.run(measure, variant, args.url, args.count)
            except ImportError as exc:
                print(f"{variant}: skipped ({exc})")
                variants.remove(variant)
                continue
            best = results.setdefault(variant, run)
            for name, figures in run.items():
                best[name] = min(best[name], figures)
    load = os.getloadavg()[0]
    print(f"client CPU per call, ms ({args.count} calls, best of {args.rounds}; load {load:.1f}); wall in ()")
    print("op".ljust(12) + "".join(v.rjust(20) for v in results))
    for name in OPS:
        cells = [f"{r[name][0] * 1000:.3f} ({r[name][1] * 1000:.2f})" for r in results.values()]
        print(name.ljust(12) + "".join(c.rjust(20) for c in cells))


if __name__ == "__main__":
    main()
