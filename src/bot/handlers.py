"""Routing of one update to its flow, under the handler deadline.

A handler that runs out of time is cancelled, and the user is told so (with a
fresh, short budget for that message). A bug in one handler is logged and
answered, never allowed to stop the poller.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import trio

from bot.admin.commands import AdminCommands
from bot.claims import ClaimBatcher
from bot.context import BotContext
from bot.domain import TgMessage, Update
from bot.errors import DeadlineExceeded, PortError, TelegramError
from bot.i18n import pick_language, t
from bot.interact import Interactions
from bot.policy import Op
from bot.updates import ParkUpdate, RetryUpdate
from bot.upload_hold import UploadHolds, UploadNotRecorded, first_to_say, mark_first, remember_said
from bot.uploads import accept_document, clean_file_name

LANGUAGE_CACHE_SIZE = 50_000
CLAIMED_MEMORY = 10_000


def _command(text: str) -> tuple[str, str]:
    """``/Start@bot now`` -> ``("/start", "now")``; plain text gives a command that is no command."""
    command, _, argument = text.strip().partition(" ")
    return command.split("@", 1)[0].lower(), argument


def _is_start(update: Update) -> bool:
    message = update.message
    return message is not None and message.text is not None and _command(message.text)[0] == "/start"


def _is_upload(update: Update) -> bool:
    message = update.message
    return message is not None and message.document is not None and message.from_user is not None


class Router:
    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx
        self.interactions = Interactions(ctx)
        self.admin = AdminCommands(ctx)
        self._languages: dict[int, str] = {}
        self._claimed_here: dict[int, None] = {}  # insertion-ordered set, oldest first
        # Uploads waiting for the database (bot.upload_hold), bounded.
        self.holds = UploadHolds(ctx.settings.upload_hold_s, capacity=ctx.settings.max_held_uploads)
        # Claims made at the same time share one transaction (bot.claims).
        self._claims = ClaimBatcher(self._claim_many)
        # Told when an update's claim is in the database (the poller's settled()).
        self.on_claimed: Callable[[int], None] | None = None
        # Whether an earlier process may have handled the update (the poller's redelivered()).
        self.maybe_redelivered: Callable[[int], bool] = lambda update_id: False

    async def handle(self, update: Update) -> None:
        ctx = self.ctx
        ctx.services.metrics.count("updates")
        lang = "en"
        # A button press may re-read a file and draw a chart: it gets a longer budget.
        budget: Op = "interactive" if update.callback_query is not None else "handler"
        start = trio.current_time()
        try:
            with trio.fail_after(ctx.guard.seconds(budget)):
                lang = await self._language(update)
                refusal = await self._route(update, lang)
        except UploadNotRecorded as exc:
            ctx.services.metrics.observe(budget, trio.current_time() - start, "held")
            told = await self._hold_upload(update, lang, exc)
        except trio.TooSlowError:
            ctx.services.metrics.observe(budget, ctx.guard.seconds(budget), "timeout")
            ctx.log.warning("handler.timeout", update_id=update.update_id)
            if _is_upload(update):
                # Only database calls come before an upload is recorded (which ends
                # before this deadline, see bot.uploads): the database is away.
                told = await self._hold_upload(update, lang, None)
            else:
                told = await self._tell(update, t(lang, "timeout"))
        except PortError as exc:
            ctx.log.warning("handler.port_error", update_id=update.update_id, error=str(exc))
            told = await self._tell(update, t(lang, "timeout"))
        except Exception as exc:  # a bug: answer, log, keep polling
            ctx.log.error("handler.crashed", update_id=update.update_id, error=repr(exc))
            told = await self._tell(update, t(lang, "internal_error"))
        else:
            # An upload's refusal is its answer, sent under a budget of its own: handled
            # again until it is heard, as an apology would be.
            if refusal is not None and not await self._tell(update, refusal):
                raise RetryUpdate
            ctx.services.metrics.observe(budget, trio.current_time() - start, "ok")
            self.holds.release(update.update_id)
            return
        if not told:
            # Not even the apology got through: Telegram is unreachable. Handle the
            # update again later rather than confirm it with the user unanswered.
            raise RetryUpdate
        # The apology is this update's answer. Its claim may never have reached the
        # database, and a held upload may keep the offset down: a restarted process handed
        # it again must not answer it a second time, long after.
        await remember_said(ctx, "answered", update.update_id)
        self.holds.release(update.update_id)

    async def _hold_upload(self, update: Update, lang: str, failure: UploadNotRecorded | None) -> bool:
        """The database did not answer while recording an upload: hold it (tell the user
        once that it waits, and raise :class:`ParkUpdate` so the poller tries it again),
        or, when the hold is over or full, ask for the file again. True when answered."""
        message = update.message
        assert message is not None and message.document is not None
        clock = self.ctx.services.clock
        now = trio.current_time()
        held = self.holds.hold(
            update.update_id,
            failure.upload_id if failure is not None else str(clock.new_id()),
            failure.job_id if failure is not None else str(clock.new_id()),
            now,
        )
        # Without an exception the deadline cut the try: it may have reached the database.
        maybe_recorded = failure is None or failure.maybe_recorded
        if held is not None:
            held.maybe_recorded = held.maybe_recorded or maybe_recorded
        shown = html.escape(clean_file_name(message.document.file_name))
        if held is None or self.holds.expired(held, now):
            self.ctx.services.metrics.count("uploads", "rejected:db_unreachable")
            self.ctx.log.error("upload.hold_ended", update_id=update.update_id, held=held is not None)
            # Saved or not, nobody can tell now: say so rather than ask for a resend
            # that may end in two answers.
            unsure = held.maybe_recorded if held is not None else maybe_recorded
            key = "upload_unconfirmed" if unsure else "busy_retry_upload"
            return await self._tell(update, t(lang, key, name=shown))
        if not held.told:
            # Marked before sending: the user hears it at most once, however often it is
            # tried, and by whichever process (a restart hands the update to another one).
            # A redelivered update whose marker cannot be read now may have been told by
            # the process before: it is asked again on the next try, not told blind.
            first = await mark_first(self.ctx, "told", update.update_id)
            unmarked = first is None
            if unmarked and not self.maybe_redelivered(update.update_id):
                first = True  # no process before this one had the update
            if first is not None:
                held.told = True
                self.ctx.services.metrics.count("uploads", "held")
                self.ctx.log.warning("upload.held", update_id=update.update_id, hold_s=self.holds.hold_s)
            if first:
                await self._tell(update, t(lang, "upload_held", name=shown))
                if unmarked:  # told without the marker: leave it for a process after this one
                    await remember_said(self.ctx, "told", update.update_id)
        raise ParkUpdate

    async def on_flood(self, update: Update) -> None:
        """The update that tipped a chat into flooding: tell the user once (not a banned one)."""
        user = update.user
        if (
            user is not None
            and user.id not in self.ctx.settings.admin_ids
            and await self.admin.bans.is_banned(user.id)
        ):
            return
        lang = await self._language(update)
        await self._tell(update, t(lang, "slow_down"))

    async def _tell(self, update: Update, text: str) -> bool:
        """Best-effort reply under a fresh short budget; True if it was delivered."""
        chat_id = update.chat_id
        if chat_id is None:
            return True
        told = await self.ctx.messenger.tell(
            chat_id, text, failed="handler.reply_failed", update_id=update.update_id
        )
        if isinstance(told, TelegramError):
            # Refused (blocked by the user, chat gone): a retry would be refused too.
            return 400 <= told.error_code < 500 and told.error_code != 429
        return told

    async def _language(self, update: Update) -> str:
        user = update.user
        if user is None:
            return "en"
        cached = self._languages.get(user.id)
        if cached is not None:
            return cached
        if _is_start(update):
            # /start stores the user and reads their language in the same call (_remember_user).
            return pick_language(user.language_code)
        try:
            stored = await self.ctx.call("db.statement", self.ctx.services.repo.get_user_language, user.id)
        except (PortError, DeadlineExceeded):
            stored = None  # the language is a nicety; answer in the client's language
        lang = stored or pick_language(user.language_code)
        self.remember_language(user.id, lang)
        return lang

    def remember_language(self, user_id: int, lang: str) -> None:
        if len(self._languages) >= LANGUAGE_CACHE_SIZE:
            self._languages.pop(next(iter(self._languages)))
        self._languages[user_id] = lang

    async def _route(self, update: Update, lang: str) -> str | None:
        """Handle the update; an upload's refusal comes back to be sent (see accept_document)."""
        if await self._banned(update):
            return None
        message = update.message
        if message is not None and message.document is not None and message.from_user is not None:
            held = self.holds.get(update.update_id)
            # A hold whose marker could not be read (told is False) may follow an earlier
            # process's notice as much as a first try may.
            redelivered = (held is None or not held.told) and self.maybe_redelivered(update.update_id)
            return await accept_document(
                self.ctx, update.update_id, message, lang, held, redelivered=redelivered
            )
        if not await self._claim(update.update_id):
            return None
        if update.callback_query is not None:
            await self.interactions.on_callback(update.callback_query, lang)
        elif message is not None and message.text is not None:
            await self._on_text(message, lang)
        return None

    async def _banned(self, update: Update) -> bool:
        """A banned user's update is claimed (so confirmed, never handled again) and ignored."""
        user = update.user
        if (
            user is None
            or user.id in self.ctx.settings.admin_ids
            or not await self.admin.bans.is_banned(user.id)
        ):
            return False
        await self._claim(update.update_id)
        self.ctx.services.metrics.count("updates", "banned")
        self.ctx.log.info("update.banned_ignored", update_id=update.update_id, user_id=user.id)
        return True

    async def _claim(self, update_id: int) -> bool:
        """Take effect once per update_id; when the database is down, answer anyway
        (a repeated reply is better than none). An update this process claimed and
        is handling again (its answer did not get through) is still ours."""
        if update_id in self._claimed_here:
            return True
        try:
            claimed = await self._claims.claim(update_id)
        except PortError as exc:
            self.ctx.log.warning("update.claim_failed", update_id=update_id, error=str(exc))
            # Answered without a claim in Postgres. Held uploads keep the offset down, so a
            # restart hands this update to the next process: a marker stops a second answer.
            claimed = await first_to_say(self.ctx, "answered", update_id)
            if claimed:
                self._remember_claim(update_id)
            return claimed
        if claimed and self.maybe_redelivered(update_id):
            # The claim is new, but an earlier process may have answered it while Postgres was away.
            claimed = await first_to_say(self.ctx, "answered", update_id)
        if not claimed:
            self.ctx.log.debug("update.duplicate_dropped", update_id=update_id)
        if claimed:
            self._remember_claim(update_id)
            if self.on_claimed is not None:
                self.on_claimed(update_id)
        return claimed

    def _remember_claim(self, update_id: int) -> None:
        if len(self._claimed_here) >= CLAIMED_MEMORY:
            self._claimed_here.pop(next(iter(self._claimed_here)))
        self._claimed_here[update_id] = None

    async def _claim_many(self, update_ids: Sequence[int]) -> set[int]:
        services = self.ctx.services
        return await self.ctx.call(
            "db.statement", services.repo.claim_updates, update_ids, services.clock.now()
        )

    async def _on_text(self, message: TgMessage, lang: str) -> None:
        text = (message.text or "").strip()
        command, argument = _command(text)
        chat = message.chat_id
        user_id = message.from_user.id if message.from_user else chat
        if command == "/start":
            lang = await self._remember_user(user_id, lang)
            await self.ctx.messenger.send_text(chat, t(lang, "start"))
        elif command == "/help":
            await self.ctx.messenger.send_text(chat, t(lang, "help"))
        elif command == "/lang":
            new_lang = "en" if lang == "ru" else "ru"
            if argument.strip().lower() in {"ru", "en"}:
                new_lang = argument.strip().lower()
            await self.ctx.call("db.statement", self.ctx.services.repo.set_user_language, user_id, new_lang)
            self.remember_language(user_id, new_lang)
            await self.ctx.messenger.send_text(chat, t(new_lang, "lang_set"))
        elif command in self.admin.commands:
            await self.admin.on_command(command, argument.strip(), message, lang)
        elif command in self.interactions.commands:
            await self.interactions.on_command(command, argument.strip(), message, lang)
        elif command.startswith("/"):
            await self.ctx.messenger.send_text(chat, t(lang, "unknown_command"))
        else:
            await self.interactions.on_plain_text(text, message, lang)

    async def _remember_user(self, user_id: int, lang: str) -> str:
        """Store the user (``lang`` for a new one); the language to answer in: the one
        stored for them, or ``lang`` when the database does not answer."""
        try:
            stored = await self.ctx.call("db.statement", self.ctx.services.repo.upsert_user, user_id, lang)
        except PortError as exc:
            self.ctx.log.warning("user.upsert_failed", user_id=user_id, error=str(exc))
            return lang
        self.remember_language(user_id, stored)
        return stored
