"""Update claims expire: the pruning moved to the bot core (``bot.retention``), so the
simulator runs the same loop; these names stay for the callers that import them here."""

from __future__ import annotations

from bot.retention import PRUNE_BATCH, prune_processed_updates_forever, prune_processed_updates_once

__all__ = ["PRUNE_BATCH", "prune_processed_updates_forever", "prune_processed_updates_once"]
