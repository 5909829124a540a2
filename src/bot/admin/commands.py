"""Routing of the admin commands: only ``ADMIN_IDS`` may use them; every use, and
every attempt by anyone else, goes to the audit log first; each answer is in the
admin's language."""

from __future__ import annotations

from bot.admin.bans import BanList
from bot.admin.broadcast import BroadcastRunner
from bot.admin.job_tools import retry_job, show_job
from bot.admin.stats import stats_text
from bot.context import BotContext
from bot.domain import TgMessage
from bot.errors import PortError
from bot.i18n import t

AUDIT_DETAIL_CHARS = 200


class AdminCommands:
    commands = frozenset({"/stats", "/job", "/retry", "/ban", "/unban", "/broadcast"})

    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx
        self.bans = BanList(ctx)
        self.broadcasts = BroadcastRunner(ctx)

    async def on_command(self, command: str, argument: str, message: TgMessage, lang: str) -> None:
        user_id = message.from_user.id if message.from_user else message.chat_id
        chat = message.chat_id
        if user_id not in self.ctx.settings.admin_ids:
            self.ctx.log.warning("admin.refused", user_id=user_id, command=command, reason="not_admin")
            await self._audit(user_id, "denied", command)
            await self.ctx.messenger.send_text(chat, t(lang, "not_admin"))
            return
        await self._audit(user_id, _action(command, argument), argument)
        reply = await self._run(command, argument, user_id, chat, lang)
        if reply is not None:
            await self.ctx.messenger.send_text(chat, reply)

    async def _run(self, command: str, argument: str, user_id: int, chat: int, lang: str) -> str | None:
        ctx = self.ctx
        if command == "/stats":
            now = ctx.services.clock.now()
            stats = await ctx.call("db.statement", ctx.services.repo.admin_stats, now)
            return stats_text(stats, ctx.services.metrics.snapshot(), now, lang)
        if command == "/job":
            return await show_job(ctx, argument, lang)
        if command == "/retry":
            return await retry_job(ctx, argument, lang)
        if command == "/ban":
            return await self.bans.ban(user_id, argument, lang)
        if command == "/unban":
            return await self.bans.unban(argument, lang)
        return await self.broadcasts.command(user_id, chat, argument, lang)

    async def _audit(self, user_id: int, action: str, detail: str) -> None:
        """Best effort: an audit that cannot be written is logged, the command goes on."""
        try:
            now = self.ctx.services.clock.now()
            await self.ctx.call(
                "db.statement",
                self.ctx.services.repo.record_admin_action,
                user_id,
                action,
                detail[:AUDIT_DETAIL_CHARS],
                now,
            )
        except PortError as exc:
            self.ctx.log.warning("admin.audit_failed", user_id=user_id, action=action, error=str(exc))


def _action(command: str, argument: str) -> str:
    """The audit log's action: the command's name (``broadcast_cancel``, ``broadcast_status``)."""
    action = command.removeprefix("/")
    word = argument.strip().lower()
    if action == "broadcast" and word in {"status", "cancel"}:
        return f"broadcast_{word}"
    return action


__all__ = ["AdminCommands"]
