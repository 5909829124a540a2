"""Accepting a document: checks, one short transaction, a receipt, an enqueue.

No file bytes move here. The upload and its job are recorded together with the
update's claim, so a re-delivered update changes nothing; if the enqueue fails
the reconciler finds the job in Postgres and enqueues it later.
"""

from __future__ import annotations

import html
import re
import unicodedata

from bot.context import BotContext
from bot.domain import NewUpload, TgDocument, TgMessage
from bot.errors import PortError
from bot.i18n import t
from bot.retry import retry_transient

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


# Russian letters to Latin (GOST-like, simplified); the rest of Unicode is dropped.
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya",
}  # fmt: skip


def _transliterate(text: str) -> str:
    out = []
    for char in text:
        low = char.lower()
        latin = _CYRILLIC.get(low)
        if latin is None:
            out.append(char)
        else:
            out.append(latin.capitalize() if char != low else latin)
    return "".join(out)


def safe_file_name(name: str, limit: int = 80) -> str:
    """An ASCII, storage-key-safe version of a user's file name: no folders, no
    control characters, Cyrillic transliterated (storage keys allow ASCII only).
    The original name is kept in the database and shown to the user."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _transliterate(unicodedata.normalize("NFKC", base))
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = re.sub(r"[^A-Za-z0-9.\-]+", "_", base)
    stem, dot, ext = base.rpartition(".")
    if dot and not stem.strip("._-"):
        base = "file." + ext if ext.strip("._-") else "file.csv"  # nothing readable left
    base = base.strip("._") or "file.csv"
    if len(base) > limit:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: limit - len(ext) - 1] + dot + ext) if dot and len(ext) <= 8 else base[:limit]
    return base


def blob_key(user_id: int, upload_id: str, file_name: str) -> str:
    return f"{user_id}/{upload_id}_{safe_file_name(file_name)}"


def looks_like_csv(document: TgDocument) -> bool:
    name = (document.file_name or "").lower()
    if name.endswith(CSV_EXTENSIONS + ARCHIVE_EXTENSIONS):
        return True
    return not name and (document.mime_type or "") in CSV_MIME_TYPES


async def accept_document(ctx: BotContext, update_id: int, message: TgMessage, lang: str) -> None:
    document = message.document
    assert document is not None and message.from_user is not None
    name = document.file_name or "file.csv"
    shown = html.escape(name)
    if document.file_size is not None and document.file_size > ctx.settings.max_file_bytes:
        size_mb = f"{document.file_size / 1_048_576:.1f}"
        await ctx.messenger.send_text(message.chat_id, t(lang, "too_big", size_mb=size_mb))
        return
    if not looks_like_csv(document):
        await ctx.messenger.send_text(message.chat_id, t(lang, "not_csv", name=shown))
        return

    clock = ctx.services.clock
    new = NewUpload(
        update_id=update_id,
        user_id=message.from_user.id,
        chat_id=message.chat_id,
        language=lang,
        file_id=document.file_id,
        file_unique_id=document.file_unique_id,
        file_name=name,
        file_size=document.file_size,
    )
    upload_id, job_id = str(clock.new_id()), str(clock.new_id())
    try:
        job = await retry_transient(
            lambda: ctx.db(ctx.services.repo.record_upload, new, upload_id, job_id, clock.now()),
            clock=clock,
            base_s=0.25,
            max_attempts=4,
        )
    except PortError as exc:
        ctx.log.error("upload.not_recorded", update_id=update_id, error=str(exc))
        await ctx.messenger.send_text(message.chat_id, t(lang, "busy_retry_upload", name=shown))
        return
    if job is None:
        ctx.log.info("upload.duplicate_update", update_id=update_id)
        return
    ctx.log.info("upload.recorded", job_id=job.job_id, user_id=job.user_id, size=document.file_size)
    try:
        await ctx.queue(ctx.services.queue.enqueue, job.job_id)
    except PortError as exc:
        # Postgres holds the job; the reconciler will enqueue (or run) it.
        ctx.log.warning("upload.enqueue_failed", job_id=job.job_id, error=str(exc))
    try:
        await ctx.messenger.send_text(message.chat_id, t(lang, "received", name=shown))
    except PortError as exc:
        # The job is recorded: the result (or an explicit failure) will reach the user.
        ctx.log.warning("upload.receipt_failed", job_id=job.job_id, error=str(exc))
