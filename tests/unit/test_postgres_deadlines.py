"""A caller's deadline holds for a transaction running on its worker thread.

The statement is cancelled on the server, and when neither the server nor the network
answers, the connection's socket is shut down: the caller leaves either way, the
session permit comes back and the connection is thrown away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import trio
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.postgres import open_postgres_repository
from contract.pg_fixtures import Admin, aio_loop, database_url, fresh_schema

__all__ = ["aio_loop"]  # fixture, imported for pytest

T0 = datetime(2024, 11, 13, 12, 0, tzinfo=UTC)
# Not a speed bound: only keeps a broken interrupt from hanging the suite.
HANG_GUARD_S = 30


class FreezableProxy:
    """TCP between the repository and Postgres; ``freeze()`` makes it a dead network
    (nothing forwarded either way, new connections accepted and never answered)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.target_port = host, port
        self.frozen = trio.Event()
        self.port = 0

    async def _pump(self, source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
        while not self.frozen.is_set():
            data = await source.receive_some(65536)
            if not data or self.frozen.is_set():
                break
            await sink.send_all(data)
        await trio.sleep_forever()  # hold the connection open, say nothing

    async def _handle(self, client: trio.SocketStream) -> None:
        if self.frozen.is_set():
            await trio.sleep_forever()
        server: trio.abc.Stream
        if self.host.startswith("/"):  # the embedded server listens on a Unix socket
            server = await trio.open_unix_socket(f"{self.host}/.s.PGSQL.{self.target_port}")
        else:
            server = await trio.open_tcp_stream(self.host, self.target_port)
        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, client, server)
            nursery.start_soon(self._pump, server, client)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)


@asynccontextmanager
async def proxied_database() -> AsyncIterator[tuple[str, FreezableProxy]]:
    url = database_url()
    params = conninfo_to_dict(url)
    proxy = FreezableProxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.run)
        yield make_conninfo(url, host="127.0.0.1", port=proxy.port), proxy
        nursery.cancel_scope.cancel()


async def test_a_statement_past_its_deadline_is_cancelled_on_the_server(aio_loop: None) -> None:
    url = database_url()
    async with fresh_schema(url) as schema:
        repo = await open_postgres_repository(
            url, 2, schema, application_name="deadline-test", statement_timeout_s=HANG_GUARD_S * 2
        )
        locker = await Admin.open(url, autocommit=False)
        watcher = await Admin.open(url)
        try:
            # An uncommitted claim of update 7: the repository's claim of 7 waits for it.
            await locker.rows(
                f'INSERT INTO "{schema}".processed_updates (bot_id, update_id, processed_at) '
                "VALUES (0, 7, now())"
            )
            discarded = repo.pool.discarded
            with trio.fail_after(HANG_GUARD_S), trio.move_on_after(0.3) as scope:
                await repo.claim_update(7, T0)
            assert scope.cancelled_caught
            waiting = await watcher.rows(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'deadline-test' "
                "AND state = 'active'"
            )
            assert waiting == [(0,)]  # the server no longer runs the cancelled claim
            assert repo.sessions_in_use == 0 and repo.pool.free_permits == 2
            assert repo.pool.discarded == discarded + 1
            await locker.rows("ROLLBACK")
            assert await repo.claim_update(7, T0)  # the repository still works
        finally:
            with trio.CancelScope(shield=True):
                await repo.aclose()
                await locker.aclose()
                await watcher.aclose()


async def test_a_dead_network_does_not_hold_the_caller_past_its_deadline(aio_loop: None) -> None:
    url = database_url()
    async with fresh_schema(url) as schema, proxied_database() as (proxied_url, proxy):
        repo = await open_postgres_repository(proxied_url, 2, schema, statement_timeout_s=HANG_GUARD_S * 2)
        try:
            assert await repo.claim_update(1, T0)  # an idle connection, through the proxy
            proxy.frozen.set()
            with trio.fail_after(HANG_GUARD_S), trio.move_on_after(0.3) as scope:
                await repo.claim_update(2, T0)
            assert scope.cancelled_caught
            assert repo.sessions_in_use == 0 and repo.pool.free_permits == 2
            assert repo.pool.idle_count == 0  # the stuck connection was thrown away
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(HANG_GUARD_S):
                await repo.aclose()
