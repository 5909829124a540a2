"""Update claims expire: ``processed_updates`` keeps only the retention window.

Telegram re-delivers an unconfirmed update for at most 24 hours, so a claim older
than that protects nothing; kept forever it would only grow, and would drop a new
update whose id collides with an old one (Telegram restarts its numbering after a
week without updates). Deletion goes in bounded batches, each one short transaction.
"""

from __future__ import annotations

from datetime import timedelta

import trio

from bot.errors import DeadlineExceeded, PortError
from bot.guard import Guard
from bot.log import Logger
from bot.ports import Repository, WallClock

PRUNE_BATCH = 1000


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


__all__ = ["PRUNE_BATCH", "prune_processed_updates_forever", "prune_processed_updates_once"]
