"""The Repository port in memory, for the simulator and fast tests.

Same semantics as ``adapters.postgres.PostgresRepository`` (the shared contract
suite runs both): see that module's docstring for the rules on ids, timestamps,
step monotonicity and finished jobs. Deterministic: no wall clock (timestamps come
in as arguments, or for leases from ``clock``), no randomness, dictionaries iterated
in insertion order only.

Leases (a job's ``updated_at``) are stamped and judged on ``clock``, the database's
own: by default the simulated world's true time, which no process's ``clock_skew``
moves, as Postgres' ``now()`` is one clock for every worker host.

Sessions: with ``session_limit`` set, at most that many operations run at once and
the rest queue on a FIFO ``trio.Semaphore``, as on the real pool. ``in_session``
(an async callable taking the method name) runs while the session is held: the
simulator sleeps there to model query time, so pool exhaustion shows up as it would
in production, or raises there to model a failed transaction. Every change is
applied synchronously after ``in_session`` returns, so a cancellation or an error
leaves nothing half-written, like a rolled-back transaction. ``on_release`` hears
how each session that reached ``in_session`` ended (clean or not), so a model of
the connection pool can discard a connection whose transaction failed.
"""

from __future__ import annotations

import copy
import dataclasses
import heapq
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import trio

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
from bot.errors import PortError
from bot.ports import PauseKind
from sim.fakes.clock import database_now
from sim.simulator.kernel.quiet import sim_acquire, sim_checkpoint

InSession = Callable[[str], Awaitable[None]]
OnRelease = Callable[[bool], None]
DatabaseClock = Callable[[], datetime]

_UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


@dataclass(slots=True)
class _UploadRow:
    id: uuid.UUID
    user_id: int
    chat_id: int
    file_id: str
    file_unique_id: str
    file_name: str
    file_size: int | None
    created_at: datetime
    blob_key: str | None = None
    blob_expires_at: datetime | None = None

    def public(self) -> Upload:
        return Upload(
            upload_id=str(self.id),
            user_id=self.user_id,
            chat_id=self.chat_id,
            file_name=self.file_name,
            file_size=self.file_size,
            created_at=self.created_at,
            blob_key=self.blob_key,
        )


@dataclass(slots=True)
class _JobRow:
    id: uuid.UUID
    upload_id: uuid.UUID
    user_id: int
    chat_id: int
    language: str
    status: JobStatus
    step: JobStep
    attempts: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    parts_sent: int = 0


@dataclass(frozen=True, slots=True)
class _ResultRow:
    job_id: uuid.UUID
    upload_id: uuid.UUID
    payload: str
    created_at: datetime

    def public(self) -> StoredResult:
        return StoredResult(
            job_id=str(self.job_id),
            upload_id=str(self.upload_id),
            payload=self.payload,
            created_at=self.created_at,
        )


class _Session:
    """``async with repo._session(method)``: one database session for one operation (a
    class rather than an asynccontextmanager: every simulated query pays for it)."""

    __slots__ = ("_method", "_repo")

    def __init__(self, repo: MemoryRepository, method: str) -> None:
        self._repo, self._method = repo, method

    async def __aenter__(self) -> None:
        await self._repo._enter_session(self._method)

    async def __aexit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self._repo._leave_session(clean=exc_type is None)


class MemoryRepository:
    """``bot.ports.Repository`` in memory."""

    def __init__(
        self,
        session_limit: int | None = None,
        *,
        in_session: InSession | None = None,
        on_release: OnRelease | None = None,
        bot_id: int = 0,
        clock: DatabaseClock = database_now,
    ) -> None:
        if session_limit is not None and session_limit < 1:
            raise ValueError("session limit must be at least 1")
        self.session_limit = session_limit
        self._permits = trio.Semaphore(session_limit) if session_limit is not None else None
        self._in_session = in_session
        self._on_release = on_release
        self._clock = clock
        self.sessions_in_use = 0
        self.max_sessions_in_use = 0
        self._users: dict[int, str] = {}
        self._bot_id = bot_id
        self._processed: dict[tuple[int, int], datetime] = {}  # (bot, update) -> claimed at
        self._pauses: dict[tuple[int, str], datetime] = {}  # (bot, kind) -> no call before
        self._audit: list[AdminAction] = []
        # Admin tools: users who blocked the bot, bans, broadcasts by id (from 1).
        self._blocked: dict[int, datetime] = {}
        self._banned: dict[int, tuple[int, datetime]] = {}
        self._broadcasts: dict[int, Broadcast] = {}
        self._uploads: dict[uuid.UUID, _UploadRow] = {}
        self._jobs: dict[uuid.UUID, _JobRow] = {}
        self._results: dict[uuid.UUID, _ResultRow] = {}
        # Per-user indexes (insertion-ordered sets), so a user's quota check does not scan
        # every upload: the simulator runs thousands of users.
        self._user_uploads: dict[int, dict[uuid.UUID, None]] = {}
        self._user_jobs: dict[int, dict[uuid.UUID, None]] = {}
        self._jobs_of: dict[uuid.UUID, list[uuid.UUID]] = {}  # upload -> its jobs (the cascade's index)

    # ---------------------------------------------------------------- sessions

    def _session(self, method: str) -> _Session:
        return _Session(self, method)

    async def _enter_session(self, method: str) -> None:
        if self._permits is not None:
            await sim_acquire(self._permits)  # a checkpoint; a cancelled wait holds nothing
        else:
            await sim_checkpoint()
        self.sessions_in_use += 1
        self.max_sessions_in_use = max(self.max_sessions_in_use, self.sessions_in_use)
        if self._in_session is not None:
            try:
                await self._in_session(method)
            except BaseException:
                self._leave_session(clean=False)
                raise

    def _leave_session(self, *, clean: bool) -> None:
        if self._on_release is not None:
            self._on_release(clean)
        self.sessions_in_use -= 1
        if self._permits is not None:
            self._permits.release()

    @property
    def free_permits(self) -> int | None:
        return None if self._permits is None else self._permits.value

    @property
    def sessions_waiting(self) -> int:
        """Operations queued for a session right now (the simulator plots it)."""
        return 0 if self._permits is None else self._permits.statistics().tasks_waiting

    # ---------------------------------------------------------------- helpers

    def _now(self) -> datetime:
        """The database's clock (Postgres' ``now()``): the only one leases are judged on."""
        return _utc(self._clock())

    def _job_row(self, key: uuid.UUID | None) -> _JobRow | None:
        """The job a (possibly malformed, hence None) id names."""
        return None if key is None else self._jobs.get(key)

    def _job(self, row: _JobRow) -> Job:
        upload = self._uploads[row.upload_id]
        return Job(
            job_id=str(row.id),
            upload_id=str(row.upload_id),
            user_id=row.user_id,
            chat_id=row.chat_id,
            language=row.language,
            file_id=upload.file_id,
            file_name=upload.file_name,
            file_size=upload.file_size,
            status=row.status,
            step=row.step,
            attempts=row.attempts,
            blob_key=upload.blob_key,
            error=row.error,
            parts_sent=row.parts_sent,
        )

    def _drop_upload(self, upload_id: uuid.UUID) -> _UploadRow:
        """Remove an upload with its jobs and results (the cascade)."""
        row = self._uploads.pop(upload_id)
        _unindex(self._user_uploads, row.user_id, upload_id)
        # A job is made only with its upload, a result only for a job of the same upload.
        for job_id in self._jobs_of.pop(upload_id, ()):
            job = self._jobs.pop(job_id, None)
            if job is not None:
                _unindex(self._user_jobs, job.user_id, job_id)
            self._results.pop(job_id, None)
        return row

    # ---------------------------------------------------------------- Repository port

    def for_bot(self, bot_id: int) -> MemoryRepository:
        """The same tables, claiming updates for another bot (session counters are its own)."""
        view = copy.copy(self)
        view._bot_id = bot_id
        return view

    async def claim_update(self, update_id: int, now: datetime) -> bool:
        async with self._session("claim_update"):
            key = (self._bot_id, update_id)
            if key in self._processed:
                return False
            self._processed[key] = _utc(now)
            return True

    async def claim_updates(self, update_ids: Sequence[int], now: datetime) -> set[int]:
        async with self._session("claim_updates"):
            claimed: set[int] = set()
            for update_id in update_ids:
                key = (self._bot_id, update_id)
                if key not in self._processed:
                    self._processed[key] = _utc(now)
                    claimed.add(update_id)
            return claimed

    async def prune_processed_updates(self, before: datetime, limit: int) -> int:
        async with self._session("prune_processed_updates"):
            cutoff = _utc(before)
            old = heapq.nsmallest(
                max(0, limit), ((at, key) for key, at in self._processed.items() if at < cutoff)
            )
            for _, key in old:
                del self._processed[key]
            return len(old)

    async def record_admin_action(self, admin_id: int, action: str, detail: str, now: datetime) -> None:
        async with self._session("record_admin_action"):
            self._audit.append(AdminAction(admin_id, action, detail, _utc(now)))

    async def admin_actions(self, limit: int) -> list[AdminAction]:
        async with self._session("admin_actions"):
            if limit <= 0:
                return []
            # Newest first; equal times keep the order they were written in, newest first.
            ordered = sorted(enumerate(self._audit), key=lambda e: (e[1].created_at, e[0]), reverse=True)
            return [action for _, action in ordered[:limit]]

    async def upsert_user(self, user_id: int, language: str) -> str:
        async with self._session("upsert_user"):
            self._blocked.pop(user_id, None)  # back (/start): hears broadcasts again
            return self._users.setdefault(user_id, language)

    async def get_user_language(self, user_id: int) -> str | None:
        async with self._session("get_user_language"):
            return self._users.get(user_id)

    async def set_user_language(self, user_id: int, language: str) -> None:
        async with self._session("set_user_language"):
            self._users[user_id] = language

    async def record_upload(
        self, new: NewUpload, upload_id: str, job_id: str, now: datetime, quota: UploadQuota | None = None
    ) -> Job | UploadLoad | None:
        upload_key, job_key, at = uuid.UUID(upload_id), uuid.UUID(job_id), _utc(now)
        async with self._session("record_upload"):
            if (self._bot_id, new.update_id) in self._processed:
                return None
            if quota is not None:
                load = self._load(new.user_id, _utc(quota.since))
                if quota.refuses(load):
                    return load
            if upload_key in self._uploads or job_key in self._jobs:
                # Postgres fails the transaction on the primary key; nothing is kept.
                raise PortError("memory: duplicate upload or job id")
            if "\x00" in new.file_name + new.file_id + new.file_unique_id + new.language:
                raise PortError("memory: text may not contain NUL")  # as Postgres refuses it
            self._processed[(self._bot_id, new.update_id)] = at
            self._users.setdefault(new.user_id, new.language)
            self._uploads[upload_key] = _UploadRow(
                id=upload_key,
                user_id=new.user_id,
                chat_id=new.chat_id,
                file_id=new.file_id,
                file_unique_id=new.file_unique_id,
                file_name=new.file_name,
                file_size=new.file_size,
                created_at=at,
            )
            row = _JobRow(
                id=job_key,
                upload_id=upload_key,
                user_id=new.user_id,
                chat_id=new.chat_id,
                language=new.language,
                status=JobStatus.QUEUED,
                step=JobStep.RECORDED,
                attempts=0,
                error=None,
                created_at=at,
                updated_at=self._now(),
            )
            self._jobs[job_key] = row
            self._user_uploads.setdefault(new.user_id, {})[upload_key] = None
            self._user_jobs.setdefault(new.user_id, {})[job_key] = None
            self._jobs_of.setdefault(upload_key, []).append(job_key)
            return self._job(row)

    async def get_job(self, job_id: str) -> Job | None:
        key = _uuid_or_none(job_id)
        async with self._session("get_job"):
            row = self._job_row(key)
            return None if row is None else self._job(row)

    async def start_attempt(self, job_id: str, lease_s: float) -> Job | None:
        key = _uuid_or_none(job_id)
        async with self._session("start_attempt"):
            row = self._job_row(key)
            if row is None or row.status not in _UNFINISHED:
                return None
            at = self._now()
            held = row.status == JobStatus.RUNNING and row.updated_at > at - timedelta(seconds=lease_s)
            if held:
                return None
            row.status = JobStatus.RUNNING
            row.attempts += 1
            row.updated_at = at
            return self._job(row)

    async def heartbeat(self, job_ids: Sequence[str]) -> None:
        keys = [_uuid_or_none(job_id) for job_id in job_ids]
        async with self._session("heartbeat"):
            for key in keys:
                row = self._job_row(key)
                if row is not None and row.status == JobStatus.RUNNING:
                    row.updated_at = max(row.updated_at, self._now())

    async def mark_stored(self, job_id: str, blob_key: str) -> None:
        key = _uuid_or_none(job_id)
        async with self._session("mark_stored"):
            row = self._job_row(key)
            if row is None:
                return
            row.step = max(row.step, JobStep.STORED)
            row.updated_at = self._now()
            self._uploads[row.upload_id].blob_key = blob_key

    async def forget_blob(self, upload_id: str) -> None:
        key = _uuid_or_none(upload_id)
        async with self._session("forget_blob"):
            row = self._uploads.get(key) if key is not None else None
            if row is not None:
                row.blob_key = None
                row.blob_expires_at = None

    async def release_job(self, job_id: str) -> None:
        key = _uuid_or_none(job_id)
        async with self._session("release_job"):
            row = self._job_row(key)
            if row is not None and row.status == JobStatus.RUNNING:
                row.status = JobStatus.QUEUED
                row.updated_at = self._now()

    async def mark_parts_sent(self, job_id: str, parts_sent: int) -> None:
        key = _uuid_or_none(job_id)
        async with self._session("mark_parts_sent"):
            row = self._job_row(key)
            if row is not None:
                row.parts_sent = max(row.parts_sent, parts_sent)
                row.updated_at = max(row.updated_at, self._now())

    async def save_result(self, job_id: str, payload: str) -> None:
        key = _uuid_or_none(job_id)
        async with self._session("save_result"):
            row = self._job_row(key)
            if row is None:
                return
            at = self._now()
            row.step = max(row.step, JobStep.ANALYSED)
            row.updated_at = at
            if row.id not in self._results:
                self._results[row.id] = _ResultRow(row.id, row.upload_id, payload, at)

    async def finish_job(
        self, job_id: str, status: JobStatus, step: JobStep, error: str | None, parts_sent: int | None = None
    ) -> None:
        key = _uuid_or_none(job_id)
        async with self._session("finish_job"):
            row = self._job_row(key)
            if row is None or row.status not in _UNFINISHED:
                return
            row.status = JobStatus(status)
            row.step = max(row.step, JobStep(step))
            row.error = error
            if parts_sent is not None:
                row.parts_sent = max(row.parts_sent, parts_sent)
            row.updated_at = self._now()

    async def get_result(self, job_id: str) -> StoredResult | None:
        key = _uuid_or_none(job_id)
        async with self._session("get_result"):
            result = self._results.get(key) if key is not None else None
            return None if result is None else result.public()

    async def get_result_for_upload(self, upload_id: str) -> StoredResult | None:
        key = _uuid_or_none(upload_id)
        async with self._session("get_result_for_upload"):
            found = [r for r in self._results.values() if r.upload_id == key]
            if not found:
                return None
            return max(found, key=lambda r: (r.created_at, r.job_id)).public()

    async def jobs_needing_attention(self, idle_s: float, limit: int) -> list[Job]:
        async with self._session("jobs_needing_attention"):
            if limit <= 0:
                return []
            before = self._now() - timedelta(seconds=idle_s)
            stale = [j for j in self._jobs.values() if j.status in _UNFINISHED and j.updated_at <= before]
            stale.sort(key=lambda j: (j.updated_at, j.id))
            return [self._job(j) for j in stale[:limit]]

    def _load(self, user_id: int, since: datetime) -> UploadLoad:
        """The user's unfinished jobs, and uploads recorded at or after ``since``."""
        uploads, jobs = self._user_uploads.get(user_id, {}), self._user_jobs.get(user_id, {})
        recent = sum(1 for key in uploads if self._uploads[key].created_at >= since)
        in_flight = sum(1 for key in jobs if self._jobs[key].status in _UNFINISHED)
        return UploadLoad(in_flight=in_flight, recent=recent)

    async def list_uploads(self, user_id: int, limit: int) -> list[Upload]:
        async with self._session("list_uploads"):
            if limit <= 0:
                return []
            mine = [self._uploads[key] for key in self._user_uploads.get(user_id, {})]
            mine.sort(key=lambda u: (u.created_at, u.id), reverse=True)
            return [u.public() for u in mine[:limit]]

    async def get_upload(self, user_id: int, upload_id: str) -> Upload | None:
        key = _uuid_or_none(upload_id)
        async with self._session("get_upload"):
            row = self._uploads.get(key) if key is not None else None
            if row is None or row.user_id != user_id:
                return None
            return row.public()

    async def delete_upload(self, user_id: int, upload_id: str) -> Upload | None:
        key = _uuid_or_none(upload_id)
        async with self._session("delete_upload"):
            row = self._uploads.get(key) if key is not None else None
            if row is None or row.user_id != user_id:
                return None
            return self._drop_upload(row.id).public()

    async def delete_user_data(self, user_id: int) -> list[Upload]:
        async with self._session("delete_user_data"):
            mine = [self._uploads[k] for k in self._user_uploads.get(user_id, {})]
            mine.sort(key=lambda u: (u.created_at, u.id), reverse=True)
            deleted = [self._drop_upload(u.id).public() for u in mine]
            self._users.pop(user_id, None)
            self._blocked.pop(user_id, None)  # the mark lives on the user's row in Postgres
            return deleted

    async def existing_upload_ids(self, upload_ids: list[str]) -> set[str]:
        keys = {k for k in map(_uuid_or_none, upload_ids) if k is not None}
        async with self._session("existing_upload_ids"):
            return {str(k) for k in keys if k in self._uploads}

    async def uploads_with_blobs(self, after_upload_id: str | None, limit: int) -> list[Upload]:
        after = None if after_upload_id is None else uuid.UUID(after_upload_id)
        async with self._session("uploads_with_blobs"):
            if limit <= 0:
                return []
            rows = sorted(
                (
                    u
                    for u in self._uploads.values()
                    if u.blob_key is not None and (after is None or u.id > after)
                ),
                key=lambda u: u.id,
            )
            return [u.public() for u in rows[:limit]]

    # ---------------------------------------------------------------- admin tools (bot.admin)

    async def admin_stats(self, now: datetime) -> AdminStats:
        at = _utc(now)
        hour, day, week = at - timedelta(hours=1), at - timedelta(days=1), at - timedelta(days=7)
        async with self._session("admin_stats"):
            uploads = list(self._uploads.values())
            failed = [j for j in self._jobs.values() if j.status == JobStatus.FAILED and j.updated_at >= day]
            open_jobs = [j for j in self._jobs.values() if j.status in _UNFINISHED]
            by_day: dict[str, int] = {}
            by_hour: dict[str, int] = {}
            for job in failed:
                reason = job.error or ""
                by_day[reason] = by_day.get(reason, 0) + 1
                if job.updated_at >= hour:
                    by_hour[reason] = by_hour.get(reason, 0) + 1

            def ordered(counts: dict[str, int], by: dict[str, int]) -> dict[str, int]:
                return {k: counts[k] for k in sorted(counts, key=lambda k: (-by[k], k))}

            return AdminStats(
                users_total=len(self._users),
                users_active_day=len({u.user_id for u in uploads if u.created_at >= day}),
                users_active_week=len({u.user_id for u in uploads if u.created_at >= week}),
                uploads_hour=sum(1 for u in uploads if u.created_at >= hour),
                uploads_day=sum(1 for u in uploads if u.created_at >= day),
                failed_hour=ordered(by_hour, by_day),
                failed_day=ordered(by_day, by_day),
                open_jobs=len(open_jobs),
                oldest_open_job_at=min((j.created_at for j in open_jobs), default=None),
            )

    async def job_detail(self, job_id: str) -> JobDetail | None:
        key = _uuid_or_none(job_id)
        async with self._session("job_detail"):
            row = self._job_row(key)
            return None if row is None else JobDetail(self._job(row), row.created_at, row.updated_at)

    async def requeue_job(self, job_id: str, lease_s: float) -> Requeued:
        key = _uuid_or_none(job_id)
        async with self._session("requeue_job"):
            row = self._job_row(key)
            if row is None:
                return Requeued(RequeueOutcome.UNKNOWN)
            at = self._now()
            if row.status == JobStatus.DONE or row.step >= JobStep.DELIVERED:
                return Requeued(RequeueOutcome.ANSWERED)
            if row.status == JobStatus.RUNNING and row.updated_at > at - timedelta(seconds=lease_s):
                return Requeued(RequeueOutcome.RUNNING)
            row.status, row.attempts, row.error, row.updated_at = JobStatus.QUEUED, 0, None, at
            return Requeued(RequeueOutcome.REQUEUED, self._job(row))

    async def ban_user(self, user_id: int, admin_id: int, now: datetime) -> bool:
        async with self._session("ban_user"):
            if user_id in self._banned:
                return False
            self._banned[user_id] = (admin_id, _utc(now))
            return True

    async def unban_user(self, user_id: int) -> bool:
        async with self._session("unban_user"):
            return self._banned.pop(user_id, None) is not None

    async def post_pause(self, kind: PauseKind, seconds: float) -> None:
        if seconds <= 0:
            return
        async with self._session("post_pause"):
            until = self._now() + timedelta(seconds=seconds)
            key = (self._bot_id, kind)
            self._pauses[key] = max(until, self._pauses.get(key, until))

    async def pause_left(self, kind: PauseKind) -> float:
        async with self._session("pause_left"):
            until = self._pauses.get((self._bot_id, kind))
            return 0.0 if until is None else max(0.0, (until - self._now()).total_seconds())

    async def banned_user_ids(self) -> frozenset[int]:
        async with self._session("banned_user_ids"):
            return frozenset(self._banned)

    def _recipients(self, after_user_id: int) -> list[int]:
        return sorted(
            u for u in self._users if u > after_user_id and u not in self._blocked and u not in self._banned
        )

    async def start_broadcast(
        self,
        admin_id: int,
        chat_id: int,
        language: str,
        text: str,
        progress_message_id: int | None,
        now: datetime,
    ) -> Broadcast | None:
        at = _utc(now)
        async with self._session("start_broadcast"):
            if any(b.status == BroadcastStatus.RUNNING for b in self._broadcasts.values()):
                return None
            if "\x00" in text + language:
                raise PortError("memory: text may not contain NUL")  # as Postgres refuses it
            broadcast_id = len(self._broadcasts) + 1
            self._broadcasts[broadcast_id] = broadcast = Broadcast(
                broadcast_id=broadcast_id,
                admin_id=admin_id,
                chat_id=chat_id,
                language=language,
                text=text,
                status=BroadcastStatus.RUNNING,
                cursor=0,
                total=len(self._recipients(0)),
                sent=0,
                blocked=0,
                failed=0,
                progress_message_id=progress_message_id,
                created_at=at,
                updated_at=at,
            )
            return broadcast

    async def current_broadcast(self) -> Broadcast | None:
        async with self._session("current_broadcast"):
            return self._broadcasts[len(self._broadcasts)] if self._broadcasts else None

    async def broadcast_recipients(self, after_user_id: int, limit: int) -> list[int]:
        async with self._session("broadcast_recipients"):
            return self._recipients(after_user_id)[: max(0, limit)]

    async def record_broadcast_send(
        self, broadcast_id: int, user_id: int, outcome: SendOutcome, now: datetime
    ) -> Broadcast | None:
        at = _utc(now)
        async with self._session("record_broadcast_send"):
            broadcast = self._broadcasts.get(broadcast_id)
            if broadcast is None or broadcast.cursor >= user_id:
                return broadcast
            if outcome == SendOutcome.BLOCKED and user_id in self._users:
                self._blocked[user_id] = at
            self._broadcasts[broadcast_id] = broadcast = dataclasses.replace(
                broadcast,
                cursor=user_id,
                sent=broadcast.sent + (outcome == SendOutcome.SENT),
                blocked=broadcast.blocked + (outcome == SendOutcome.BLOCKED),
                failed=broadcast.failed + (outcome == SendOutcome.FAILED),
                updated_at=at,
            )
            return broadcast

    async def end_broadcast(
        self, broadcast_id: int, status: BroadcastStatus, now: datetime
    ) -> Broadcast | None:
        at = _utc(now)
        async with self._session("end_broadcast"):
            broadcast = self._broadcasts.get(broadcast_id)
            if broadcast is not None and broadcast.status == BroadcastStatus.RUNNING:
                self._broadcasts[broadcast_id] = broadcast = dataclasses.replace(
                    broadcast, status=BroadcastStatus(status), updated_at=at
                )
            return broadcast

    def _uploads_in_flight(self) -> set[uuid.UUID]:
        return {j.upload_id for j in self._jobs.values() if j.status in _UNFINISHED}

    async def expired_uploads(self, created_before: datetime, limit: int) -> list[Upload]:
        before = _utc(created_before)
        async with self._session("expired_uploads"):
            if limit <= 0:
                return []
            busy = self._uploads_in_flight()
            old = heapq.nsmallest(
                limit,
                (
                    (u.created_at, u.id)
                    for u in self._uploads.values()
                    if u.created_at < before and u.id not in busy
                ),
            )
            return [self._uploads[key].public() for _, key in old]

    async def delete_expired_uploads(self, upload_ids: list[str], created_before: datetime) -> list[str]:
        keys = {k for k in map(_uuid_or_none, upload_ids) if k is not None}
        before = _utc(created_before)
        async with self._session("delete_expired_uploads"):
            busy = self._uploads_in_flight()
            gone = [
                k
                for k in keys
                if (row := self._uploads.get(k)) is not None and row.created_at < before and k not in busy
            ]
            for key in gone:
                self._drop_upload(key)
            return sorted(str(k) for k in gone)

    async def expire_blob_at(self, upload_id: str, at: datetime) -> None:
        key, when = _uuid_or_none(upload_id), _utc(at)
        async with self._session("expire_blob_at"):
            row = self._uploads.get(key) if key is not None else None
            if row is not None and row.blob_key is not None:
                row.blob_expires_at = when

    async def blobs_due(self, before: datetime, limit: int) -> list[Upload]:
        cutoff = _utc(before)
        async with self._session("blobs_due"):
            if limit <= 0:
                return []
            due = heapq.nsmallest(
                limit,
                (
                    (u.blob_expires_at, u.id)
                    for u in self._uploads.values()
                    if u.blob_expires_at is not None and u.blob_expires_at < cutoff
                ),
            )
            return [self._uploads[key].public() for _, key in due]

    # ---------------------------------------------------------------- for invariants

    def uploads_now(self) -> list[Upload]:
        """Every upload row, read without a session (for invariants, after the run)."""
        return [row.public() for row in self._uploads.values()]

    def open_job_ids(self) -> list[str]:
        """Jobs queued or running, read without a session."""
        return [str(row.id) for row in self._jobs.values() if row.status in _UNFINISHED]

    def backdate_job(self, job_id: str, seconds: float) -> None:
        """For tests: as if the job had last been touched ``seconds`` earlier (its lease
        older by that much), as ``UPDATE jobs SET updated_at = updated_at - ...`` would."""
        row = self._job_row(_uuid_or_none(job_id))
        if row is not None:
            row.updated_at -= timedelta(seconds=seconds)

    def counts(self) -> dict[str, int]:
        """Row counts per table, named as in the Postgres schema."""
        return {
            "users": len(self._users),
            "uploads": len(self._uploads),
            "jobs": len(self._jobs),
            "results": len(self._results),
            "processed_updates": len(self._processed),
        }


__all__ = ["InSession", "MemoryRepository", "OnRelease"]


def _unindex(index: dict[int, dict[uuid.UUID, None]], user_id: int, key: uuid.UUID) -> None:
    """Take ``key`` off the user's index; a user left with nothing leaves the index (no trace)."""
    keys = index.get(user_id)
    if keys is not None:
        keys.pop(key, None)
        if not keys:
            del index[user_id]
