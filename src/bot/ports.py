"""The ports: everything the bot needs from the outside world, as Protocols.

``src/bot`` depends on these alone. Real adapters live in ``adapters``, simulated
ones in ``sim``; the composition roots (``adapters.compose`` and ``sim.compose``)
fill a :class:`Services` bundle with one or the other.

Contract shared by every async method below: it raises only
:class:`bot.errors.PortError` subclasses for failures of the outside service, and
is safe to cancel at any await point (a cancelled write either happened or did
not; it never leaves a half-written record). Deadlines are NOT the adapters'
business: the core wraps every port in :mod:`bot.guard`, which applies the named
deadline of each call.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from bot.admin.records import (
    AdminStats,
    Broadcast,
    BroadcastStatus,
    JobDetail,
    Requeued,
    SendOutcome,
)
from bot.domain import (
    AdminAction,
    Delivery,
    InlineKeyboard,
    Job,
    JobStatus,
    JobStep,
    NewUpload,
    SentMessage,
    StoredResult,
    TgFile,
    Update,
    Upload,
    UploadLoad,
    UploadQuota,
)
from bot.metrics import MetricsSnapshot

# What a 429's pause holds back (Repository.post_pause): sends, or getUpdates.
PauseKind = Literal["send", "poll"]


class PauseBoard(Protocol):
    """Where a 429's pause reaches processes that cannot learn of it otherwise: the
    Repository's two methods of that name, as the send limiter and the poller use them."""

    async def post_pause(self, kind: PauseKind, seconds: float) -> None: ...

    async def pause_left(self, kind: PauseKind) -> float: ...


class UpdateKeeper(Protocol):
    """Where the poller keeps updates it confirmed before handling them (the
    ConversationStore's three methods of these names: Redis)."""

    async def keep_updates(self, updates: Mapping[int, str], ttl_s: int) -> None: ...

    async def kept_updates(self) -> dict[int, str]: ...

    async def drop_updates(self, update_ids: Sequence[int]) -> None: ...


class TelegramApi(Protocol):
    """The subset of the Bot API the bot uses."""

    async def get_updates(self, offset: int | None, timeout_s: int, limit: int = 100) -> list[Update]: ...

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        reply_markup: InlineKeyboard | None = None,
    ) -> SentMessage: ...

    async def edit_message_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        reply_markup: InlineKeyboard | None = None,
    ) -> None: ...

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> SentMessage: ...

    async def send_photo(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> SentMessage: ...

    async def answer_callback_query(self, callback_query_id: str, text: str | None = None) -> None: ...

    async def get_file(self, file_id: str) -> TgFile: ...

    async def download_file(self, file_path: str) -> bytes: ...


class Repository(Protocol):
    """Postgres, seen as domain operations. Each method is ONE short transaction
    that contains only database work, and rolls back on any error."""

    async def claim_update(self, update_id: int, now: datetime) -> bool:
        """Record that an update of this bot took effect; False if it already had."""
        ...

    async def claim_updates(self, update_ids: Sequence[int], now: datetime) -> set[int]:
        """:meth:`claim_update` for several updates in one transaction: the ids claimed
        now (the others had been); all or none of them on failure."""
        ...

    async def prune_processed_updates(self, before: datetime, limit: int) -> int:
        """Forget up to ``limit`` update claims made before ``before``, oldest first;
        how many were forgotten (call again while it returns ``limit``)."""
        ...

    # A 429's pause, for the processes that cannot learn of it otherwise: a send pause's
    # second channel (bot.ratelimit; the shared send bucket is the first), and a poll
    # pause for the poller that starts after a crash (bot.updates). Judged on the
    # database's clock, like leases, and per bot, like update claims.

    async def post_pause(self, kind: PauseKind, seconds: float) -> None:
        """No call of ``kind`` by this bot before ``seconds`` from now; an earlier end
        never shortens a pause already posted."""
        ...

    async def pause_left(self, kind: PauseKind) -> float:
        """Seconds the latest pause of ``kind`` still holds; 0 when none does."""
        ...

    async def upsert_user(self, user_id: int, language: str) -> str:
        """Store a user who said /start: a new one with ``language``, a known one as they
        are (hearing broadcasts again if they had blocked the bot). Returns the language
        stored for them."""
        ...

    async def get_user_language(self, user_id: int) -> str | None: ...

    async def set_user_language(self, user_id: int, language: str) -> None: ...

    async def record_upload(
        self, new: NewUpload, upload_id: str, job_id: str, now: datetime, quota: UploadQuota | None = None
    ) -> Job | UploadLoad | None:
        """Insert the upload, its job and the update's claim together. ``now`` is when
        the upload and the claim happened; the job's lease clock starts on the database's.

        Returns None (and changes nothing) if ``new.update_id`` was already claimed, and
        the user's load (changing nothing) when ``quota`` refuses it; the check and the
        insert are one transaction, so an upload costs the database one."""
        ...

    async def get_job(self, job_id: str) -> Job | None: ...

    # Leases. A job's lease is stamped and judged on the database's clock alone: the
    # job methods below take no ``now``, because workers on hosts whose clocks disagree
    # would otherwise each judge a lease on their own clock (a worker 90 s ahead took
    # live jobs over: scenarios/regressions/clock-skew-steals-lease.toml). Every write
    # to a job counts as a sign of life.

    async def start_attempt(self, job_id: str, lease_s: float) -> Job | None:
        """Take the job: mark it running and count the attempt.

        Succeeds for a queued job, or a running one whose holder has not shown
        life (see :meth:`heartbeat`) for ``lease_s`` seconds of the database's
        clock, i.e. crashed. Returns None when the job is finished, held by a live
        worker, or unknown."""
        ...

    async def heartbeat(self, job_ids: Sequence[str]) -> None:
        """The holder of these running jobs is alive: refresh their leases (one write)."""
        ...

    async def mark_stored(self, job_id: str, blob_key: str) -> None: ...

    async def forget_blob(self, upload_id: str) -> None:
        """The upload's file is being deleted from storage: its row no longer names it."""
        ...

    async def release_job(self, job_id: str) -> None:
        """A stopping worker gives a running job back: queued again, its progress kept,
        so the next worker may start it at once instead of waiting out the lease."""
        ...

    async def mark_parts_sent(self, job_id: str, parts_sent: int) -> None:
        """Telegram accepted the first ``parts_sent`` parts of the job's answer; never decreases."""
        ...

    async def save_result(self, job_id: str, payload: str) -> None:
        """Store the analysis result and advance the job to ANALYSED (idempotent)."""
        ...

    async def finish_job(
        self, job_id: str, status: JobStatus, step: JobStep, error: str | None, parts_sent: int | None = None
    ) -> None:
        """End an unfinished job (a finished one stays as it is); ``parts_sent`` as
        :meth:`mark_parts_sent` in the same write, when given."""
        ...

    async def get_result(self, job_id: str) -> StoredResult | None: ...

    async def get_result_for_upload(self, upload_id: str) -> StoredResult | None: ...

    async def jobs_needing_attention(self, idle_s: float, limit: int) -> list[Job]:
        """Queued or running jobs untouched for at least ``idle_s`` seconds of the
        database's clock, least recently touched first (reconciler input; 0: every open job)."""
        ...

    async def list_uploads(self, user_id: int, limit: int) -> list[Upload]:
        """The user's uploads, newest first."""
        ...

    async def get_upload(self, user_id: int, upload_id: str) -> Upload | None:
        """One upload, only if it belongs to ``user_id``."""
        ...

    async def delete_upload(self, user_id: int, upload_id: str) -> Upload | None: ...

    async def delete_user_data(self, user_id: int) -> list[Upload]: ...

    async def record_admin_action(self, admin_id: int, action: str, detail: str, now: datetime) -> None:
        """Append to the admin audit log (also refused attempts by non-admins)."""
        ...

    async def admin_actions(self, limit: int) -> list[AdminAction]:
        """The audit log, newest first."""
        ...

    # The orphan sweep (bot.sweep) compares blob storage with these two.

    async def existing_upload_ids(self, upload_ids: list[str]) -> set[str]:
        """The ids among ``upload_ids`` that have an upload row, in canonical form
        (an id that is not a UUID has none)."""
        ...

    async def uploads_with_blobs(self, after_upload_id: str | None, limit: int) -> list[Upload]:
        """Uploads whose ``blob_key`` is set, ordered by id, starting after
        ``after_upload_id`` (None: from the first): one page of a full scan."""
        ...

    # Admin tools (bot.admin): statistics, job inspection and retry, bans, broadcasts.

    async def admin_stats(self, now: datetime) -> AdminStats:
        """Users, uploads and failed jobs in the windows before ``now``; open jobs."""
        ...

    async def job_detail(self, job_id: str) -> JobDetail | None: ...

    async def requeue_job(self, job_id: str, lease_s: float) -> Requeued:
        """Queue a failed or stuck job again, with fresh attempts and its progress kept
        (``parts_sent`` too, so no part already sent goes out again). Refused for a job a
        live worker holds (its lease is fresher than ``lease_s``) and for one whose user
        has the answer (step DELIVERED)."""
        ...

    async def ban_user(self, user_id: int, admin_id: int, now: datetime) -> bool:
        """True if the user was not banned before."""
        ...

    async def unban_user(self, user_id: int) -> bool:
        """True if the user was banned."""
        ...

    async def banned_user_ids(self) -> frozenset[int]: ...

    async def start_broadcast(
        self,
        admin_id: int,
        chat_id: int,
        language: str,
        text: str,
        progress_message_id: int | None,
        now: datetime,
    ) -> Broadcast | None:
        """A new running broadcast to every user not blocked or banned; None while another runs."""
        ...

    async def current_broadcast(self) -> Broadcast | None:
        """The newest broadcast, whatever its status."""
        ...

    async def broadcast_recipients(self, after_user_id: int, limit: int) -> list[int]:
        """User ids above ``after_user_id``, ascending, neither blocked nor banned."""
        ...

    async def record_broadcast_send(
        self, broadcast_id: int, user_id: int, outcome: SendOutcome, now: datetime
    ) -> Broadcast | None:
        """Move the cursor past ``user_id`` and count the outcome (once: a user at or below
        the cursor changes nothing); a BLOCKED user is marked. Returns the broadcast."""
        ...

    async def end_broadcast(
        self, broadcast_id: int, status: BroadcastStatus, now: datetime
    ) -> Broadcast | None:
        """A running broadcast ends (done or cancelled); a finished one stays as it was."""
        ...

    # Retention (bot.retention): data older than its window goes, in small batches.

    async def expired_uploads(self, created_before: datetime, limit: int) -> list[Upload]:
        """Up to ``limit`` uploads recorded before ``created_before`` with no job in flight
        (queued or running), oldest first: the next batch the retention sweep deletes."""
        ...

    async def delete_expired_uploads(self, upload_ids: list[str], created_before: datetime) -> list[str]:
        """Delete those of ``upload_ids`` that are still expired and have no job in flight,
        with their jobs and results; the ids deleted. Rows another transaction holds are
        skipped (the next sweep takes them), so the sweep never waits on a lock."""
        ...

    async def expire_blob_at(self, upload_id: str, at: datetime) -> None:
        """The upload's file may be deleted from storage from ``at`` on (its row stays)."""
        ...

    async def blobs_due(self, before: datetime, limit: int) -> list[Upload]:
        """Up to ``limit`` uploads whose file is due for deletion before ``before``
        (see :meth:`expire_blob_at`), earliest first. :meth:`forget_blob` takes one off."""
        ...


class ConversationStore(Protocol):
    """Short-lived per-chat state (Redis with a TTL). Losing it is acceptable:
    the user is asked to start the step again."""

    async def get(self, chat_id: int, user_id: int) -> dict[str, Any] | None: ...

    async def set(self, chat_id: int, user_id: int, data: dict[str, Any], ttl_s: int) -> None: ...

    async def clear(self, chat_id: int, user_id: int) -> None: ...

    async def mark(self, name: str, ttl_s: int) -> bool:
        """Set the marker ``name`` for ``ttl_s`` seconds unless it is set: True when this
        call set it (something done once, across processes, while Postgres is away)."""
        ...

    async def is_marked(self, name: str) -> bool:
        """Whether the marker ``name`` is set (and not expired); sets nothing."""
        ...

    # Updates the poller confirmed to Telegram while they were still being handled (a
    # held upload, bot.updates): kept here until handled, so that a restart resumes them.

    async def keep_updates(self, updates: Mapping[int, str], ttl_s: int) -> None:
        """Keep each update's wire JSON under its id; every kept update lives ``ttl_s``
        more seconds from now."""
        ...

    async def kept_updates(self) -> dict[int, str]: ...

    async def drop_updates(self, update_ids: Sequence[int]) -> None: ...


class BlobStore(Protocol):
    """File storage (local disk, Supabase Storage)."""

    async def put(self, key: str, data: bytes, content_type: str = "text/csv") -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...

    async def list_keys(self, prefix: str) -> list[str]: ...


class JobQueue(Protocol):
    """At-least-once delivery of job ids. Postgres stays the truth: losing the
    queue's contents only delays jobs until the reconciler re-enqueues them."""

    async def enqueue(self, job_id: str) -> None: ...

    async def claim(self, consumer: str, block_s: float) -> Delivery | None:
        """Wait up to ``block_s`` for a job; None if none arrived."""
        ...

    async def ack(self, delivery: Delivery) -> None: ...

    async def reclaim(self, consumer: str, min_idle_s: float, count: int) -> list[Delivery]:
        """Take over deliveries that another consumer left unacknowledged."""
        ...


@dataclass(frozen=True, slots=True)
class SendRates:
    """Telegram's send allowance as two GCRA buckets (seconds): one for the whole
    bot token, one per chat. ``tolerance`` is how far ahead of the steady rate a
    burst may run: ``(burst - 1) * interval``."""

    global_interval_s: float
    global_tolerance_s: float
    chat_interval_s: float
    chat_tolerance_s: float


class SendBucket(Protocol):
    """The send allowance shared by every process of a deployment (one bot token).

    ``reserve`` is one atomic step: it takes the earliest slot that keeps the whole
    deployment within ``rates`` (and within ``chat_id``'s own rate when given) and
    returns how many seconds from now that slot is; the caller sleeps that long.
    ``pause_s > 0`` first pushes every later slot at least that far away (a 429's
    ``retry_after`` applies to the token, so to every process). ``paused_for`` says
    how long such a pause still holds, for a sender whose slot was reserved before it.
    """

    # Share of the global rate one process may use on its own while the shared
    # bucket cannot be reached (the number of processes that share the token).
    fallback_share: int

    async def reserve(self, chat_id: int | None, rates: SendRates, pause_s: float = 0.0) -> float: ...

    async def paused_for(self) -> float:
        """Seconds the latest pause (from any process) still holds; 0 when none does."""
        ...


class WallClock(Protocol):
    """Timestamps and ids: the things simulation must make deterministic.
    Durations never come from here: use ``trio.current_time()``."""

    def now(self) -> datetime: ...

    def new_id(self) -> uuid.UUID: ...

    def random(self) -> float:
        """A uniform draw in [0, 1), for jitter."""
        ...


class LogSink(Protocol):
    """Where log records go. ``emit`` must never block the event loop."""

    def emit(self, level: int, event: str, fields: dict[str, object]) -> None: ...


class CpuRunner(Protocol):
    """Runs CPU-bound work off the event loop, killable at the caller's deadline."""

    async def run(self, kind: str, fn: Any, *args: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class Observation:
    name: str
    seconds: float
    outcome: str  # "ok", "timeout", "error"


class Metrics(Protocol):
    def observe(self, name: str, seconds: float, outcome: str) -> None:
        """Latency and outcome of one named operation."""

    def gauge(self, name: str, value: float) -> None:
        """A current value: queue depth, updates in flight, sessions."""

    def count(self, name: str, label: str = "", amount: int = 1) -> None:
        """A counter: ``updates``; ``uploads`` by ``accepted`` / ``rejected:<reason>`` /
        ``failed:<reason>``; ``retries`` by operation; ``telegram.429``."""

    def snapshot(self) -> MetricsSnapshot:
        """Everything at this moment (what ``/stats`` shows)."""


@dataclass(frozen=True, slots=True)
class Services:
    telegram: TelegramApi
    repo: Repository
    state: ConversationStore
    blobs: BlobStore
    queue: JobQueue
    clock: WallClock
    log: LogSink
    cpu: CpuRunner
    metrics: Metrics
    # None: each process limits its own sends (the simulator, a single process).
    send_bucket: SendBucket | None = None


__all__ = [
    "BlobStore",
    "ConversationStore",
    "CpuRunner",
    "JobQueue",
    "LogSink",
    "Metrics",
    "Observation",
    "Repository",
    "SendBucket",
    "SendRates",
    "Services",
    "TelegramApi",
    "WallClock",
]
