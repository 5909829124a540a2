"""The repository's operations on the real Postgres, direct and through pgbouncer.

Every method the bot calls per update or per job runs through the production adapter
(``PostgresRepository``: the session pool, its worker threads, psycopg), one
call at a time, in the order an upload lives through them. Rounds alternate between
the two routes so a busy spell on the shared machine hits both alike. Round trips
are counted on the wire by a relay (bench/calibrate/relay.py), once per method.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import trio

from adapters.postgres.pool import connector
from adapters.postgres.repository import PostgresRepository, open_postgres_repository
from adapters.postgres.tx import Tx
from bot.admin.records import BroadcastStatus, SendOutcome
from bot.domain import JobStatus, JobStep, NewUpload, UploadQuota

from .relay import TurnCounter, serve_relay
from .stats import Samples, percentile

Call = Callable[[], Awaitable[Any]]
PAYLOAD = '{"columns": [' + ", ".join(f'{{"name": "c{i}", "kind": "number"}}' for i in range(120)) + "]}"


class Lifecycle:
    """One user's upload, as the bot and a worker drive it, method by method."""

    def __init__(self, repo: PostgresRepository, n: int) -> None:
        self.repo = repo
        self.user = 9_000_000 + n
        self.update = 9_000_000 + n
        self.upload = str(uuid.uuid4())
        self.job = str(uuid.uuid4())
        self.now = datetime.now(UTC)
        self.broadcast: int | None = None

    def calls(self) -> list[tuple[str, Call]]:
        r, now, job, upload = self.repo, self.now, self.job, self.upload
        new = NewUpload(
            self.update + 1, self.user, self.user, "en", f"f{self.user}", f"u{self.user}", "a.csv", 20480
        )
        long_ago = now - timedelta(days=30)
        quota = UploadQuota(in_flight=10, recent=30, since=now - timedelta(hours=1))
        return [
            ("claim_update", lambda: r.claim_update(self.update, now)),
            ("upsert_user", lambda: r.upsert_user(self.user, "en")),
            ("get_user_language", lambda: r.get_user_language(self.user)),
            ("set_user_language", lambda: r.set_user_language(self.user, "ru")),
            ("record_upload", lambda: r.record_upload(new, upload, job, now, quota)),
            ("get_job", lambda: r.get_job(job)),
            ("start_attempt", lambda: r.start_attempt(job, 60.0)),
            ("heartbeat", lambda: r.heartbeat([job])),
            ("mark_stored", lambda: r.mark_stored(job, f"blobs/{upload}")),
            ("save_result", lambda: r.save_result(job, PAYLOAD)),
            ("get_result", lambda: r.get_result(job)),
            ("mark_parts_sent", lambda: r.mark_parts_sent(job, 1)),
            ("finish_job", lambda: r.finish_job(job, JobStatus.DONE, JobStep.DELIVERED, None)),
            ("get_result_for_upload", lambda: r.get_result_for_upload(upload)),
            ("list_uploads", lambda: r.list_uploads(self.user, 5)),
            ("get_upload", lambda: r.get_upload(self.user, upload)),
            ("release_job", lambda: r.release_job(job)),
            ("forget_blob", lambda: r.forget_blob(upload)),
            ("jobs_needing_attention", lambda: r.jobs_needing_attention(30 * 86400.0, 100)),
            ("existing_upload_ids", lambda: r.existing_upload_ids([upload])),
            ("prune_processed_updates", lambda: r.prune_processed_updates(long_ago, 100)),
            ("uploads_with_blobs", lambda: r.uploads_with_blobs(None, 10)),
            ("record_admin_action", lambda: r.record_admin_action(1, "calibrate", "one row", now)),
            ("admin_actions", lambda: r.admin_actions(10)),
            ("admin_stats", lambda: r.admin_stats(now)),
            ("job_detail", lambda: r.job_detail(job)),
            ("requeue_job", lambda: r.requeue_job(job, 60.0)),
            ("ban_user", lambda: r.ban_user(self.user, 1, now)),
            ("banned_user_ids", lambda: r.banned_user_ids()),
            ("unban_user", lambda: r.unban_user(self.user)),
            ("start_broadcast", lambda: self.start_broadcast(now)),
            ("current_broadcast", lambda: r.current_broadcast()),
            ("broadcast_recipients", lambda: r.broadcast_recipients(self.user - 1, 10)),
            ("record_broadcast_send", lambda: self.broadcast_step(now)),
            ("end_broadcast", lambda: self.broadcast_end(now)),
            ("expire_blob_at", lambda: r.expire_blob_at(upload, long_ago)),
            ("blobs_due", lambda: r.blobs_due(now, 10)),
            ("expired_uploads", lambda: r.expired_uploads(long_ago, 10)),
            ("delete_expired_uploads", lambda: r.delete_expired_uploads([upload], long_ago)),
            ("delete_upload", lambda: r.delete_upload(self.user, upload)),
            ("delete_user_data", lambda: r.delete_user_data(self.user)),
            ("post_pause", lambda: r.post_pause("send", 0.5)),
            ("pause_left", lambda: r.pause_left("send")),
        ]

    # One broadcast per lifecycle, started and ended by it (only one may run at a time).
    async def start_broadcast(self, now: datetime) -> None:
        started = await self.repo.start_broadcast(1, self.user, "en", "calibration", None, now)
        self.broadcast = None if started is None else started.broadcast_id

    async def broadcast_step(self, now: datetime) -> None:
        if self.broadcast is not None:
            await self.repo.record_broadcast_send(self.broadcast, self.user, SendOutcome.SENT, now)

    async def broadcast_end(self, now: datetime) -> None:
        if self.broadcast is not None:
            await self.repo.end_broadcast(self.broadcast, BroadcastStatus.DONE, now)


@asynccontextmanager
async def opened(url: str, schema: str, session_limit: int = 1) -> AsyncIterator[PostgresRepository]:
    repo = await open_postgres_repository(url, session_limit, schema)
    try:
        yield repo
    finally:
        await repo.aclose()


WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b|\b(UPDATE|INSERT INTO|DELETE FROM)\b", re.IGNORECASE)


@contextlib.contextmanager
def statements_seen() -> Iterator[list[str]]:
    """The text of every statement run through ``Tx.run`` (the adapter's one funnel)."""
    seen: list[str] = []
    original = Tx.run

    async def run(self: Tx, query: str, params: Any = None) -> Any:
        seen.append(query)
        return await original(self, query, params)

    Tx.run = run  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Tx.run = original  # type: ignore[method-assign]


async def count_round_trips(
    database_url: str, schema: str, rounds: int = 3
) -> tuple[dict[str, int], set[str]]:
    """Round trips per method, on the wire (the median over ``rounds`` lifecycles), and
    the methods whose transaction writes (a commit that must reach the disk)."""
    parts = urlsplit(database_url)
    counter = TurnCounter()
    seen: dict[str, list[int]] = {}
    writers: set[str] = set()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_relay, parts.hostname or "127.0.0.1", parts.port or 5432, counter)
        relayed = parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{port}").geturl()
        async with opened(relayed, schema) as repo:
            await repo.ping()  # the connection is open and idle in the pool
            for n in range(rounds):
                for name, call in Lifecycle(repo, 500_000 + n).calls():
                    before = counter.turns
                    with statements_seen() as statements:
                        await call()
                    seen.setdefault(name, []).append(counter.turns - before)
                    if any(WRITES.search(q) for q in statements):
                        writers.add(name)
            before = counter.turns
            await repo.ping()
            seen["ping"] = [counter.turns - before]
        nursery.cancel_scope.cancel()
    return {name: int(statistics.median(turns)) for name, turns in seen.items()}, writers


async def time_operations(routes: dict[str, str], schema: str, rounds: int) -> dict[str, dict[str, Samples]]:
    """Per route, per method: wall and client CPU of each call, rounds interleaved."""
    samples: dict[str, dict[str, Samples]] = {route: {} for route in routes}
    async with contextlib.AsyncExitStack() as stack:
        repos = {route: await stack.enter_async_context(opened(url, schema)) for route, url in routes.items()}
        for repo in repos.values():
            for n in range(3):  # warm-up: imports, plans, the pool's connection
                for _, call in Lifecycle(repo, 800_000 + n).calls():
                    await call()
        for n in range(rounds):
            for index, (route, repo) in enumerate(repos.items()):
                for name, call in Lifecycle(repo, 1_000_000 * (index + 1) + n).calls():
                    await samples[route].setdefault(name, Samples()).time(call)
    return samples


async def time_sessions(routes: dict[str, str], schema: str, count: int) -> dict[str, dict[str, Any]]:
    """A session taken and given back with nothing run in it (the uncontended
    acquisition), and a fresh connection opened and closed (connection setup)."""
    out: dict[str, dict[str, Any]] = {}
    for route, url in routes.items():
        acquire, connect = Samples(), Samples()
        async with opened(url, schema) as repo:
            await repo.ping()

            async def take() -> None:
                async with repo.pool.session():
                    pass

            for _ in range(count):
                await acquire.time(take)
        opener = connector(url)
        for _ in range(max(10, count // 10)):
            conn = await connect.time(partial(trio.to_thread.run_sync, opener))
            await trio.to_thread.run_sync(conn.close)
        out[route] = {"acquire": acquire.summary(), "connect": connect.summary()}
    return out


async def contended(url: str, schema: str, *, limit: int, clients: int, duration_s: float) -> dict[str, Any]:
    """``clients`` tasks claiming updates back to back on ``limit`` sessions: the
    wait for a session, the transactions per second, the time a session is held."""
    held = Samples()
    async with opened(url, schema, limit) as repo:
        for _ in range(limit):
            await repo.ping()
        pool = repo.pool
        done = 0
        start = trio.current_time()
        checkouts0, waits0 = pool.checkouts, len(pool.waits_s)

        async def client(k: int) -> None:
            nonlocal done
            n = 0
            while trio.current_time() - start < duration_s:
                n += 1
                update = 50_000_000 + k * 1_000_000 + n
                await held.time(partial(repo.claim_update, update, datetime.now(UTC)))
                done += 1

        async with trio.open_nursery() as nursery:
            for k in range(clients):
                nursery.start_soon(client, k)
        elapsed = trio.current_time() - start
        waits = list(pool.waits_s)[waits0:]
        checkouts = pool.checkouts - checkouts0
    return {
        "session_limit": limit,
        "clients": clients,
        "transactions_per_s": round(done / elapsed, 1),
        "waited_share": round(len(waits) / max(1, checkouts), 3),
        "wait_p50_s": round(percentile(waits, 50), 6) if waits else 0.0,
        "wait_p95_s": round(percentile(waits, 95), 6) if waits else 0.0,
        "call_p50_s": round(percentile(held.wall_s, 50), 6),
        "call_p95_s": round(percentile(held.wall_s, 95), 6),
    }
