"""Domain types shared by the bot core and every port implementation.

Plain frozen dataclasses: adapters translate their libraries' objects into these,
so the core never sees an httpx response, a psycopg row or a redis reply.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

# ---------------------------------------------------------------- Telegram side


@dataclass(frozen=True, slots=True)
class TgUser:
    id: int
    language_code: str | None = None
    first_name: str = ""
    username: str | None = None


@dataclass(frozen=True, slots=True)
class TgDocument:
    file_id: str
    file_unique_id: str
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None


@dataclass(frozen=True, slots=True)
class TgMessage:
    message_id: int
    chat_id: int
    date: int
    from_user: TgUser | None = None
    text: str | None = None
    document: TgDocument | None = None
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class TgCallbackQuery:
    id: str
    from_user: TgUser
    data: str | None = None
    chat_id: int | None = None
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class Update:
    update_id: int
    message: TgMessage | None = None
    callback_query: TgCallbackQuery | None = None

    @property
    def chat_id(self) -> int | None:
        """The chat whose updates must be handled in order."""
        if self.message is not None:
            return self.message.chat_id
        if self.callback_query is not None:
            if self.callback_query.chat_id is not None:
                return self.callback_query.chat_id
            return self.callback_query.from_user.id
        return None

    @property
    def user(self) -> TgUser | None:
        if self.message is not None:
            return self.message.from_user
        if self.callback_query is not None:
            return self.callback_query.from_user
        return None


@dataclass(frozen=True, slots=True)
class TgFile:
    file_id: str
    file_path: str | None
    file_size: int | None = None


@dataclass(frozen=True, slots=True)
class SentMessage:
    chat_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class InlineButton:
    text: str
    callback_data: str


InlineKeyboard = tuple[tuple[InlineButton, ...], ...]


# ---------------------------------------------------------------- our records


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # ended with an explicit message to the user


class JobStep(enum.IntEnum):
    """Completed steps of a job; a reclaimed job resumes after the last one."""

    RECORDED = 0
    STORED = 1  # file fetched from Telegram and stored as a blob
    ANALYSED = 2  # result saved in the database
    DELIVERED = 3  # result sent to the user


@dataclass(frozen=True, slots=True)
class NewUpload:
    """What the handler knows when a document arrives: no file bytes."""

    update_id: int
    user_id: int
    chat_id: int
    language: str
    file_id: str
    file_unique_id: str
    file_name: str
    file_size: int | None


@dataclass(frozen=True, slots=True)
class Upload:
    upload_id: str
    user_id: int
    chat_id: int
    file_name: str
    file_size: int | None
    created_at: datetime
    blob_key: str | None = None


@dataclass(frozen=True, slots=True)
class UploadLoad:
    """How much a user has going on: jobs not finished, and uploads since a moment."""

    in_flight: int
    recent: int


@dataclass(frozen=True, slots=True)
class UploadQuota:
    """The limits a new upload is recorded within: fewer than ``in_flight`` jobs of the
    user not finished, and fewer than ``recent`` uploads at or after ``since``."""

    in_flight: int
    recent: int
    since: datetime

    def refuses(self, load: UploadLoad) -> bool:
        return load.in_flight >= self.in_flight or load.recent >= self.recent


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    upload_id: str
    user_id: int
    chat_id: int
    language: str
    file_id: str
    file_name: str
    file_size: int | None
    status: JobStatus
    step: JobStep
    attempts: int
    blob_key: str | None = None
    error: str | None = None
    parts_sent: int = 0  # parts of the answer Telegram has accepted (see JobRunner._deliver)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of a job id from the queue; acknowledged once handled."""

    job_id: str
    delivery_id: str
    deliveries: int = 1


@dataclass(frozen=True, slots=True)
class StoredResult:
    job_id: str
    upload_id: str
    payload: str  # JSON of the analysis result
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AdminAction:
    """One entry of the admin audit log."""

    admin_id: int
    action: str
    detail: str
    created_at: datetime


@dataclass(slots=True)
class ConversationState:
    """Per-chat, per-user state of a multi-step interaction."""

    name: str
    data: dict[str, object] = field(default_factory=dict)
