"""Uploads held while the database is unreachable.

An upload that cannot be recorded because Postgres does not answer is not refused at
once: its update stays unconfirmed with Telegram (the source of truth until the upload
is recorded), the user is told once that the file waits, and the poller tries to record
it again with back-off (bot.updates, the ``update.hold`` policy) for at most
``upload_hold_s``. The ids of the upload and its job are fixed at the first try, so a
try that committed but lost its answer is found by the next one instead of recorded
twice. What is held here is a few ids per update, at most ``capacity`` of them; past
that, an upload is refused as before ("send it again").
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.context import BotContext
from bot.errors import PortError

# Markers of what was said while Postgres was away live as long as Telegram keeps an
# unconfirmed update (a day).
MARK_TTL_S = 24 * 3600


async def first_to_say(ctx: BotContext, what: str, update_id: int, *, unknown: bool = True) -> bool:
    """Whether this process is the first to say ``what`` for the update: a marker in
    Redis, for what cannot be recorded in Postgres now (it is away) yet must not be said
    twice when a restarted process is handed the same update. ``unknown`` when Redis
    cannot tell either: True for an answer (answering twice beats not answering), False
    for what the final answer makes good (a receipt)."""
    first = await mark_first(ctx, what, update_id)
    return unknown if first is None else first


async def mark_first(ctx: BotContext, what: str, update_id: int) -> bool | None:
    """:func:`first_to_say`'s marker: None when Redis cannot tell now."""
    try:
        return await ctx.call("redis", ctx.services.state.mark, f"{what}:{update_id}", MARK_TTL_S)
    except PortError as exc:
        ctx.log.warning("update.mark_failed", update_id=update_id, what=what, error=str(exc))
        return None


async def remember_said(ctx: BotContext, what: str, update_id: int) -> None:
    """Record that ``what`` has been said for the update (an apology, when its claim may
    never have reached the database; a notice whose marker Redis did not take), for a
    process handed it again. Tried again while Redis does not answer: whether the marker
    was already there does not matter, only that it is."""
    try:
        await ctx.call("redis.mark", ctx.services.state.mark, f"{what}:{update_id}", MARK_TTL_S)
    except PortError as exc:
        ctx.log.warning("update.mark_failed", update_id=update_id, what=what, error=str(exc))


class UploadNotRecorded(Exception):
    """The database did not answer while recording an upload (not the user's fault)."""

    def __init__(self, upload_id: str, job_id: str, *, maybe_recorded: bool) -> None:
        super().__init__("upload not recorded: database unreachable")
        self.upload_id = upload_id
        self.job_id = job_id
        # A try reached the database and lost its answer: it may have committed.
        self.maybe_recorded = maybe_recorded


@dataclass(slots=True)
class HeldUpload:
    update_id: int
    since: float  # trio time of the first try
    upload_id: str
    job_id: str
    told: bool = False  # the user has been told the file waits (sent at most once)
    maybe_recorded: bool = False


class UploadHolds:
    def __init__(self, hold_s: float, capacity: int) -> None:
        self.hold_s = hold_s
        self.capacity = capacity
        self._held: dict[int, HeldUpload] = {}

    def __len__(self) -> int:
        return len(self._held)

    def get(self, update_id: int) -> HeldUpload | None:
        return self._held.get(update_id)

    def hold(self, update_id: int, upload_id: str, job_id: str, now: float) -> HeldUpload | None:
        """The update's hold (a new one starts at ``now``); None when holding is off or full."""
        held = self._held.get(update_id)
        if held is not None:
            return held
        if self.hold_s <= 0:
            return None
        if len(self._held) >= self.capacity:
            # A hold whose update was given up (its answer never got out) is let go.
            for stale in [h.update_id for h in self._held.values() if now - h.since > 2 * self.hold_s]:
                del self._held[stale]
        if len(self._held) >= self.capacity:
            return None
        held = self._held[update_id] = HeldUpload(update_id, now, upload_id, job_id)
        return held

    def expired(self, held: HeldUpload, now: float) -> bool:
        return now - held.since >= self.hold_s

    def release(self, update_id: int) -> None:
        self._held.pop(update_id, None)
