"""The records the admin commands read and write (plain frozen dataclasses, like
:mod:`bot.domain`): what the Repository port returns for them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import Job


@dataclass(frozen=True, slots=True)
class AdminStats:
    """What the database says for ``/stats``, at one moment."""

    users_total: int
    users_active_day: int  # users with an upload in the last 24 hours
    users_active_week: int  # ... in the last 7 days
    uploads_hour: int
    uploads_day: int
    failed_hour: Mapping[str, int] = field(default_factory=dict)  # failed jobs by reason
    failed_day: Mapping[str, int] = field(default_factory=dict)
    open_jobs: int = 0  # queued or running
    oldest_open_job_at: datetime | None = None  # when the oldest open job was recorded


@dataclass(frozen=True, slots=True)
class JobDetail:
    """A job as ``/job`` shows it."""

    job: Job
    created_at: datetime
    updated_at: datetime


class RequeueOutcome(enum.StrEnum):
    REQUEUED = "requeued"  # queued again: failed, stuck, or queued already
    RUNNING = "running"  # a live worker holds it: left alone
    ANSWERED = "answered"  # the user has the answer (done, or the file's refusal): left alone
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Requeued:
    outcome: RequeueOutcome
    job: Job | None = None


class BroadcastStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class SendOutcome(enum.StrEnum):
    """What became of one broadcast message."""

    SENT = "sent"
    BLOCKED = "blocked"  # 403: the user blocked the bot; marked, skipped next time
    FAILED = "failed"  # refused for another reason (chat gone, deactivated)


@dataclass(frozen=True, slots=True)
class Broadcast:
    broadcast_id: int
    admin_id: int
    chat_id: int
    language: str
    text: str
    status: BroadcastStatus
    cursor: int  # the last user id handled; the next send goes to a larger id
    total: int  # recipients when it started
    sent: int
    blocked: int
    failed: int
    progress_message_id: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def handled(self) -> int:
        return self.sent + self.blocked + self.failed


__all__ = [
    "AdminStats",
    "Broadcast",
    "BroadcastStatus",
    "JobDetail",
    "RequeueOutcome",
    "Requeued",
    "SendOutcome",
]
