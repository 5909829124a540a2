"""``/job <id>`` shows a job's steps, attempts and error; ``/retry <id>`` queues a
failed or stuck job again.

A retry is safe by construction: the repository refuses a job a live worker holds
and a job whose user already has the answer, and keeps the job's progress, its
``parts_sent`` outbox included, so a resumed delivery sends only the parts not yet
sent. A retried job that is already on the queue is harmless: ``start_attempt``
lets one worker at a time take it.
"""

from __future__ import annotations

import html

from bot.admin.records import JobDetail, RequeueOutcome
from bot.admin.texts import t_admin
from bot.context import BotContext
from bot.domain import JobStep
from bot.errors import PortError

_STEPS = (JobStep.STORED, JobStep.ANALYSED, JobStep.DELIVERED)


def _steps(step: JobStep) -> str:
    return " → ".join(f"{'✓' if step >= s else '·'} {s.name.lower()}" for s in _STEPS)


def job_text(detail: JobDetail, lang: str) -> str:
    job = detail.job
    size = "?" if job.file_size is None else f"{job.file_size:,} B"
    return t_admin(
        lang,
        "job",
        job_id=job.job_id,
        name=html.escape(job.file_name),
        size=size,
        user_id=job.user_id,
        status=job.status.value,
        attempts=job.attempts,
        steps=_steps(job.step),
        parts=job.parts_sent,
        error=html.escape(job.error) if job.error else t_admin(lang, "none"),
        created=detail.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        updated=detail.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
    )


async def show_job(ctx: BotContext, job_id: str, lang: str) -> str:
    if not job_id:
        return t_admin(lang, "job_usage")
    detail = await ctx.call("db.statement", ctx.services.repo.job_detail, job_id)
    if detail is None:
        return t_admin(lang, "job_unknown", job_id=html.escape(job_id[:64]))
    return job_text(detail, lang)


async def retry_job(ctx: BotContext, job_id: str, lang: str) -> str:
    if not job_id:
        return t_admin(lang, "retry_usage")
    services = ctx.services
    back = await ctx.call("db.statement", services.repo.requeue_job, job_id, ctx.settings.job_lease_s)
    shown = html.escape(job_id[:64])
    if back.outcome == RequeueOutcome.UNKNOWN or back.job is None:
        key = {RequeueOutcome.RUNNING: "retry_running", RequeueOutcome.ANSWERED: "retry_answered"}
        return t_admin(lang, key.get(back.outcome, "job_unknown"), job_id=shown)
    try:
        await ctx.call("queue", services.queue.enqueue, back.job.job_id)
    except PortError as exc:
        # Queued in Postgres, the truth: the reconciler enqueues it once it is due.
        ctx.log.warning("admin.retry_enqueue_failed", job_id=back.job.job_id, error=str(exc))
        return t_admin(lang, "retry_queue_down", job_id=back.job.job_id)
    ctx.log.info("admin.job_requeued", job_id=back.job.job_id, step=int(back.job.step))
    return t_admin(lang, "retry_done", job_id=back.job.job_id)


__all__ = ["job_text", "retry_job", "show_job"]
