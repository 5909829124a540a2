"""The Repository port on Postgres (psycopg's synchronous connections on worker threads).

Each method is one short transaction containing only database work, run whole on
a worker thread (:func:`adapters.postgres.tx.run_transaction`) under the session
limit of :class:`adapters.postgres.pool.SessionPool`. A transaction either commits
or, on any error or cancellation, rolls back and its connection is discarded.

Semantics shared with ``sim.fakes.repository.MemoryRepository`` (the contract suite in
``tests/contract/test_repository_contract.py`` holds both to them):
- ids are UUID strings, returned in canonical form; an id that is not a UUID is
  simply unknown to reads; timestamps are stored and returned in UTC (a naive
  ``now`` is taken as UTC);
- one clock for leases: a job's ``updated_at`` is its lease, and every write and
  comparison of it uses the database's clock (``now()``), never a caller's, because
  the processes comparing leases run on hosts whose clocks disagree (a worker running
  90 s ahead took over live jobs: scenarios/regressions/clock-skew-steals-lease.toml).
  A ``now`` passed in is only a record of when something happened (an upload, a
  claim, an audit line), compared later on that same caller's terms;
- ``upsert_user`` creates a user but keeps an existing user's language (changing it
  is ``set_user_language``'s job); ``record_upload`` does the same for its user;
- job steps only move forward; a finished job (done/failed) stays finished:
  ``start_attempt`` returns None and ``finish_job`` does nothing for it;
- ``save_result`` keeps the first payload saved for a job;
- uploads are listed and returned newest first (ties by id, descending);
- an update claim belongs to the repository's bot (``bot_id``; ``for_bot`` gives the
  same tables for another bot) and carries its time; ``prune_processed_updates``
  deletes claims older than a moment, oldest first, one bounded batch per call;
- retention: an upload with a job in flight (queued or running) is never expired;
  ``delete_expired_uploads`` re-checks that under the row locks it takes and skips
  rows locked by others; a blob due for deletion (``expire_blob_at``) keeps its row.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

import psycopg

from adapters.postgres import admin_queries
from adapters.postgres.errors import map_error
from adapters.postgres.migrations import Migration, apply_next, check_schema_name, load_migrations
from adapters.postgres.pool import SessionPool, connector
from adapters.postgres.rows import JOB_COLUMNS as _JOB_COLUMNS
from adapters.postgres.rows import UNFINISHED as _UNFINISHED
from adapters.postgres.rows import job_from_row as _job
from adapters.postgres.rows import utc as _utc
from adapters.postgres.threads import QueryInterrupter, run_interruptible
from adapters.postgres.tx import Row, Tx, TxBody, run_transaction
from bot.admin.records import (
    AdminStats,
    Broadcast,
    BroadcastStatus,
    JobDetail,
    Requeued,
    RequeueOutcome,
    SendOutcome,
)
from bot.domain import (
    AdminAction,
    Job,
    JobStatus,
    JobStep,
    NewUpload,
    StoredResult,
    Upload,
    UploadLoad,
    UploadQuota,
)
from bot.ports import PauseKind

T = TypeVar("T")

# How long a cancelled transaction may take to stop after the server is asked to
# cancel it, before its socket is shut down (see threads.QueryInterrupter).
_INTERRUPT_GRACE_S = 1.0


_UPLOAD_COLUMNS = "id, user_id, chat_id, file_name, file_size, created_at, blob_key"
_RESULT_COLUMNS = "job_id, upload_id, payload, created_at"


def _uuid(value: str) -> uuid.UUID:
    """For writes: a malformed id is the caller's bug."""
    return uuid.UUID(value)


def _uuid_or_none(value: str) -> uuid.UUID | None:
    """For reads: a malformed id names nothing."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def _upload(row: Row) -> Upload:
    return Upload(
        upload_id=str(row[0]),
        user_id=int(row[1]),
        chat_id=int(row[2]),
        file_name=str(row[3]),
        file_size=None if row[4] is None else int(row[4]),
        created_at=_utc(row[5]),
        blob_key=row[6],
    )


def _result(row: Row) -> StoredResult:
    return StoredResult(
        job_id=str(row[0]), upload_id=str(row[1]), payload=str(row[2]), created_at=_utc(row[3])
    )


# ---------------------------------------------------------------- transactions
# Each runs on a worker thread, inside run_transaction. Statements go through
# Tx.run one by one, so a failure between any two of them rolls all back.


async def _record_admin_action(tx: Tx, admin_id: int, action: str, detail: str, now: datetime) -> None:
    await tx.run(
        "INSERT INTO admin_audit (admin_id, action, detail, created_at) VALUES (%s, %s, %s, %s)",
        (admin_id, action, detail, now),
    )


async def _admin_actions(tx: Tx, limit: int) -> list[AdminAction]:
    rows = await tx.run(
        "SELECT admin_id, action, detail, created_at FROM admin_audit "
        "ORDER BY created_at DESC, id DESC LIMIT %s",
        (limit,),
    )
    return [AdminAction(int(r[0]), str(r[1]), str(r[2]), _utc(r[3])) for r in rows]


async def _claim(tx: Tx, bot_id: int, update_id: int, now: datetime) -> bool:
    row = await tx.one(
        "INSERT INTO processed_updates (bot_id, update_id, processed_at) VALUES (%s, %s, %s) "
        "ON CONFLICT DO NOTHING RETURNING update_id",
        (bot_id, update_id, now),
    )
    return row is not None


async def _claim_many(tx: Tx, bot_id: int, update_ids: list[int], now: datetime) -> set[int]:
    rows = await tx.run(
        "INSERT INTO processed_updates (bot_id, update_id, processed_at) "
        "SELECT %s, u, %s FROM unnest(%s::bigint[]) AS u ON CONFLICT DO NOTHING RETURNING update_id",
        (bot_id, now, update_ids),
    )
    return {int(r[0]) for r in rows}


async def _prune_processed_updates(tx: Tx, before: datetime, limit: int) -> int:
    # One bounded batch: a short transaction that locks only the rows it deletes.
    rows = await tx.run(
        "DELETE FROM processed_updates WHERE (bot_id, update_id) IN ("
        "  SELECT bot_id, update_id FROM processed_updates WHERE processed_at < %s"
        "  ORDER BY processed_at LIMIT %s FOR UPDATE SKIP LOCKED"
        ") RETURNING 1",
        (before, limit),
    )
    return len(rows)


async def _post_pause(tx: Tx, bot_id: int, kind: str, seconds: float) -> None:
    await tx.run(
        "INSERT INTO telegram_pauses (bot_id, kind, until) "
        "VALUES (%s, %s, now() + make_interval(secs => %s)) "
        "ON CONFLICT (bot_id, kind) DO UPDATE SET until = GREATEST(telegram_pauses.until, EXCLUDED.until)",
        (bot_id, kind, seconds),
    )


async def _pause_left(tx: Tx, bot_id: int, kind: str) -> float:
    row = await tx.one(
        "SELECT GREATEST(0, EXTRACT(EPOCH FROM until - now()))::float8 FROM telegram_pauses "
        "WHERE bot_id = %s AND kind = %s",
        (bot_id, kind),
    )
    return 0.0 if row is None else float(row[0])


async def _ping(tx: Tx) -> None:
    await tx.one("SELECT 1")


# One statement: a user who blocked the bot and comes back (/start) hears broadcasts again;
# a known user who did not is left unwritten, and their language is read from the snapshot.
_UPSERT_USER_SQL = """
WITH ins AS (
    INSERT INTO users (id, language) VALUES (%(user_id)s, %(language)s)
    ON CONFLICT (id) DO UPDATE SET blocked_at = NULL WHERE users.blocked_at IS NOT NULL
    RETURNING language
)
SELECT language FROM ins
UNION ALL
SELECT language FROM users WHERE id = %(user_id)s AND NOT EXISTS (SELECT 1 FROM ins)
"""


async def _upsert_user(tx: Tx, user_id: int, language: str) -> str:
    row = await tx.one(_UPSERT_USER_SQL, {"user_id": user_id, "language": language})
    assert row is not None  # inserted, updated or already there: one row
    return str(row[0])


async def _get_user_language(tx: Tx, user_id: int) -> str | None:
    row = await tx.one("SELECT language FROM users WHERE id = %s", (user_id,))
    return None if row is None else str(row[0])


async def _set_user_language(tx: Tx, user_id: int, language: str) -> None:
    await tx.run(
        "INSERT INTO users (id, language) VALUES (%s, %s) "
        "ON CONFLICT (id) DO UPDATE SET language = EXCLUDED.language",
        (user_id, language),
    )


# One statement (one round trip): the quota and the claim gate the rest, and the foreign
# keys are checked at the statement's end, when the user and upload rows exist. Every part
# sees the same snapshot, so the load is the one before this upload.
_RECORD_UPLOAD_SQL = """
WITH prior AS (
    SELECT count(*) FILTER (WHERE j.status = ANY(%(unfinished)s)) AS in_flight,
           count(*) FILTER (WHERE u.created_at >= %(since)s) AS recent
    FROM uploads u JOIN jobs j ON j.upload_id = u.id WHERE u.user_id = %(user_id)s
), taken AS (
    SELECT EXISTS (
        SELECT 1 FROM processed_updates WHERE bot_id = %(bot_id)s AND update_id = %(update_id)s
    ) AS taken
), claim AS (
    INSERT INTO processed_updates (bot_id, update_id, processed_at)
    SELECT %(bot_id)s, %(update_id)s, %(now)s FROM prior
    WHERE %(max_in_flight)s::integer IS NULL
       OR (prior.in_flight < %(max_in_flight)s AND prior.recent < %(max_recent)s)
    ON CONFLICT DO NOTHING RETURNING 1
), usr AS (
    INSERT INTO users (id, language, created_at)
    SELECT %(user_id)s, %(language)s, %(now)s FROM claim ON CONFLICT (id) DO NOTHING
), upl AS (
    INSERT INTO uploads (id, user_id, chat_id, file_id, file_unique_id, file_name, file_size, created_at)
    SELECT %(upload_id)s, %(user_id)s, %(chat_id)s, %(file_id)s, %(file_unique_id)s, %(file_name)s,
           %(file_size)s::bigint, %(now)s
    FROM claim RETURNING id
), job AS (
    INSERT INTO jobs (id, upload_id, user_id, chat_id, language, status, step, attempts,
                      created_at, updated_at)
    SELECT %(job_id)s, upl.id, %(user_id)s, %(chat_id)s, %(language)s, %(status)s, %(step)s, 0,
           %(now)s, now()
    FROM upl RETURNING id
)
SELECT prior.in_flight, prior.recent, taken.taken, EXISTS (SELECT 1 FROM job) FROM prior, taken
"""


async def _record_upload(
    tx: Tx,
    bot_id: int,
    new: NewUpload,
    upload_id: uuid.UUID,
    job_id: uuid.UUID,
    now: datetime,
    quota: UploadQuota | None,
) -> Job | UploadLoad | None:
    row = await tx.one(
        _RECORD_UPLOAD_SQL,
        {
            "bot_id": bot_id,
            "update_id": new.update_id,
            "now": now,
            "user_id": new.user_id,
            "language": new.language,
            "upload_id": upload_id,
            "chat_id": new.chat_id,
            "file_id": new.file_id,
            "file_unique_id": new.file_unique_id,
            "file_name": new.file_name,
            "file_size": new.file_size,
            "job_id": job_id,
            "status": JobStatus.QUEUED.value,
            "step": int(JobStep.RECORDED),
            "unfinished": list(_UNFINISHED),
            "since": _utc(quota.since) if quota is not None else now,
            "max_in_flight": quota.in_flight if quota is not None else None,
            "max_recent": quota.recent if quota is not None else None,
        },
    )
    assert row is not None  # the aggregate always gives its row
    in_flight, recent, taken, created = row
    if created:
        return Job(
            job_id=str(job_id),
            upload_id=str(upload_id),
            user_id=new.user_id,
            chat_id=new.chat_id,
            language=new.language,
            file_id=new.file_id,
            file_name=new.file_name,
            file_size=new.file_size,
            status=JobStatus.QUEUED,
            step=JobStep.RECORDED,
            attempts=0,
        )
    load = UploadLoad(in_flight=int(in_flight), recent=int(recent))
    if not taken and quota is not None and quota.refuses(load):
        return load
    return None  # claimed before, or by a try that committed meanwhile


async def _get_job(tx: Tx, job_id: uuid.UUID) -> Job | None:
    row = await tx.one(
        f"SELECT {_JOB_COLUMNS} FROM jobs j JOIN uploads u ON u.id = j.upload_id WHERE j.id = %s", (job_id,)
    )
    return None if row is None else _job(row)


async def _start_attempt(tx: Tx, job_id: uuid.UUID, lease_s: float) -> Job | None:
    row = await tx.one(
        "WITH j AS ("
        "  UPDATE jobs SET status = %s, attempts = attempts + 1, updated_at = now()"
        "  WHERE id = %s AND (status = %s"
        "    OR (status = %s AND updated_at <= now() - make_interval(secs => %s))) RETURNING *"
        f") SELECT {_JOB_COLUMNS} FROM j JOIN uploads u ON u.id = j.upload_id",
        (JobStatus.RUNNING.value, job_id, JobStatus.QUEUED.value, JobStatus.RUNNING.value, lease_s),
    )
    return None if row is None else _job(row)


async def _heartbeat(tx: Tx, job_ids: list[uuid.UUID]) -> None:
    await tx.run(
        "UPDATE jobs SET updated_at = GREATEST(updated_at, now()) WHERE id = ANY(%s) AND status = %s",
        (job_ids, JobStatus.RUNNING.value),
    )


async def _mark_stored(tx: Tx, job_id: uuid.UUID, blob_key: str) -> None:
    # Recorded even for a finished job: the blob exists and must stay deletable.
    # One statement (one round trip).
    await tx.run(
        "WITH j AS ("
        "  UPDATE jobs SET step = GREATEST(step, %s), updated_at = now() WHERE id = %s RETURNING upload_id"
        ") UPDATE uploads SET blob_key = %s FROM j WHERE uploads.id = j.upload_id",
        (int(JobStep.STORED), job_id, blob_key),
    )


async def _forget_blob(tx: Tx, upload_id: uuid.UUID) -> None:
    await tx.run("UPDATE uploads SET blob_key = NULL, blob_expires_at = NULL WHERE id = %s", (upload_id,))


async def _release_job(tx: Tx, job_id: uuid.UUID) -> None:
    await tx.run(
        "UPDATE jobs SET status = %s, updated_at = now() WHERE id = %s AND status = %s",
        (JobStatus.QUEUED.value, job_id, JobStatus.RUNNING.value),
    )


async def _mark_parts_sent(tx: Tx, job_id: uuid.UUID, parts_sent: int) -> None:
    await tx.run(
        "UPDATE jobs SET parts_sent = GREATEST(parts_sent, %s), updated_at = GREATEST(updated_at, now()) "
        "WHERE id = %s",
        (parts_sent, job_id),
    )


async def _save_result(tx: Tx, job_id: uuid.UUID, payload: str) -> None:
    # One statement (one round trip).
    await tx.run(
        "WITH j AS ("
        "  UPDATE jobs SET step = GREATEST(step, %s), updated_at = now() WHERE id = %s RETURNING upload_id"
        ") INSERT INTO results (job_id, upload_id, payload, created_at) "
        "SELECT %s, j.upload_id, %s, now() FROM j ON CONFLICT (job_id) DO NOTHING",
        (int(JobStep.ANALYSED), job_id, job_id, payload),
    )


async def _finish_job(
    tx: Tx, job_id: uuid.UUID, status: JobStatus, step: JobStep, error: str | None, parts_sent: int | None
) -> None:
    # GREATEST ignores a NULL: without parts_sent the count stays as it is.
    await tx.run(
        "UPDATE jobs SET status = %s, step = GREATEST(step, %s), error = %s, "
        "parts_sent = GREATEST(parts_sent, %s::integer), updated_at = now() "
        "WHERE id = %s AND status = ANY(%s)",
        (status.value, int(step), error, parts_sent, job_id, list(_UNFINISHED)),
    )


async def _get_result(tx: Tx, job_id: uuid.UUID) -> StoredResult | None:
    row = await tx.one(f"SELECT {_RESULT_COLUMNS} FROM results WHERE job_id = %s", (job_id,))
    return None if row is None else _result(row)


async def _get_result_for_upload(tx: Tx, upload_id: uuid.UUID) -> StoredResult | None:
    row = await tx.one(
        f"SELECT {_RESULT_COLUMNS} FROM results WHERE upload_id = %s "
        "ORDER BY created_at DESC, job_id DESC LIMIT 1",
        (upload_id,),
    )
    return None if row is None else _result(row)


async def _jobs_needing_attention(tx: Tx, idle_s: float, limit: int) -> list[Job]:
    rows = await tx.run(
        f"SELECT {_JOB_COLUMNS} FROM jobs j JOIN uploads u ON u.id = j.upload_id "
        "WHERE j.status = ANY(%s) AND j.updated_at <= now() - make_interval(secs => %s) "
        "ORDER BY j.updated_at, j.id LIMIT %s",
        (list(_UNFINISHED), idle_s, limit),
    )
    return [_job(r) for r in rows]


async def _list_uploads(tx: Tx, user_id: int, limit: int) -> list[Upload]:
    rows = await tx.run(
        f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE user_id = %s "
        "ORDER BY created_at DESC, id DESC LIMIT %s",
        (user_id, limit),
    )
    return [_upload(r) for r in rows]


async def _get_upload(tx: Tx, user_id: int, upload_id: uuid.UUID) -> Upload | None:
    row = await tx.one(
        f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE id = %s AND user_id = %s", (upload_id, user_id)
    )
    return None if row is None else _upload(row)


async def _delete_upload(tx: Tx, user_id: int, upload_id: uuid.UUID) -> Upload | None:
    # Its jobs and results go with it (ON DELETE CASCADE).
    row = await tx.one(
        f"DELETE FROM uploads WHERE id = %s AND user_id = %s RETURNING {_UPLOAD_COLUMNS}",
        (upload_id, user_id),
    )
    return None if row is None else _upload(row)


async def _delete_user_data(tx: Tx, user_id: int) -> list[Upload]:
    rows = await tx.run(f"DELETE FROM uploads WHERE user_id = %s RETURNING {_UPLOAD_COLUMNS}", (user_id,))
    await tx.run("DELETE FROM users WHERE id = %s", (user_id,))
    deleted = [_upload(r) for r in rows]
    deleted.sort(key=lambda u: (u.created_at, uuid.UUID(u.upload_id)), reverse=True)
    return deleted


async def _existing_upload_ids(tx: Tx, upload_ids: list[uuid.UUID]) -> set[str]:
    rows = await tx.run("SELECT id FROM uploads WHERE id = ANY(%s)", (upload_ids,))
    return {str(r[0]) for r in rows}


async def _uploads_with_blobs(tx: Tx, after: uuid.UUID | None, limit: int) -> list[Upload]:
    # Keyset paging on the primary key: each page is one short index range scan.
    if after is None:
        rows = await tx.run(
            f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE blob_key IS NOT NULL ORDER BY id LIMIT %s", (limit,)
        )
    else:
        rows = await tx.run(
            f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE blob_key IS NOT NULL AND id > %s "
            "ORDER BY id LIMIT %s",
            (after, limit),
        )
    return [_upload(r) for r in rows]


# Retention. "In flight" is a job queued or running: such an upload is never swept.
_NOTHING_IN_FLIGHT = "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.upload_id = u.id AND j.status = ANY(%s))"


async def _expired_uploads(tx: Tx, created_before: datetime, limit: int) -> list[Upload]:
    rows = await tx.run(
        f"SELECT {_UPLOAD_COLUMNS} FROM uploads u WHERE created_at < %s AND {_NOTHING_IN_FLIGHT} "
        "ORDER BY created_at, id LIMIT %s",
        (created_before, list(_UNFINISHED), limit),
    )
    return [_upload(r) for r in rows]


async def _delete_expired_uploads(tx: Tx, upload_ids: list[uuid.UUID], created_before: datetime) -> list[str]:
    # Locks only the rows it deletes, and skips rows another transaction holds (a user's
    # /delete, say): the sweep never queues behind anyone. Jobs and results cascade.
    rows = await tx.run(
        "DELETE FROM uploads WHERE id IN ("
        f"  SELECT u.id FROM uploads u WHERE u.id = ANY(%s) AND u.created_at < %s AND {_NOTHING_IN_FLIGHT}"
        "  FOR UPDATE SKIP LOCKED"
        ") RETURNING id",
        (upload_ids, created_before, list(_UNFINISHED)),
    )
    return sorted(str(r[0]) for r in rows)


async def _expire_blob_at(tx: Tx, upload_id: uuid.UUID, at: datetime) -> None:
    await tx.run(
        "UPDATE uploads SET blob_expires_at = %s WHERE id = %s AND blob_key IS NOT NULL", (at, upload_id)
    )


async def _blobs_due(tx: Tx, before: datetime, limit: int) -> list[Upload]:
    rows = await tx.run(
        f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE blob_expires_at < %s "
        "ORDER BY blob_expires_at, id LIMIT %s",
        (before, limit),
    )
    return [_upload(r) for r in rows]


# ---------------------------------------------------------------- the adapter


class PostgresRepository:
    """``bot.ports.Repository`` on Postgres. Build it with :func:`open_postgres_repository`."""

    def __init__(
        self,
        pool: SessionPool,
        *,
        schema: str | None = None,
        statement_timeout_ms: int = 10_000,
        bot_id: int = 0,
    ) -> None:
        self._pool = pool
        self._bot_id = bot_id  # update claims are this bot's (see claim_update)
        self._schema = None if schema is None else check_schema_name(schema)
        self._search_path = None if schema is None else f'"{schema}"'
        self._statement_timeout_ms = statement_timeout_ms

    # Observability of the session limiter (the simulator's MemoryRepository has the same).
    @property
    def session_limit(self) -> int:
        return self._pool.limit

    @property
    def sessions_in_use(self) -> int:
        return self._pool.sessions_in_use

    @property
    def max_sessions_in_use(self) -> int:
        return self._pool.max_sessions_in_use

    @property
    def pool(self) -> SessionPool:
        return self._pool

    @property
    def bot_id(self) -> int:
        return self._bot_id

    def for_bot(self, bot_id: int) -> PostgresRepository:
        """The same database and sessions, claiming updates for another bot."""
        return PostgresRepository(
            self._pool, schema=self._schema, statement_timeout_ms=self._statement_timeout_ms, bot_id=bot_id
        )

    async def _run(self, body: TxBody[T], *, pipelined: bool = True) -> T:
        try:
            async with self._pool.session() as session:
                interrupter = QueryInterrupter(session.conn, _INTERRUPT_GRACE_S)

                def transaction() -> T:
                    try:
                        return run_transaction(
                            session,
                            self._statement_timeout_ms,
                            self._search_path,
                            body,
                            interrupter.check,
                            pipelined=pipelined,
                        )
                    finally:
                        interrupter.finished.set()

                return await run_interruptible(transaction, interrupter)
        except psycopg.Error as exc:
            raise map_error(exc) from exc

    async def migrate(self) -> list[Migration]:
        """Apply pending migrations; the ones this call applied."""
        migrations = load_migrations()
        applied: list[Migration] = []
        while True:
            # Migration files hold several statements: the simple protocol, no pipeline.
            done = await self._run(
                functools.partial(apply_next, schema=self._schema, migrations=migrations), pipelined=False
            )
            if done is None:
                return applied
            applied.append(done)

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def ping(self) -> None:
        """Health check: one round trip through the session limiter."""
        await self._run(_ping)

    # ---- Repository port

    async def claim_update(self, update_id: int, now: datetime) -> bool:
        return await self._run(
            functools.partial(_claim, bot_id=self._bot_id, update_id=update_id, now=_utc(now))
        )

    async def claim_updates(self, update_ids: Sequence[int], now: datetime) -> set[int]:
        if not update_ids:
            return set()
        return await self._run(
            functools.partial(
                _claim_many, bot_id=self._bot_id, update_ids=list(dict.fromkeys(update_ids)), now=_utc(now)
            )
        )

    async def prune_processed_updates(self, before: datetime, limit: int) -> int:
        if limit <= 0:
            return 0
        return await self._run(functools.partial(_prune_processed_updates, before=_utc(before), limit=limit))

    async def post_pause(self, kind: PauseKind, seconds: float) -> None:
        if seconds > 0:
            await self._run(functools.partial(_post_pause, bot_id=self._bot_id, kind=kind, seconds=seconds))

    async def pause_left(self, kind: PauseKind) -> float:
        return await self._run(functools.partial(_pause_left, bot_id=self._bot_id, kind=kind))

    async def record_admin_action(self, admin_id: int, action: str, detail: str, now: datetime) -> None:
        await self._run(
            functools.partial(
                _record_admin_action, admin_id=admin_id, action=action, detail=detail, now=_utc(now)
            )
        )

    async def admin_actions(self, limit: int) -> list[AdminAction]:
        if limit <= 0:
            return []
        return await self._run(functools.partial(_admin_actions, limit=limit))

    async def upsert_user(self, user_id: int, language: str) -> str:
        return await self._run(functools.partial(_upsert_user, user_id=user_id, language=language))

    async def get_user_language(self, user_id: int) -> str | None:
        return await self._run(functools.partial(_get_user_language, user_id=user_id))

    async def set_user_language(self, user_id: int, language: str) -> None:
        await self._run(functools.partial(_set_user_language, user_id=user_id, language=language))

    async def record_upload(
        self, new: NewUpload, upload_id: str, job_id: str, now: datetime, quota: UploadQuota | None = None
    ) -> Job | UploadLoad | None:
        return await self._run(
            functools.partial(
                _record_upload,
                bot_id=self._bot_id,
                new=new,
                upload_id=_uuid(upload_id),
                job_id=_uuid(job_id),
                now=_utc(now),
                quota=quota,
            )
        )

    async def get_job(self, job_id: str) -> Job | None:
        key = _uuid_or_none(job_id)
        if key is None:
            return None
        return await self._run(functools.partial(_get_job, job_id=key))

    async def start_attempt(self, job_id: str, lease_s: float) -> Job | None:
        key = _uuid_or_none(job_id)
        if key is None:
            return None
        return await self._run(functools.partial(_start_attempt, job_id=key, lease_s=lease_s))

    async def heartbeat(self, job_ids: Sequence[str]) -> None:
        keys = [key for key in map(_uuid_or_none, job_ids) if key is not None]
        if keys:
            await self._run(functools.partial(_heartbeat, job_ids=keys))

    async def mark_stored(self, job_id: str, blob_key: str) -> None:
        key = _uuid_or_none(job_id)
        if key is not None:
            await self._run(functools.partial(_mark_stored, job_id=key, blob_key=blob_key))

    async def forget_blob(self, upload_id: str) -> None:
        key = _uuid_or_none(upload_id)
        if key is not None:
            await self._run(functools.partial(_forget_blob, upload_id=key))

    async def release_job(self, job_id: str) -> None:
        key = _uuid_or_none(job_id)
        if key is not None:
            await self._run(functools.partial(_release_job, job_id=key))

    async def mark_parts_sent(self, job_id: str, parts_sent: int) -> None:
        key = _uuid_or_none(job_id)
        if key is not None:
            await self._run(functools.partial(_mark_parts_sent, job_id=key, parts_sent=parts_sent))

    async def save_result(self, job_id: str, payload: str) -> None:
        key = _uuid_or_none(job_id)
        if key is not None:
            await self._run(functools.partial(_save_result, job_id=key, payload=payload))

    async def finish_job(
        self, job_id: str, status: JobStatus, step: JobStep, error: str | None, parts_sent: int | None = None
    ) -> None:
        key = _uuid_or_none(job_id)
        if key is not None:
            await self._run(
                functools.partial(
                    _finish_job, job_id=key, status=status, step=step, error=error, parts_sent=parts_sent
                )
            )

    async def get_result(self, job_id: str) -> StoredResult | None:
        key = _uuid_or_none(job_id)
        if key is None:
            return None
        return await self._run(functools.partial(_get_result, job_id=key))

    async def get_result_for_upload(self, upload_id: str) -> StoredResult | None:
        key = _uuid_or_none(upload_id)
        if key is None:
            return None
        return await self._run(functools.partial(_get_result_for_upload, upload_id=key))

    async def jobs_needing_attention(self, idle_s: float, limit: int) -> list[Job]:
        if limit <= 0:
            return []
        return await self._run(functools.partial(_jobs_needing_attention, idle_s=idle_s, limit=limit))

    async def list_uploads(self, user_id: int, limit: int) -> list[Upload]:
        if limit <= 0:
            return []
        return await self._run(functools.partial(_list_uploads, user_id=user_id, limit=limit))

    async def get_upload(self, user_id: int, upload_id: str) -> Upload | None:
        key = _uuid_or_none(upload_id)
        if key is None:
            return None
        return await self._run(functools.partial(_get_upload, user_id=user_id, upload_id=key))

    async def delete_upload(self, user_id: int, upload_id: str) -> Upload | None:
        key = _uuid_or_none(upload_id)
        if key is None:
            return None
        return await self._run(functools.partial(_delete_upload, user_id=user_id, upload_id=key))

    async def delete_user_data(self, user_id: int) -> list[Upload]:
        return await self._run(functools.partial(_delete_user_data, user_id=user_id))

    async def existing_upload_ids(self, upload_ids: list[str]) -> set[str]:
        keys = list({k for k in map(_uuid_or_none, upload_ids) if k is not None})
        if not keys:
            return set()
        return await self._run(functools.partial(_existing_upload_ids, upload_ids=keys))

    async def uploads_with_blobs(self, after_upload_id: str | None, limit: int) -> list[Upload]:
        if limit <= 0:
            return []
        after = None if after_upload_id is None else _uuid(after_upload_id)
        return await self._run(functools.partial(_uploads_with_blobs, after=after, limit=limit))

    # ---- admin tools (bot.admin; transactions in adapters.postgres.admin_queries)

    async def admin_stats(self, now: datetime) -> AdminStats:
        return await self._run(functools.partial(admin_queries.admin_stats, now=_utc(now)))

    async def job_detail(self, job_id: str) -> JobDetail | None:
        key = _uuid_or_none(job_id)
        if key is None:
            return None
        return await self._run(functools.partial(admin_queries.job_detail, job_id=key))

    async def requeue_job(self, job_id: str, lease_s: float) -> Requeued:
        key = _uuid_or_none(job_id)
        if key is None:
            return Requeued(RequeueOutcome.UNKNOWN)
        return await self._run(functools.partial(admin_queries.requeue_job, job_id=key, lease_s=lease_s))

    async def ban_user(self, user_id: int, admin_id: int, now: datetime) -> bool:
        return await self._run(
            functools.partial(admin_queries.ban_user, user_id=user_id, admin_id=admin_id, now=_utc(now))
        )

    async def unban_user(self, user_id: int) -> bool:
        return await self._run(functools.partial(admin_queries.unban_user, user_id=user_id))

    async def banned_user_ids(self) -> frozenset[int]:
        return await self._run(admin_queries.banned_user_ids)

    async def start_broadcast(
        self,
        admin_id: int,
        chat_id: int,
        language: str,
        text: str,
        progress_message_id: int | None,
        now: datetime,
    ) -> Broadcast | None:
        return await self._run(
            functools.partial(
                admin_queries.start_broadcast,
                admin_id=admin_id,
                chat_id=chat_id,
                language=language,
                text=text,
                progress_message_id=progress_message_id,
                now=_utc(now),
            )
        )

    async def current_broadcast(self) -> Broadcast | None:
        return await self._run(admin_queries.current_broadcast)

    async def broadcast_recipients(self, after_user_id: int, limit: int) -> list[int]:
        if limit <= 0:
            return []
        return await self._run(
            functools.partial(admin_queries.broadcast_recipients, after_user_id=after_user_id, limit=limit)
        )

    async def record_broadcast_send(
        self, broadcast_id: int, user_id: int, outcome: SendOutcome, now: datetime
    ) -> Broadcast | None:
        return await self._run(
            functools.partial(
                admin_queries.record_broadcast_send,
                broadcast_id=broadcast_id,
                user_id=user_id,
                outcome=outcome,
                now=_utc(now),
            )
        )

    async def end_broadcast(
        self, broadcast_id: int, status: BroadcastStatus, now: datetime
    ) -> Broadcast | None:
        return await self._run(
            functools.partial(
                admin_queries.end_broadcast, broadcast_id=broadcast_id, status=status, now=_utc(now)
            )
        )

    async def expired_uploads(self, created_before: datetime, limit: int) -> list[Upload]:
        if limit <= 0:
            return []
        return await self._run(
            functools.partial(_expired_uploads, created_before=_utc(created_before), limit=limit)
        )

    async def delete_expired_uploads(self, upload_ids: list[str], created_before: datetime) -> list[str]:
        keys = list({k for k in map(_uuid_or_none, upload_ids) if k is not None})
        if not keys:
            return []
        return await self._run(
            functools.partial(_delete_expired_uploads, upload_ids=keys, created_before=_utc(created_before))
        )

    async def expire_blob_at(self, upload_id: str, at: datetime) -> None:
        key = _uuid_or_none(upload_id)
        if key is not None:
            await self._run(functools.partial(_expire_blob_at, upload_id=key, at=_utc(at)))

    async def blobs_due(self, before: datetime, limit: int) -> list[Upload]:
        if limit <= 0:
            return []
        return await self._run(functools.partial(_blobs_due, before=_utc(before), limit=limit))


async def open_postgres_repository(
    url: str,
    session_limit: int = 4,
    schema: str | None = None,
    *,
    connect_timeout_s: int = 5,
    statement_timeout_s: float = 10.0,
    application_name: str = "csvbot",
    max_idle_s: float = 60.0,
    bot_id: int = 0,
) -> PostgresRepository:
    """Open the repository and bring the schema up to date.

    Runs its sessions on worker threads (no asyncio loop needed); close with ``aclose()``.
    ``schema`` puts every table in that schema (tests isolate themselves so);
    ``bot_id`` is the bot whose updates it claims (the number before the token's colon)."""
    statement_timeout_ms = max(1, round(statement_timeout_s * 1000))
    connect = connector(
        url,
        connect_timeout_s=connect_timeout_s,
        statement_timeout_ms=statement_timeout_ms,
        application_name=application_name,
    )
    pool = SessionPool(connect, session_limit, max_idle_s=max_idle_s)
    repo = PostgresRepository(pool, schema=schema, statement_timeout_ms=statement_timeout_ms, bot_id=bot_id)
    try:
        await repo.migrate()
    except BaseException:
        await repo.aclose()
        raise
    return repo


__all__ = ["PostgresRepository", "open_postgres_repository"]
