"""Rows of the jobs query, shared by the repository and the admin tools' queries."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.postgres.tx import Row
from bot.domain import Job, JobStatus, JobStep

UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
# A job with its upload's file fields: FROM jobs j JOIN uploads u ON u.id = j.upload_id.
JOB_COLUMNS = """
    j.id, j.upload_id, j.user_id, j.chat_id, j.language, u.file_id, u.file_name, u.file_size,
    j.status, j.step, j.attempts, u.blob_key, j.error, j.parts_sent
"""


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def job_from_row(row: Row) -> Job:
    return Job(
        job_id=str(row[0]),
        upload_id=str(row[1]),
        user_id=int(row[2]),
        chat_id=int(row[3]),
        language=str(row[4]),
        file_id=str(row[5]),
        file_name=str(row[6]),
        file_size=None if row[7] is None else int(row[7]),
        status=JobStatus(row[8]),
        step=JobStep(row[9]),
        attempts=int(row[10]),
        blob_key=row[11],
        error=row[12],
        parts_sent=int(row[13]),
    )
