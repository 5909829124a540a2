"""Buttons and commands after the profile: charts, group-by, top-N, correlations,
exports, history and data deletion.

Callback data is ``action:upload_id[:arg]`` (under Telegram's 64-byte limit);
choices of a multi-step flow (group-by column, then value, then aggregation) are
kept in the conversation store, so they survive a bot restart and expire on
their own. If that store is down, the user is asked to start the step again.
Every upload is looked up together with the pressing user's id: nobody can reach
another user's file by crafting callback data.
"""

from __future__ import annotations

import html
from typing import Any

import trio

from bot import analysis
from bot.blob_keys import user_folder
from bot.context import BotContext
from bot.domain import InlineButton, InlineKeyboard, TgCallbackQuery, TgMessage, Upload
from bot.errors import BlobNotFound, PortError
from bot.i18n import t

AGGREGATIONS = ("sum", "mean", "count")
MAX_COLUMN_BUTTONS = 24
HISTORY_LIMIT = 20


def profile_keyboard(upload_id: str, lang: str) -> InlineKeyboard:
    def b(key: str, action: str) -> InlineButton:
        return InlineButton(t(lang, key), f"{action}:{upload_id}")

    return (
        (b("btn_histogram", "h"), b("btn_timeseries", "s")),
        (b("btn_groupby", "g"), b("btn_top", "t")),
        (b("btn_corr", "c"),),
        (b("btn_report", "r"), b("btn_report_xlsx", "rx")),
    )


def _column_keyboard(columns: list[tuple[int, str, str]], action: str, upload_id: str) -> InlineKeyboard:
    rows: list[tuple[InlineButton, ...]] = []
    row: list[InlineButton] = []
    for index, name, _kind in columns[:MAX_COLUMN_BUTTONS]:
        label = name if len(name) <= 28 else name[:27] + "…"
        row.append(InlineButton(label, f"{action}:{upload_id}:{index}"))
        if len(row) == 2:
            rows.append(tuple(row))
            row = []
    if row:
        rows.append(tuple(row))
    return tuple(rows)


def _export_keyboard(upload_id: str, lang: str) -> InlineKeyboard:
    return (
        (
            InlineButton(t(lang, "btn_csv"), f"xc:{upload_id}"),
            InlineButton(t(lang, "btn_xlsx"), f"xx:{upload_id}"),
        ),
    )


# Buttons whose last part is a column number.
COLUMN_ACTIONS = frozenset({"hc", "tc", "gb", "gv", "sd", "sv"})


class Interactions:
    commands = frozenset({"/history", "/delete", "/forget"})

    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------ commands

    async def on_command(self, command: str, argument: str, message: TgMessage, lang: str) -> None:
        user_id = message.from_user.id if message.from_user else message.chat_id
        chat = message.chat_id
        if command == "/history":
            await self._history(chat, user_id, lang)
        elif command == "/delete":
            await self._delete(chat, user_id, argument, lang)
        elif command == "/forget":
            keyboard: InlineKeyboard = (
                (
                    InlineButton(t(lang, "btn_yes_forget"), "fy:all"),
                    InlineButton(t(lang, "btn_cancel"), "fn:all"),
                ),
            )
            await self.ctx.messenger.send_text(chat, t(lang, "forget_confirm"), reply_markup=keyboard)

    async def on_plain_text(self, text: str, message: TgMessage, lang: str) -> None:
        await self.ctx.messenger.send_text(message.chat_id, t(lang, "send_document"))

    async def _history(self, chat: int, user_id: int, lang: str) -> None:
        uploads = await self.ctx.call(
            "db.statement", self.ctx.services.repo.list_uploads, user_id, HISTORY_LIMIT
        )
        if not uploads:
            await self.ctx.messenger.send_text(chat, t(lang, "history_empty"))
            return
        lines = [t(lang, "history_title")]
        buttons: list[tuple[InlineButton, ...]] = []
        for number, upload in enumerate(uploads, start=1):
            when = upload.created_at.strftime("%Y-%m-%d %H:%M")
            lines.append(f"{number}. {html.escape(upload.file_name)} — {when}")
            label = f"{number}. {upload.file_name}"
            buttons.append((InlineButton(label[:40], f"p:{upload.upload_id}"),))
        await self.ctx.messenger.send_text(chat, "\n".join(lines), reply_markup=tuple(buttons[:10]))

    async def _delete(self, chat: int, user_id: int, argument: str, lang: str) -> None:
        if not argument.isdigit() or int(argument) < 1:
            await self.ctx.messenger.send_text(chat, t(lang, "delete_usage"))
            return
        uploads = await self.ctx.call(
            "db.statement", self.ctx.services.repo.list_uploads, user_id, HISTORY_LIMIT
        )
        number = int(argument)
        if number > len(uploads):
            await self.ctx.messenger.send_text(chat, t(lang, "delete_usage"))
            return
        deleted = await self.ctx.call(
            "db.statement", self.ctx.services.repo.delete_upload, user_id, uploads[number - 1].upload_id
        )
        if deleted is not None:
            await self._delete_blobs([deleted])
            await self.ctx.messenger.send_text(chat, t(lang, "deleted", name=html.escape(deleted.file_name)))

    async def _delete_blobs(self, uploads: list[Upload]) -> None:
        """Rows are gone already; a blob that fails to go is found by the orphan sweep."""
        for upload in uploads:
            if upload.blob_key is None:
                continue
            try:
                await self.ctx.call("storage.call", self.ctx.services.blobs.delete, upload.blob_key)
            except PortError as exc:
                self.ctx.log.warning("blob.delete_failed", key=upload.blob_key, error=str(exc))

    async def _delete_user_folder(self, user_id: int) -> None:
        """Every file left under the user's folder too: one whose row already let go of it
        (a rejected file whose deletion failed), or a worker stored without a row."""
        blobs = self.ctx.services.blobs
        try:
            left = await self.ctx.call("storage.call", blobs.list_keys, user_folder(user_id))
        except PortError as exc:
            self.ctx.log.warning("blob.list_failed", user_id=user_id, error=str(exc))
            return
        await self._delete_blobs_by_key(left)

    async def _delete_blobs_by_key(self, keys: list[str]) -> None:
        for key in keys:
            try:
                await self.ctx.call("storage.call", self.ctx.services.blobs.delete, key)
            except PortError as exc:
                self.ctx.log.warning("blob.delete_failed", key=key, error=str(exc))

    # ------------------------------------------------------------ buttons

    async def on_callback(self, query: TgCallbackQuery, lang: str) -> None:
        ctx = self.ctx
        with trio.move_on_after(ctx.guard.seconds("telegram.notice")):
            try:
                await ctx.messenger.answer_callback(query.id)  # stop the client's spinner first
            except PortError as exc:
                ctx.log.warning("callback.answer_failed", error=str(exc))
        action, _, rest = (query.data or "").partition(":")
        upload_id, _, arg = rest.partition(":")
        chat = query.chat_id if query.chat_id is not None else query.from_user.id
        user_id = query.from_user.id
        if action in {"fy", "fn"}:
            await self._forget(chat, user_id, action == "fy", lang)
            return
        if action in COLUMN_ACTIONS and not arg.isdigit():
            # Not a button this bot made: a client's bug or a forgery, not a crash of ours.
            ctx.log.info("callback.malformed", user_id=user_id, action=action)
            await ctx.messenger.send_text(chat, t(lang, "button_unknown"))
            return
        upload = await ctx.call("db.statement", ctx.services.repo.get_upload, user_id, upload_id)
        if upload is None or upload.blob_key is None:
            await ctx.messenger.send_text(chat, t(lang, "upload_gone"))
            return
        try:
            await self._dispatch(action, arg, upload, chat, user_id, lang)
        except BlobNotFound:
            await ctx.messenger.send_text(chat, t(lang, "upload_gone"))
        except analysis.AnalysisError as exc:  # e.g. a column with nothing to chart
            await ctx.messenger.send_text(chat, analysis.rejection_text(exc.rejected, lang))

    async def _dispatch(
        self, action: str, arg: str, upload: Upload, chat: int, user_id: int, lang: str
    ) -> None:
        ctx = self.ctx
        if action == "p":
            await self._show_profile(upload, chat, lang)
        elif action == "r":
            await self._send_report(upload, chat, lang)
        elif action == "rx":
            await self._send_report_xlsx(upload, chat, lang)
        elif action in {"h", "t"}:
            kinds = {
                "h": ("numeric", "category", "datetime"),
                "t": ("category", "text", "numeric", "datetime"),
            }
            await self._pick(upload, chat, lang, action + "c", kinds[action], "pick_column")
        elif action == "hc":
            data = await self._file(upload)
            png = await self._cpu(analysis.chart_histogram, data, upload.file_name, int(arg), lang)
            await ctx.messenger.send_photo(chat, "chart.png", png)
        elif action == "tc":
            await self._table(upload, chat, user_id, lang, {"kind": "top", "column": int(arg)})
        elif action == "c":
            await self._table(upload, chat, user_id, lang, {"kind": "corr"})
            data = await self._file(upload)
            png = await self._cpu(analysis.chart_correlations, data, upload.file_name, lang)
            await ctx.messenger.send_photo(chat, "correlations.png", png)
        elif action == "g":
            await self._pick(upload, chat, lang, "gb", ("category", "text", "datetime"), "pick_group_by")
        elif action == "gb":
            await self._remember(chat, user_id, {"flow": "group", "upload": upload.upload_id, "by": int(arg)})
            await self._pick(upload, chat, lang, "gv", ("numeric",), "pick_value")
        elif action == "gv":
            state = await self._recall(chat, user_id, upload.upload_id, "group", lang)
            if state is None:
                return
            await self._remember(chat, user_id, {**state, "value": int(arg)})
            keyboard = (
                tuple(
                    InlineButton(t(lang, f"btn_{agg}"), f"ga:{upload.upload_id}:{agg}")
                    for agg in AGGREGATIONS
                ),
            )
            await ctx.messenger.send_text(chat, t(lang, "pick_agg"), reply_markup=keyboard)
        elif action == "ga":
            state = await self._recall(chat, user_id, upload.upload_id, "group", lang)
            if state is None or "value" not in state or arg not in AGGREGATIONS:
                return
            spec = {"kind": "group", "by": state["by"], "value": state["value"], "agg": arg}
            await self._table(upload, chat, user_id, lang, spec)
        elif action == "s":
            await self._pick(upload, chat, lang, "sd", ("datetime",), "pick_date")
        elif action == "sd":
            await self._remember(
                chat, user_id, {"flow": "series", "upload": upload.upload_id, "date": int(arg)}
            )
            await self._pick(upload, chat, lang, "sv", ("numeric",), "pick_value")
        elif action == "sv":
            state = await self._recall(chat, user_id, upload.upload_id, "series", lang)
            if state is None:
                return
            data = await self._file(upload)
            png = await self._cpu(
                analysis.chart_timeseries, data, upload.file_name, int(arg), int(state["date"]), "auto", lang
            )
            await ctx.messenger.send_photo(chat, "timeseries.png", png)
        elif action in {"xc", "xx"}:
            state = await self._recall(chat, user_id, upload.upload_id, "table", lang)
            if state is None:
                return
            result = await self._compute_table(upload, state["spec"])
            # Up to MAX_EXPORT_ROWS rows, and openpyxl writes temporary files: in the CPU
            # runner, never on the loop.
            if action == "xc":
                data = await self._cpu(analysis.TableResult.to_csv_bytes, result)
                await ctx.messenger.send_document(chat, "result.csv", data)
            else:
                data = await self._cpu(analysis.TableResult.to_xlsx_bytes, result)
                await ctx.messenger.send_document(chat, "result.xlsx", data)

    async def _forget(self, chat: int, user_id: int, confirmed: bool, lang: str) -> None:
        if not confirmed:
            await self.ctx.messenger.send_text(chat, t(lang, "cancelled"))
            return
        deleted = await self.ctx.call("db.statement", self.ctx.services.repo.delete_user_data, user_id)
        await self._delete_blobs(deleted)
        await self._delete_user_folder(user_id)
        try:
            await self.ctx.call("redis", self.ctx.services.state.clear, chat, user_id)
        except PortError:
            pass  # it expires by itself
        await self.ctx.messenger.send_text(chat, t(lang, "forgotten", count=len(deleted)))

    async def _show_profile(self, upload: Upload, chat: int, lang: str) -> None:
        stored = await self.ctx.call(
            "db.statement", self.ctx.services.repo.get_result_for_upload, upload.upload_id
        )
        if stored is None:
            await self.ctx.messenger.send_text(chat, t(lang, "upload_gone"))
            return
        messages = analysis.render_profile(analysis.Profile.from_json(stored.payload), lang)
        for number, text in enumerate(messages):
            last = number == len(messages) - 1
            keyboard = profile_keyboard(upload.upload_id, lang) if last else None
            await self.ctx.messenger.send_text(chat, text, reply_markup=keyboard)

    async def _send_report(self, upload: Upload, chat: int, lang: str) -> None:
        """The full profile as one HTML file (built from the stored profile, in a worker process)."""
        repo = self.ctx.services.repo
        stored = await self.ctx.call("db.statement", repo.get_result_for_upload, upload.upload_id)
        if stored is None:
            await self.ctx.messenger.send_text(chat, t(lang, "upload_gone"))
            return
        page = await self._cpu(analysis.report_html, stored.payload, lang)
        await self.ctx.messenger.send_document(chat, analysis.report_file_name(upload.file_name), page)

    async def _send_report_xlsx(self, upload: Upload, chat: int, lang: str) -> None:
        """The full profile as an XLSX workbook, one sheet per part (like the HTML report)."""
        repo = self.ctx.services.repo
        stored = await self.ctx.call("db.statement", repo.get_result_for_upload, upload.upload_id)
        if stored is None:
            await self.ctx.messenger.send_text(chat, t(lang, "upload_gone"))
            return
        book = await self._cpu(analysis.report_xlsx, stored.payload, lang)
        await self.ctx.messenger.send_document(chat, analysis.report_xlsx_name(upload.file_name), book)

    async def _pick(
        self, upload: Upload, chat: int, lang: str, action: str, kinds: tuple[str, ...], prompt: str
    ) -> None:
        stored = await self.ctx.call(
            "db.statement", self.ctx.services.repo.get_result_for_upload, upload.upload_id
        )
        if stored is None:
            await self.ctx.messenger.send_text(chat, t(lang, "upload_gone"))
            return
        choices = analysis.column_choices(analysis.Profile.from_json(stored.payload))
        columns = [c for c in choices if c[2] in kinds]
        if not columns:
            await self.ctx.messenger.send_text(chat, t(lang, "no_columns"))
            return
        keyboard = _column_keyboard(columns, action, upload.upload_id)
        await self.ctx.messenger.send_text(chat, t(lang, prompt), reply_markup=keyboard)

    async def _table(self, upload: Upload, chat: int, user_id: int, lang: str, spec: dict[str, Any]) -> None:
        result = await self._compute_table(upload, spec)
        await self._remember(chat, user_id, {"flow": "table", "upload": upload.upload_id, "spec": spec})
        text = analysis.render_table(result, lang)
        await self.ctx.messenger.send_text(chat, text, reply_markup=_export_keyboard(upload.upload_id, lang))

    async def _compute_table(self, upload: Upload, spec: dict[str, Any]) -> analysis.TableResult:
        data = await self._file(upload)
        name = upload.file_name
        if spec["kind"] == "top":
            result = await self._cpu(analysis.top_n, data, name, int(spec["column"]), 10)
        elif spec["kind"] == "corr":
            result = await self._cpu(analysis.correlations, data, name)
        else:
            result = await self._cpu(
                analysis.group_by, data, name, int(spec["by"]), int(spec["value"]), str(spec["agg"])
            )
        assert isinstance(result, analysis.TableResult)
        return result

    async def _file(self, upload: Upload) -> bytes:
        ctx = self.ctx
        key = upload.blob_key or ""
        return await ctx.call("storage.download", ctx.services.blobs.get, key)

    async def _cpu(self, fn: Any, *args: Any) -> Any:
        return await self.ctx.guard.call("analysis", self.ctx.services.cpu.run, "interactive", fn, *args)

    async def _remember(self, chat: int, user_id: int, data: dict[str, Any]) -> None:
        try:
            await self.ctx.call(
                "redis", self.ctx.services.state.set, chat, user_id, data, self.ctx.settings.state_ttl_s
            )
        except PortError as exc:
            self.ctx.log.warning("state.set_failed", error=str(exc))

    async def _recall(
        self, chat: int, user_id: int, upload_id: str, flow: str, lang: str
    ) -> dict[str, Any] | None:
        try:
            state = await self.ctx.call("redis", self.ctx.services.state.get, chat, user_id)
        except PortError as exc:
            self.ctx.log.warning("state.get_failed", error=str(exc))
            state = None
        if state is None or state.get("flow") != flow or state.get("upload") != upload_id:
            await self.ctx.messenger.send_text(chat, t(lang, "state_unavailable"))
            return None
        return state
