"""Data with a lifecycle: what the bot keeps, it keeps for a bounded time.

Three kinds of state would otherwise grow for as long as the bot runs:
- update claims (``processed_updates``): Telegram re-delivers an unconfirmed update for
  at most 24 hours, so a claim older than the claims window protects nothing; kept
  forever it would also drop a new update whose id collides with an old one (Telegram
  restarts its numbering after a week without updates);
- uploads with their files, jobs and results: deleted ``data_retention_days`` after the
  upload, never while a job of it is queued or running;
- a rejected upload's file, when kept at all (``rejected_retention_h``): deleted once due,
  its row kept for the upload's own retention.

Every deletion goes in small batches, each one short transaction through the policy
table's deadlines, and the database side skips rows that another transaction holds,
so the sweep never holds or waits on a lock for long. Files go first: a file is
deleted from storage before the row that names it (storage deletes are idempotent),
so a failure between the two leaves a row without its file for the next pass to
finish, never a file nobody can find.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import trio

from bot.blob_keys import blob_key
from bot.domain import Upload
from bot.errors import DeadlineExceeded, PortError
from bot.guard import Guard
from bot.log import Logger
from bot.ports import BlobStore, Repository, WallClock
from bot.settings import Settings

PRUNE_BATCH = 1000


# ---------------------------------------------------------------- update claims


async def prune_processed_updates_once(
    repo: Repository, guard: Guard, clock: WallClock, retention_s: float, batch: int = PRUNE_BATCH
) -> int:
    """Forget every claim older than the retention window; how many were forgotten."""
    before = clock.now() - timedelta(seconds=retention_s)
    total = 0
    while True:
        forgotten = await guard.call("db.statement", repo.prune_processed_updates, before, batch)
        total += forgotten
        if forgotten < batch:
            return total
        await trio.lowlevel.checkpoint()  # let other work in between batches


async def prune_processed_updates_forever(
    repo: Repository, guard: Guard, clock: WallClock, log: Logger, *, retention_s: float, every_s: float
) -> None:
    while True:
        try:
            forgotten = await prune_processed_updates_once(repo, guard, clock, retention_s)
            if forgotten:
                log.info("processed_updates.pruned", count=forgotten)
        except (PortError, DeadlineExceeded) as exc:
            log.warning("processed_updates.prune_failed", error=str(exc))
        await trio.sleep(every_s)


# ---------------------------------------------------------------- uploads, files, jobs, results


@dataclass(frozen=True, slots=True)
class Keeper:
    """What the retention sweep works with (a process's ports, its guard and settings)."""

    repo: Repository
    blobs: BlobStore
    guard: Guard
    clock: WallClock
    log: Logger
    settings: Settings


@dataclass(slots=True)
class SweepTally:
    uploads_deleted: int = 0
    blobs_deleted: int = 0  # files of the deleted uploads
    rejected_blobs_deleted: int = 0  # files due before their upload (rejected uploads)
    skipped: int = 0  # rows held by another transaction or whose file would not go: next pass
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "uploads_deleted": self.uploads_deleted,
            "blobs_deleted": self.blobs_deleted,
            "rejected_blobs_deleted": self.rejected_blobs_deleted,
            "skipped": self.skipped,
            "errors": len(self.errors),
        }


def keys_of(upload: Upload) -> list[str]:
    """Every key the upload's file may be under: the one its row names, and the one a
    worker writes (stored, but the row not yet told, when the job ended)."""
    keys = [blob_key(upload.user_id, upload.upload_id, upload.file_name)]
    if upload.blob_key is not None and upload.blob_key not in keys:
        keys.append(upload.blob_key)
    return keys


async def _delete_files(keeper: Keeper, upload: Upload, tally: SweepTally) -> bool:
    """Delete the upload's file; False (and the row is left for the next pass) if storage failed."""
    for key in keys_of(upload):
        try:
            await keeper.guard.call("storage.call", keeper.blobs.delete, key)
        except (PortError, DeadlineExceeded) as exc:
            tally.errors.append(f"{key}: {exc}")
            keeper.log.warning("retention.blob_delete_failed", key=key, error=str(exc))
            return False
    return True


async def sweep_expired_once(keeper: Keeper, tally: SweepTally | None = None) -> SweepTally:
    """Delete every upload older than the data retention window with no job in flight:
    its file first, then its row with its jobs and results, one batch at a time."""
    tally = tally or SweepTally()
    batch = keeper.settings.retention_batch
    cutoff = keeper.clock.now() - timedelta(days=keeper.settings.data_retention_days)
    while True:
        expired = await keeper.guard.call("db.statement", keeper.repo.expired_uploads, cutoff, batch)
        if not expired:
            return tally
        filed: list[Upload] = []
        for upload in expired:
            if await _delete_files(keeper, upload, tally):
                filed.append(upload)
        deleted = await keeper.guard.call(
            "db.statement", keeper.repo.delete_expired_uploads, [u.upload_id for u in filed], cutoff
        )
        tally.uploads_deleted += len(deleted)
        gone = set(deleted)
        tally.blobs_deleted += sum(1 for u in filed if u.upload_id in gone and u.blob_key is not None)
        tally.skipped += len(expired) - len(deleted)
        # A short batch was the last; one with rows left behind would find them again:
        # they wait for the next pass.
        if len(expired) < batch or len(deleted) < len(expired):
            return tally
        await trio.lowlevel.checkpoint()


async def delete_due_blobs_once(keeper: Keeper, tally: SweepTally | None = None) -> SweepTally:
    """Delete the files due for deletion (a rejected upload's, kept for a while), each
    before its row lets go of it."""
    tally = tally or SweepTally()
    batch = keeper.settings.retention_batch
    now = keeper.clock.now()
    while True:
        due = await keeper.guard.call("db.statement", keeper.repo.blobs_due, now, batch)
        progressed = 0
        for upload in due:
            if await _delete_files(keeper, upload, tally):
                await keeper.guard.call("db.statement", keeper.repo.forget_blob, upload.upload_id)
                progressed += 1
        tally.rejected_blobs_deleted += progressed
        tally.skipped += len(due) - progressed
        if len(due) < batch or progressed < len(due):
            return tally
        await trio.lowlevel.checkpoint()


async def sweep_once(keeper: Keeper) -> SweepTally:
    """One full pass: due files, then expired uploads. Raises PortError or
    DeadlineExceeded if the database fails (the next pass starts over)."""
    tally = SweepTally()
    await delete_due_blobs_once(keeper, tally)
    await sweep_expired_once(keeper, tally)
    return tally


async def sweep_forever(keeper: Keeper) -> None:
    every = keeper.settings.retention_sweep_every_s
    while True:
        try:
            tally = await sweep_once(keeper)
            if tally.uploads_deleted or tally.rejected_blobs_deleted or tally.skipped:
                keeper.log.info("retention.swept", **tally.summary())
        except (PortError, DeadlineExceeded) as exc:
            keeper.log.warning("retention.sweep_failed", error=str(exc))
        await trio.sleep(every)


async def run_housekeeping(keeper: Keeper, *, claims_retention_s: float, claims_every_s: float) -> None:
    """Everything above, for as long as the process runs (in its own nursery)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: prune_processed_updates_forever(
                keeper.repo,
                keeper.guard,
                keeper.clock,
                keeper.log,
                retention_s=claims_retention_s,
                every_s=claims_every_s,
            ),
            name="bot.housekeeping.claims",
        )
        nursery.start_soon(sweep_forever, keeper, name="bot.housekeeping.retention")


__all__ = [
    "PRUNE_BATCH",
    "Keeper",
    "SweepTally",
    "delete_due_blobs_once",
    "keys_of",
    "prune_processed_updates_forever",
    "prune_processed_updates_once",
    "run_housekeeping",
    "sweep_expired_once",
    "sweep_forever",
    "sweep_once",
]
