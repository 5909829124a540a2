"""Banned users: their updates are claimed (so confirmed and never handled again)
and ignored.

Every update asks :meth:`BanList.is_banned`, so the answer comes from memory: the
set of banned ids (small) is re-read from Postgres every ``REFRESH_S`` seconds by
one update at a time, and a ``/ban`` or ``/unban`` in this process applies at
once. The read has a short deadline of its own (``db.bans``): while the database
cannot be read, the last set read stays in force.
"""

from __future__ import annotations

import math

import trio

from bot.admin.texts import t_admin
from bot.context import BotContext
from bot.errors import PortError

REFRESH_S = 30.0


class BanList:
    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx
        self._ids: frozenset[int] = frozenset()
        self._read_at = -math.inf
        self._reading = trio.Lock()
        # Bans and unbans made here while a read is out: the read may predate them.
        self._made_during_read: dict[int, bool] | None = None

    async def is_banned(self, user_id: int) -> bool:
        if trio.current_time() - self._read_at >= REFRESH_S and not self._reading.locked():
            async with self._reading:  # the others go on with the set they have
                await self._refresh()
        return user_id in self._ids

    async def _refresh(self) -> None:
        self._made_during_read = {}
        try:
            ids = await self.ctx.call("db.bans", self.ctx.services.repo.banned_user_ids)
        except PortError as exc:
            self.ctx.log.warning("admin.bans_unread", error=str(exc))
        else:
            for user_id, banned in self._made_during_read.items():
                ids = ids | {user_id} if banned else ids - {user_id}
            self._ids = ids
        finally:
            self._made_during_read = None
            self._read_at = trio.current_time()

    def _apply(self, user_id: int, banned: bool) -> None:
        self._ids = self._ids | {user_id} if banned else self._ids - {user_id}
        if self._made_during_read is not None:
            self._made_during_read[user_id] = banned

    async def ban(self, admin_id: int, argument: str, lang: str) -> str:
        if not _is_user_id(argument):
            return t_admin(lang, "ban_usage")
        user_id = int(argument)
        if user_id in self.ctx.settings.admin_ids:
            return t_admin(lang, "ban_admin")
        services = self.ctx.services
        new = await self.ctx.call(
            "db.statement", services.repo.ban_user, user_id, admin_id, services.clock.now()
        )
        self._apply(user_id, True)
        self.ctx.log.info("admin.banned", user_id=user_id, admin_id=admin_id)
        return t_admin(lang, "banned" if new else "already_banned", user_id=user_id)

    async def unban(self, argument: str, lang: str) -> str:
        if not _is_user_id(argument):
            return t_admin(lang, "unban_usage")
        user_id = int(argument)
        was = await self.ctx.call("db.statement", self.ctx.services.repo.unban_user, user_id)
        self._apply(user_id, False)
        self.ctx.log.info("admin.unbanned", user_id=user_id)
        return t_admin(lang, "unbanned" if was else "not_banned", user_id=user_id)


def _is_user_id(argument: str) -> bool:
    return argument.isdigit() and 0 < int(argument) < 2**63


__all__ = ["REFRESH_S", "BanList"]
