"""The orphan sweep: blob storage and the uploads table, compared.

Two kinds of orphans:
- a blob whose upload row no longer exists (the upload was deleted but deleting its
  blob failed, or a job stored it after the user deleted the upload). Nothing can
  reach it any more; with ``delete=True`` the sweep removes it.
- an upload row whose ``blob_key`` names a blob that is not there (storage lost it,
  or someone removed it by hand). Only reported: the row is the user's record and the
  file can be sent again.

Races with live traffic are harmless by construction: a row is always written before
its blob (the handler records the upload; a worker stores the blob later), so a blob
listed first and found without a row afterwards has surely lost its row. A row that
names a blob missing from the listing is checked again on its own before it is
reported, since its blob may have been stored after the listing was taken.

Keys look like ``{user_id}/{upload_id}_{safe_name}`` (bot.blob_keys); a key of
any other shape is not ours to judge and is only counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.blob_keys import upload_id_of
from bot.context import BotContext
from bot.domain import Upload
from bot.errors import PortError

ID_BATCH = 500  # upload ids asked about in one query
ROW_PAGE = 500  # upload rows read in one query


@dataclass(slots=True)
class SweepReport:
    blobs_seen: int = 0
    rows_checked: int = 0
    orphan_blobs: list[str] = field(default_factory=list)  # no upload row
    deleted_blobs: list[str] = field(default_factory=list)
    unrecognised_blobs: list[str] = field(default_factory=list)  # not shaped like our keys: left alone
    missing_blobs: list[Upload] = field(default_factory=list)  # rows naming a blob that is not there
    errors: list[str] = field(default_factory=list)  # deletions that failed (the next sweep retries)

    def summary(self) -> dict[str, int]:
        return {
            "blobs_seen": self.blobs_seen,
            "rows_checked": self.rows_checked,
            "orphan_blobs": len(self.orphan_blobs),
            "deleted_blobs": len(self.deleted_blobs),
            "unrecognised_blobs": len(self.unrecognised_blobs),
            "rows_without_blob": len(self.missing_blobs),
            "errors": len(self.errors),
        }


async def sweep_orphans(ctx: BotContext, *, delete: bool) -> SweepReport:
    """One full pass; raises PortError if storage or the database cannot be read."""
    report = SweepReport()
    keys = await ctx.call("storage.call", ctx.services.blobs.list_keys, "")
    report.blobs_seen = len(keys)
    await _blobs_without_rows(ctx, keys, report, delete=delete)
    await _rows_without_blobs(ctx, set(keys), report)
    ctx.log.info("sweep.done", delete=delete, **report.summary())
    return report


async def _blobs_without_rows(ctx: BotContext, keys: list[str], report: SweepReport, *, delete: bool) -> None:
    by_upload: dict[str, list[str]] = {}
    for key in keys:
        upload_id = upload_id_of(key)
        if upload_id is None:
            report.unrecognised_blobs.append(key)
        else:
            by_upload.setdefault(upload_id, []).append(key)
    ids = list(by_upload)
    for start in range(0, len(ids), ID_BATCH):
        batch = ids[start : start + ID_BATCH]
        existing = await ctx.call("db.statement", ctx.services.repo.existing_upload_ids, batch)
        for upload_id in batch:
            if upload_id not in existing:
                report.orphan_blobs.extend(by_upload[upload_id])
    if not delete:
        return
    for key in report.orphan_blobs:
        try:
            await ctx.call("storage.call", ctx.services.blobs.delete, key)
        except PortError as exc:
            report.errors.append(f"{key}: {exc}")
            ctx.log.warning("sweep.delete_failed", key=key, error=str(exc))
        else:
            report.deleted_blobs.append(key)
            ctx.log.info("sweep.deleted", key=key)


async def _rows_without_blobs(ctx: BotContext, listed: set[str], report: SweepReport) -> None:
    cursor: str | None = None
    while True:
        page = await ctx.call("db.statement", ctx.services.repo.uploads_with_blobs, cursor, ROW_PAGE)
        if not page:
            return
        report.rows_checked += len(page)
        for upload in page:
            key = upload.blob_key
            if key is None or key in listed:
                continue
            # Stored after the listing? Ask for exactly this key before calling it missing.
            again = await ctx.call("storage.call", ctx.services.blobs.list_keys, key)
            if key not in again:
                report.missing_blobs.append(upload)
                ctx.log.warning("sweep.blob_missing", upload_id=upload.upload_id, key=key)
        cursor = page[-1].upload_id
