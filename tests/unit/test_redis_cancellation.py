"""Redis calls run on worker threads, yet a cancelled caller does not wait for them.

- an ordinary call is abandoned: its caller leaves at once, whatever the server does;
- a blocking read is interrupted: its connection is shut down and the caller leaves
  long before the read's own wait ends; the next read works;
- blocking reads wait on connections and threads of their own, so a worker waiting
  for jobs never holds up the calls that sends and state make.

Each bound is a deadline far below what the wrong behaviour would take (the wait a
server never ends, a read's several seconds), not a speed figure."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from adapters.redis_client import RedisClient, RedisOptions
from adapters.redis_queue import RedisJobQueue
from contract.kv_fixtures import REDIS_URL, _delete_prefixed


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never answers."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    accepted: list[trio.SocketStream] = []

    async def accept_all() -> None:
        while True:
            accepted.append(await listeners[0].accept())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept_all)
        try:
            yield listeners[0].socket.getsockname()[1]
        finally:
            nursery.cancel_scope.cancel()
    for stream in accepted:  # ends the abandoned threads' reads
        await stream.aclose()
    await listeners[0].aclose()


async def test_a_cancelled_call_leaves_without_waiting_for_the_server() -> None:
    async with silent_server() as port:
        client = RedisClient(f"redis://127.0.0.1:{port}/0", RedisOptions(read_timeout_s=30.0))
        try:
            with trio.fail_after(5):  # the thread itself waits up to 30 s
                with trio.move_on_after(0.2) as scope:
                    await client.ping()
            assert scope.cancelled_caught
        finally:
            await client.aclose()


@asynccontextmanager
async def redis_queue(options: RedisOptions) -> AsyncIterator[tuple[RedisClient, RedisJobQueue]]:
    prefix = f"test:{uuid.uuid4().hex}:"
    client = RedisClient(REDIS_URL, options)
    try:
        yield client, RedisJobQueue(client, stream=f"{prefix}jobs")
    finally:
        with trio.CancelScope(shield=True):
            await client.call(_delete_prefixed, client, prefix)
            await client.aclose()


async def test_a_cancelled_blocking_read_ends_at_once_and_the_next_read_works() -> None:
    async with redis_queue(RedisOptions(blocking_connections=1)) as (_, queue):
        await queue.ensure_group()
        with trio.fail_after(4):  # the read alone would wait 8 s
            with trio.move_on_after(0.3) as scope:
                await queue.claim("w1", block_s=8.0)
        assert scope.cancelled_caught
        await queue.enqueue("job-1")
        with trio.fail_after(5):
            delivery = await queue.claim("w1", block_s=2.0)
        assert delivery is not None and delivery.job_id == "job-1"


async def test_waiting_workers_leave_the_pool_to_other_calls() -> None:
    options = RedisOptions(max_connections=1, blocking_connections=1)
    async with redis_queue(options) as (client, queue):
        await queue.ensure_group()
        async with trio.open_nursery() as nursery:
            for n in range(3):  # more waiting readers than connections of any kind
                nursery.start_soon(queue.claim, f"w{n}", 8.0)
            await trio.sleep(0.2)
            with trio.fail_after(4):  # behind a read, a call would wait 8 s
                for _ in range(5):
                    assert await client.ping()
            nursery.cancel_scope.cancel()
