"""Accepting a document: checks, one short transaction, a receipt, an enqueue.

No file bytes move here. The upload and its job are recorded together with the
update's claim, so a re-delivered update changes nothing; the receipt goes out
before the job is queued; if the enqueue fails the reconciler finds the job in
Postgres and enqueues it later. When the database does not answer, the upload is
not refused here: :class:`bot.upload_hold.UploadNotRecorded` lets the router hold it
and try again (bot.upload_hold).
"""

from __future__ import annotations

import html
import unicodedata
from datetime import timedelta

import trio

from bot.context import BotContext
from bot.domain import Job, NewUpload, TgDocument, TgMessage, UploadLoad, UploadQuota
from bot.errors import PortError
from bot.i18n import t
from bot.upload_hold import HeldUpload, UploadNotRecorded, first_to_say, mark_first

# The database part of accepting a file ends this long before the handler's deadline.
DB_PHASE_RESERVE_S = 0.5
CSV_EXTENSIONS = (".csv", ".tsv", ".txt", ".tab", ".dsv")
# A CSV file packed on its own (or a zip of them): the analysis unpacks it within bounds.
ARCHIVE_EXTENSIONS = (".gz", ".bz2", ".xz", ".zip")
CSV_MIME_TYPES = {
    "application/gzip",
    "application/x-gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/zip",
    "application/x-zip-compressed",
    "text/csv",
    "text/comma-separated-values",  # what Telegram Desktop sends
    "text/plain",
    "text/tab-separated-values",
    "application/csv",
    "application/vnd.ms-excel",  # what Windows reports for .csv
}


def clean_file_name(name: str | None, limit: int = 255) -> str:
    """The user's file name without control characters (a NUL cannot be stored in
    Postgres text, nor shown back), at most ``limit`` characters."""
    kept = "".join(ch for ch in name or "" if unicodedata.category(ch) not in ("Cc", "Cs"))
    return kept.strip()[:limit] or "file.csv"


def looks_like_csv(document: TgDocument) -> bool:
    name = (document.file_name or "").lower()
    if name.endswith(CSV_EXTENSIONS + ARCHIVE_EXTENSIONS):
        return True
    return not name and (document.mime_type or "") in CSV_MIME_TYPES


async def accept_document(
    ctx: BotContext,
    update_id: int,
    message: TgMessage,
    lang: str,
    held: HeldUpload | None = None,
    *,
    redelivered: bool = False,
) -> str | None:
    """Record or hold the document, or give the refusal to send (too big, not a CSV,
    over the quota). Raises :class:`UploadNotRecorded` when the database does not answer
    (the caller holds the upload or asks for it again); ``held`` is the upload's hold when
    this is a later try; ``redelivered``: an earlier process may have held it (and told
    the user so). The caller sends a refusal outside the handler's deadline: a deadline
    that ran out on a slow reply would read as a database that does not answer, and hold
    a file that was refused (scenarios/regressions/model-810-upload-never-concluded.toml)."""
    document = message.document
    assert document is not None and message.from_user is not None
    user_id = message.from_user.id
    name = clean_file_name(document.file_name)
    shown = html.escape(name)
    if document.file_size is not None and document.file_size > ctx.settings.max_file_bytes:
        size_mb = f"{document.file_size / 1_048_576:.1f}"
        ctx.services.metrics.count("uploads", "rejected:too_big")
        ctx.log.info("upload.refused", reason="too_big", user_id=user_id, size=document.file_size)
        return t(lang, "too_big", size_mb=size_mb)
    if not looks_like_csv(document):
        ctx.services.metrics.count("uploads", "rejected:not_csv")
        ctx.log.info("upload.refused", reason="not_csv", user_id=user_id, mime=document.mime_type)
        return t(lang, "not_csv", name=shown)

    clock = ctx.services.clock
    # A held upload keeps the ids of its first try: a try that committed and lost its
    # answer is then found, not recorded again.
    if held is not None:
        upload_id, job_id = held.upload_id, held.job_id
    else:
        upload_id, job_id = str(clock.new_id()), str(clock.new_id())
    # A held try that may have committed would count itself against the quota.
    quota = None if held is not None and held.maybe_recorded else _quota(ctx)
    recorded: Job | UploadLoad | None = None
    # The database part ends a little before the handler's deadline, so that a database
    # that does not answer is told apart from any other slowness (bot.upload_hold).
    with trio.move_on_after(max(0.0, ctx.guard.remaining() - DB_PHASE_RESERVE_S)) as db_phase:
        recorded = await _record(
            ctx,
            NewUpload(
                update_id=update_id,
                user_id=user_id,
                chat_id=message.chat_id,
                language=lang,
                file_id=document.file_id,
                file_unique_id=document.file_unique_id,
                file_name=name,
                file_size=document.file_size,
            ),
            upload_id,
            job_id,
            quota,
        )
    if db_phase.cancelled_caught:
        raise UploadNotRecorded(upload_id, job_id, maybe_recorded=True)
    if isinstance(recorded, UploadLoad):
        assert quota is not None  # only a quota refuses
        if recorded.in_flight >= quota.in_flight:
            limit_key, limit = "upload_quota_in_flight", quota.in_flight
        else:
            limit_key, limit = "upload_quota", quota.recent
        ctx.services.metrics.count("uploads", "rejected:quota")
        ctx.log.info("upload.refused", reason=limit_key, user_id=user_id)
        return t(lang, limit_key, count=limit, name=shown)
    job = recorded
    if job is None:
        ctx.log.info("upload.duplicate_update", update_id=update_id)
        return None
    ctx.services.metrics.count("uploads", "accepted")
    ctx.log.info("upload.recorded", job_id=job.job_id, user_id=job.user_id, size=document.file_size)
    # The user who was told the file waits has had the receipt: it is not sent twice.
    receipt = None if held is not None and held.told else t(lang, "received", name=shown)
    if receipt is not None and redelivered and not await first_to_say(ctx, "told", update_id, unknown=False):
        receipt = None  # an earlier process held it and told the user so (or may have: the profile follows)
    # From here on the upload is safe, so the handler's deadline must not end this
    # with "took too long, try again" (an invitation to upload twice); the receipt
    # and the enqueue get budgets of their own instead.
    with trio.CancelScope(shield=True):
        await _receipt_then_enqueue(ctx, message.chat_id, job.job_id, receipt)
        if receipt is not None:
            # The receipt tells what a hold's notice would: a copy of this update handed to
            # a later process while the database is slow must not be told again that the
            # file waits (scenarios/regressions/swarm-667-receipt-then-held-notice.toml).
            await mark_first(ctx, "told", update_id)
    return None


def _quota(ctx: BotContext) -> UploadQuota:
    """Files being worked on, and files this hour: checked as the upload is recorded."""
    return UploadQuota(
        in_flight=ctx.settings.max_uploads_in_flight,
        recent=ctx.settings.max_uploads_per_hour,
        since=ctx.services.clock.now() - timedelta(hours=1),
    )


async def _record(
    ctx: BotContext, new: NewUpload, upload_id: str, job_id: str, quota: UploadQuota | None
) -> Job | UploadLoad | None:
    """The upload, its job and the update's claim, in one transaction that also checks
    the user's quota: the job, the load the quota refused, or None when the update was
    claimed by another try. Raises :class:`UploadNotRecorded` when the database cannot say."""
    clock = ctx.services.clock
    failure: PortError | None = None
    try:
        recorded = await ctx.call(
            "db.record_upload", ctx.services.repo.record_upload, new, upload_id, job_id, clock.now(), quota
        )
    except PortError as exc:
        failure, recorded = exc, None
    if recorded is not None:
        return recorded
    # An attempt may have committed and lost its answer (then a retry finds the update
    # claimed): the job under this call's own id says whether the upload is recorded.
    try:
        job = await ctx.call("db.statement", ctx.services.repo.get_job, job_id)
    except PortError as exc:
        if failure is None:
            failure = exc
        ctx.log.warning("upload.not_recorded", update_id=new.update_id, error=str(failure))
        raise UploadNotRecorded(upload_id, job_id, maybe_recorded=True) from exc
    if job is None and failure is not None:
        ctx.log.warning("upload.not_recorded", update_id=new.update_id, error=str(failure))
        raise UploadNotRecorded(upload_id, job_id, maybe_recorded=False) from failure
    return job


async def _receipt_then_enqueue(ctx: BotContext, chat_id: int, job_id: str, receipt: str | None) -> None:
    """The receipt (if one is due) goes out before the job is queued, so no message of
    the job can overtake it in the chat."""
    # Best effort: the job is recorded, so the result (or an explicit failure) will reach the user.
    if receipt is not None:
        await ctx.messenger.tell(chat_id, receipt, failed="upload.receipt_failed", job_id=job_id)
    try:
        await ctx.call("queue", ctx.services.queue.enqueue, job_id)
    except PortError as exc:
        # Postgres holds the job; the reconciler will enqueue (or run) it.
        ctx.log.warning("upload.enqueue_failed", job_id=job_id, error=str(exc))
