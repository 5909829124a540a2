"""The admin tools' transactions (bot.admin), beside the repository's own.

Each runs on a session's worker thread inside :func:`adapters.postgres.tx.run_transaction`,
like the functions in :mod:`adapters.postgres.repository`; the adapter's methods
at the end of ``PostgresRepository`` call them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from adapters.postgres.rows import JOB_COLUMNS as _JOB_COLUMNS
from adapters.postgres.rows import UNFINISHED as _UNFINISHED
from adapters.postgres.rows import job_from_row as _job
from adapters.postgres.rows import utc as _utc
from adapters.postgres.tx import Row, Tx
from bot.admin.records import (
    AdminStats,
    Broadcast,
    BroadcastStatus,
    JobDetail,
    Requeued,
    RequeueOutcome,
    SendOutcome,
)
from bot.domain import JobStatus, JobStep

_BROADCAST_COLUMNS = (
    "id, admin_id, chat_id, language, text, status, cursor, total, sent, blocked, failed, "
    "progress_message_id, created_at, updated_at"
)
# Users a broadcast goes to: not blocked, not banned.
_RECIPIENT = "u.blocked_at IS NULL AND NOT EXISTS (SELECT 1 FROM banned_users b WHERE b.user_id = u.id)"


def _broadcast(row: Row) -> Broadcast:
    return Broadcast(
        broadcast_id=int(row[0]),
        admin_id=int(row[1]),
        chat_id=int(row[2]),
        language=str(row[3]),
        text=str(row[4]),
        status=BroadcastStatus(row[5]),
        cursor=int(row[6]),
        total=int(row[7]),
        sent=int(row[8]),
        blocked=int(row[9]),
        failed=int(row[10]),
        progress_message_id=None if row[11] is None else int(row[11]),
        created_at=_utc(row[12]),
        updated_at=_utc(row[13]),
    )


async def admin_stats(tx: Tx, now: datetime) -> AdminStats:
    hour, day, week = now - timedelta(hours=1), now - timedelta(days=1), now - timedelta(days=7)
    row = await tx.one(
        "SELECT (SELECT count(*) FROM users),"
        " (SELECT count(DISTINCT user_id) FROM uploads WHERE created_at >= %s),"
        " (SELECT count(DISTINCT user_id) FROM uploads WHERE created_at >= %s),"
        " (SELECT count(*) FROM uploads WHERE created_at >= %s),"
        " (SELECT count(*) FROM uploads WHERE created_at >= %s),"
        " (SELECT count(*) FROM jobs WHERE status = ANY(%s)),"
        " (SELECT min(created_at) FROM jobs WHERE status = ANY(%s))",
        (day, week, hour, day, list(_UNFINISHED), list(_UNFINISHED)),
    )
    assert row is not None  # scalar subqueries always give one row
    reasons = await tx.run(
        "SELECT coalesce(error, ''), count(*) FILTER (WHERE updated_at >= %s), count(*) FROM jobs "
        "WHERE status = %s AND updated_at >= %s GROUP BY 1 ORDER BY 3 DESC, 1",
        (hour, JobStatus.FAILED.value, day),
    )
    return AdminStats(
        users_total=int(row[0]),
        users_active_day=int(row[1]),
        users_active_week=int(row[2]),
        uploads_hour=int(row[3]),
        uploads_day=int(row[4]),
        failed_hour={str(r[0]): int(r[1]) for r in reasons if int(r[1]) > 0},
        failed_day={str(r[0]): int(r[2]) for r in reasons},
        open_jobs=int(row[5]),
        oldest_open_job_at=None if row[6] is None else _utc(row[6]),
    )


async def job_detail(tx: Tx, job_id: uuid.UUID) -> JobDetail | None:
    row = await tx.one(
        f"SELECT {_JOB_COLUMNS}, j.created_at, j.updated_at FROM jobs j "
        "JOIN uploads u ON u.id = j.upload_id WHERE j.id = %s",
        (job_id,),
    )
    if row is None:
        return None
    return JobDetail(_job(row), _utc(row[14]), _utc(row[15]))


async def requeue_job(tx: Tx, job_id: uuid.UUID, lease_s: float) -> Requeued:
    # The lease is judged on the database's clock, never the admin's (see repository.py).
    row = await tx.one(
        "SELECT status, step, updated_at > now() - make_interval(secs => %s) FROM jobs "
        "WHERE id = %s FOR UPDATE",
        (lease_s, job_id),
    )
    if row is None:
        return Requeued(RequeueOutcome.UNKNOWN)
    status, step, lease_live = JobStatus(row[0]), JobStep(row[1]), bool(row[2])
    if status == JobStatus.DONE or step >= JobStep.DELIVERED:
        return Requeued(RequeueOutcome.ANSWERED)
    if status == JobStatus.RUNNING and lease_live:
        return Requeued(RequeueOutcome.RUNNING)
    back = await tx.one(
        "WITH j AS (UPDATE jobs SET status = %s, attempts = 0, error = NULL, updated_at = now() "
        "WHERE id = %s RETURNING *) "
        f"SELECT {_JOB_COLUMNS} FROM j JOIN uploads u ON u.id = j.upload_id",
        (JobStatus.QUEUED.value, job_id),
    )
    assert back is not None  # the row is locked since the SELECT
    return Requeued(RequeueOutcome.REQUEUED, _job(back))


async def ban_user(tx: Tx, user_id: int, admin_id: int, now: datetime) -> bool:
    row = await tx.one(
        "INSERT INTO banned_users (user_id, banned_by, created_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
        (user_id, admin_id, now),
    )
    return row is not None


async def unban_user(tx: Tx, user_id: int) -> bool:
    return (
        await tx.one("DELETE FROM banned_users WHERE user_id = %s RETURNING user_id", (user_id,)) is not None
    )


async def banned_user_ids(tx: Tx) -> frozenset[int]:
    return frozenset(int(r[0]) for r in await tx.run("SELECT user_id FROM banned_users"))


async def start_broadcast(
    tx: Tx,
    admin_id: int,
    chat_id: int,
    language: str,
    text: str,
    progress_message_id: int | None,
    now: datetime,
) -> Broadcast | None:
    # The unique index on running broadcasts turns a second one into no row.
    row = await tx.one(
        "INSERT INTO broadcasts (admin_id, chat_id, language, text, status, total, progress_message_id, "
        "created_at, updated_at) "
        f"SELECT %s, %s, %s, %s, %s, (SELECT count(*) FROM users u WHERE u.id > 0 AND {_RECIPIENT}), "
        "%s, %s, %s "
        f"ON CONFLICT DO NOTHING RETURNING {_BROADCAST_COLUMNS}",
        (admin_id, chat_id, language, text, BroadcastStatus.RUNNING.value, progress_message_id, now, now),
    )
    return None if row is None else _broadcast(row)


async def current_broadcast(tx: Tx) -> Broadcast | None:
    row = await tx.one(f"SELECT {_BROADCAST_COLUMNS} FROM broadcasts ORDER BY id DESC LIMIT 1")
    return None if row is None else _broadcast(row)


async def broadcast_recipients(tx: Tx, after_user_id: int, limit: int) -> list[int]:
    rows = await tx.run(
        f"SELECT u.id FROM users u WHERE u.id > %s AND {_RECIPIENT} ORDER BY u.id LIMIT %s",
        (after_user_id, limit),
    )
    return [int(r[0]) for r in rows]


async def record_broadcast_send(
    tx: Tx, broadcast_id: int, user_id: int, outcome: SendOutcome, now: datetime
) -> Broadcast | None:
    moved = await tx.one(
        "UPDATE broadcasts SET cursor = %s, sent = sent + %s, blocked = blocked + %s, failed = failed + %s, "
        "updated_at = %s WHERE id = %s AND cursor < %s RETURNING id",
        (
            user_id,
            int(outcome == SendOutcome.SENT),
            int(outcome == SendOutcome.BLOCKED),
            int(outcome == SendOutcome.FAILED),
            now,
            broadcast_id,
            user_id,
        ),
    )
    if moved is not None and outcome == SendOutcome.BLOCKED:
        await tx.run("UPDATE users SET blocked_at = %s WHERE id = %s", (now, user_id))
    row = await tx.one(f"SELECT {_BROADCAST_COLUMNS} FROM broadcasts WHERE id = %s", (broadcast_id,))
    return None if row is None else _broadcast(row)


async def end_broadcast(
    tx: Tx, broadcast_id: int, status: BroadcastStatus, now: datetime
) -> Broadcast | None:
    await tx.run(
        "UPDATE broadcasts SET status = %s, updated_at = %s WHERE id = %s AND status = %s",
        (status.value, now, broadcast_id, BroadcastStatus.RUNNING.value),
    )
    row = await tx.one(f"SELECT {_BROADCAST_COLUMNS} FROM broadcasts WHERE id = %s", (broadcast_id,))
    return None if row is None else _broadcast(row)
