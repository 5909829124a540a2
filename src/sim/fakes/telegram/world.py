"""The Bot API emulator's in-memory core.

One bot, its chats and the people in them. Bot-side methods are async, take and
return Bot API-shaped values (the HTTP server is a thin codec around them) and
raise :class:`BotApiError` with the real API's error codes and descriptions.
User-side actions are plain synchronous calls that queue updates.

Deterministic by construction: ids are counters, dates come from the injected
``now``, waiting uses trio primitives only (a virtual clock in simulation).
Every bot-side method finishes its state change without awaiting, so cancelling
a caller leaves either the whole effect or none of it.

Fidelity notes (where the emulator is simpler than Telegram):
- returned messages carry the visible text but no ``entities``;
- "message is not modified" compares raw text, parse mode and keyboard;
- callback queries never expire, but can be answered only once;
- HTML is checked as described in :mod:`sim.fakes.telegram.entities`; Markdown is not checked.
"""

from __future__ import annotations

import hmac
import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from bot.domain import InlineKeyboard, TgUser
from sim.fakes.telegram import wire
from sim.fakes.telegram.entities import PARSE_MODES, EntityError, utf16_len, visible_text
from sim.fakes.telegram.limits import LIMITED_METHODS, PACED, SENT_AT, SendLimits
from sim.fakes.telegram.records import SentKind, SentRecord, StoredFile, UserAction

JsonDict = dict[str, Any]

MAX_MESSAGE_UTF16 = 4096
MAX_CAPTION_UTF16 = 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile's limit for bots
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # what a bot may send as a document
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # documented photo limit

NOT_FOUND = "Not Found"
UNAUTHORIZED = "Unauthorized"
CHAT_NOT_FOUND = "Bad Request: chat not found"
BLOCKED = "Forbidden: bot was blocked by the user"
TEXT_EMPTY = "Bad Request: message text is empty"
TEXT_TOO_LONG = "Bad Request: message is too long"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
FILE_TOO_BIG = "Bad Request: file is too big"
INVALID_FILE_ID = "Bad Request: invalid file_id"
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
TERMINATED = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)

DEFAULT_EPOCH = 1_700_000_000

# The mime types Telegram clients attach to common uploads. Telegram Desktop sends
# CSV files as text/comma-separated-values, which is why it is the default here.
_MIME_BY_EXT = {
    "csv": "text/comma-separated-values",
    "tsv": "text/tab-separated-values",
    "txt": "text/plain",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xls": "application/vnd.ms-excel",
    "zip": "application/zip",
    "gz": "application/gzip",
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
}
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")


class BotApiError(Exception):
    """An ``ok: false`` answer of the Bot API."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after


class BotApiUnavailable(Exception):
    """No answer at all: the emulated equivalent of a dropped connection or a proxy's 502."""

    def __init__(self, method: str) -> None:
        super().__init__(f"{method}: no response")
        self.method = method


class WireFault(Protocol):
    """A fault acting on one Bot API call (the kinds are in sim.simulator.faults.kinds)."""

    @property
    def phase(self) -> str:
        """ "before" the call takes effect, or "after" it (the answer is then lost or late)."""
        ...

    async def strike(self, method: str) -> None:
        """Raise the Bot API's answer (BotApiError, BotApiUnavailable), or delay and return."""
        ...


class WireFaultSource(Protocol):
    def take(self, method: str) -> WireFault | None:
        """The fault that acts on this call of ``method``, if any."""
        ...


@dataclass(slots=True)
class _Message:
    chat: JsonDict
    message_id: int
    date: int
    sender: TgUser | None  # None: the bot
    text: str | None = None
    parse_mode: str | None = None
    reply_markup: InlineKeyboard | None = None
    caption: str | None = None
    document: JsonDict | None = None
    photo: list[JsonDict] | None = None
    extra: JsonDict = field(default_factory=dict)


def _sent_at() -> float:
    """When the call in progress left the bot: before any delay on the way to the world
    (the fault proxy's) or inside it (a ``botapi_delay``)."""
    sent = SENT_AT.get()
    return trio.current_time() if sent is None else sent


def _epoch() -> int:
    return DEFAULT_EPOCH


def _extension(file_name: str | None) -> str:
    if not file_name or "." not in file_name:
        return ""
    ext = file_name.rsplit(".", 1)[1].lower()
    return ext if ext.isalnum() and len(ext) <= 8 else ""


def _png_size(data: bytes) -> tuple[int, int]:
    if data.startswith(_IMAGE_MAGIC[0]) and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 0, 0


class BotApiWorld:
    """The emulated Telegram for one bot token."""

    def __init__(
        self,
        token: str,
        *,
        now: Callable[[], int] = _epoch,
        bot_first_name: str = "CSV Analytics",
        bot_username: str = "csv_analytics_bot",
        first_update_id: int = 1,
        limits: SendLimits | None = None,
    ) -> None:
        self._token = token
        self.limits = limits  # Telegram's flood limits on sends (None: unlimited, uncounted)
        self._now = now
        prefix = token.split(":", 1)[0]
        self.bot_user = TgUser(
            id=int(prefix) if prefix.isdigit() else 1, first_name=bot_first_name, username=bot_username
        )
        self.calls: Counter[str] = Counter()  # bot-side calls by method, faults included

        self._updates: list[tuple[int, JsonDict]] = []
        self._next_update_id = first_update_id
        self._allowed_updates: frozenset[str] | None = None
        self._updates_changed = trio.Event()
        self._poll_generation = 0
        self._webhook_conflict = False

        self._chats: dict[int, JsonDict] = {}
        self._blocked: set[int] = set()
        self._last_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], _Message] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_counter = 0
        self._open_queries: dict[str, int] = {}  # callback query id -> chat id
        self._query_counter = 0

        self._log: list[SentRecord] = []
        self._log_by_chat: dict[int, list[SentRecord]] = {}
        self._log_changed = trio.Event()
        self._next_faults: dict[str, deque[WireFault]] = {}  # by lower-cased method
        self._fault_sources: list[WireFaultSource] = []

    def __repr__(self) -> str:
        return f"BotApiWorld(bot={self.bot_user.username!r}, chats={len(self._chats)})"

    # ------------------------------------------------------------ fault knobs

    def inject(self, method: str, fault: WireFault, count: int = 1) -> None:
        """The next ``count`` calls of ``method`` (any case; ``downloadFile`` for file bytes)
        meet ``fault``, ahead of any fault source."""
        self._next_faults.setdefault(method.lower(), deque()).extend([fault] * count)

    def add_fault_source(self, source: WireFaultSource) -> None:
        """Asked on every call that has no injected fault waiting (a scenario's windows)."""
        self._fault_sources.append(source)

    def set_webhook_conflict(self, active: bool) -> None:
        """While active, getUpdates answers 409 as if a webhook were set for the token."""
        self._webhook_conflict = active

    def set_blocked(self, chat_id: int, blocked: bool = True) -> None:
        """The user of a private chat blocks (or unblocks) the bot: sends answer 403."""
        if blocked:
            self._blocked.add(chat_id)
        else:
            self._blocked.discard(chat_id)

    def clear_faults(self) -> None:
        self._next_faults.clear()
        self._webhook_conflict = False

    def _take_fault(self, method: str) -> WireFault | None:
        queue = self._next_faults.get(method.lower())
        if queue:
            return queue.popleft()
        for source in self._fault_sources:
            if (fault := source.take(method)) is not None:
                return fault
        return None

    async def _before(self, method: str, request: str = "") -> WireFault | None:
        """Applies a "before" fault; returns an "after" one for :meth:`_after`. ``request``:
        what a call that sends nothing names (a file id or path, a query id), for the
        429 that holds a repeat of it (:meth:`note_refused`)."""
        self.calls[method] += 1
        if self.limits is not None and (retry_after := self.limits.admit_call(method, request)) is not None:
            raise BotApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        fault = self._take_fault(method)
        if fault is None:
            return None
        if fault.phase == "after":
            return fault
        try:
            await fault.strike(method)
        except BotApiError as exc:
            if exc.error_code == 429 and exc.retry_after is not None:
                self.note_refused(method, exc.retry_after, request)
            raise
        return None

    def note_refused(self, method: str, retry_after: float, request: str = "") -> None:
        """A 429 given to ``method`` (a Bot API name, or a port method's snake_case name)
        by a fault: on a send it holds the token, on any other call that ``request``."""
        if self.limits is not None:
            name = method.replace("_", "").lower()
            if name in LIMITED_METHODS:
                self.limits.note_retry_after(None, retry_after)  # a 429 applies to the token
            else:
                self.limits.note_retry_after(None, retry_after, name, request)

    def note_departure(self, method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool | None:
        """A port call leaves the bot (the fault proxy tells, before the delay on the way):
        a send is judged on the bot's pacing now, in the order sends leave."""
        if self.limits is None:
            return None
        chat_id = kwargs.get("chat_id", args[0] if args else None)
        return self.limits.depart(method, chat_id if isinstance(chat_id, int) else None, trio.current_time())

    def _paced(self, method: str, chat_id: int, sent_at: float) -> bool | None:
        """The send's verdict on the bot's pacing: the proxy's, or judged as it enters here
        (before a wire fault's delay)."""
        paced = PACED.get()
        if paced is None and self.limits is not None:
            paced = self.limits.depart(method, chat_id, sent_at)
        return paced

    def _admit(self, method: str, chat_id: int, sent_at: float, paced: bool | None) -> None:
        """429 with ``retry_after`` past Telegram's flood limits (when they are enforced)."""
        if self.limits is None:
            return
        retry_after = self.limits.admit(method, chat_id, sent_at, paced)
        if retry_after is not None:
            raise BotApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)

    async def _after(self, method: str, fault: WireFault | None) -> None:
        if fault is not None:
            await fault.strike(method)

    # ------------------------------------------------------------ access

    def authorize(self, token: str) -> None:
        """401 for any token but the bot's (compared in constant time)."""
        if not hmac.compare_digest(token.encode("utf-8"), self._token.encode("utf-8")):
            raise BotApiError(401, UNAUTHORIZED)

    # ------------------------------------------------------------ updates

    async def get_updates(
        self,
        *,
        offset: int | None = None,
        limit: int = 100,
        timeout: float = 0,
        allowed_updates: Iterable[str] | None = None,
    ) -> list[JsonDict]:
        """Confirm updates below ``offset``, then return up to ``limit`` pending ones,
        waiting up to ``timeout`` seconds for the first to arrive."""
        fault = await self._before("getUpdates")
        if self._webhook_conflict:
            raise BotApiError(409, WEBHOOK_ACTIVE)
        if allowed_updates is not None:
            kinds = frozenset(allowed_updates)
            self._allowed_updates = kinds or None  # an empty list means "all", as in the real API
        self._confirm(offset)
        limit = min(max(limit, 1), 100)
        # A newer getUpdates terminates an older one still waiting, as Telegram does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake(updates=True)
        deadline = trio.current_time() + max(timeout, 0.0)
        while True:
            if generation != self._poll_generation:
                raise BotApiError(409, TERMINATED)
            batch = [update for _, update in self._updates[:limit]]
            if batch or trio.current_time() >= deadline:
                break
            with trio.move_on_at(deadline):
                await self._updates_changed.wait()
        await self._after("getUpdates", fault)
        return batch

    def _confirm(self, offset: int | None) -> None:
        if not offset:
            return
        if offset < 0:  # keep only the last -offset updates
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if u[0] >= offset]

    def _queue_update(self, kind: str, payload: JsonDict) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        if self._allowed_updates is None or kind in self._allowed_updates:
            self._updates.append((update_id, {"update_id": update_id, kind: payload}))
            self._wake(updates=True)
        return update_id

    def _wake(self, *, updates: bool = False, log: bool = False) -> None:
        if updates:
            self._updates_changed.set()
            self._updates_changed = trio.Event()
        if log:
            self._log_changed.set()
            self._log_changed = trio.Event()

    @property
    def pending_updates(self) -> int:
        """Updates delivered or not, but not yet confirmed by an offset."""
        return len(self._updates)

    # ------------------------------------------------------------ user side

    def _user_chat(self, user: TgUser, chat_id: int) -> JsonDict:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = wire.chat_to_wire(chat_id, user)
            self._chats[chat_id] = chat
        return chat

    def _new_message(self, chat: JsonDict, sender: TgUser | None, **fields: Any) -> _Message:
        chat_id = int(chat["id"])
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        msg = _Message(chat=chat, message_id=message_id, date=self._now(), sender=sender, **fields)
        self._messages[(chat_id, message_id)] = msg
        return msg

    def _store_file(
        self, folder: str, prefix: str, file_name: str | None, mime: str | None, data: bytes
    ) -> StoredFile:
        self._file_counter += 1
        n = self._file_counter
        ext = _extension(file_name) or ("jpg" if folder == "photos" else "")
        stored = StoredFile(
            file_id=f"{prefix}{n:010d}",
            file_unique_id=f"AgAD{n:06d}",
            file_path=f"{folder}/file_{n}" + (f".{ext}" if ext else ""),
            file_name=file_name,
            mime_type=mime,
            data=data,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def user_sends_text(self, user: TgUser, chat_id: int, text: str) -> UserAction:
        if not text:
            raise ValueError("a Telegram message cannot be empty")
        chat = self._user_chat(user, chat_id)
        extra: JsonDict = {}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        msg = self._new_message(chat, user, text=text, extra=extra)
        update_id = self._queue_update("message", self._message_wire(msg))
        return UserAction(update_id=update_id, message_id=msg.message_id)

    def user_sends_document(
        self,
        user: TgUser,
        chat_id: int,
        file_name: str,
        data: bytes,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> UserAction:
        if not data:
            raise ValueError("Telegram clients do not send empty files")
        chat = self._user_chat(user, chat_id)
        mime = mime_type or _MIME_BY_EXT.get(_extension(file_name), "application/octet-stream")
        stored = self._store_file("documents", "BQACAgIAAxkB", file_name, mime, data)
        msg = self._new_message(chat, user, document=self._document_wire(stored), caption=caption)
        update_id = self._queue_update("message", self._message_wire(msg))
        return UserAction(update_id=update_id, message_id=msg.message_id, file_id=stored.file_id)

    def user_presses_button(
        self, user: TgUser, chat_id: int, message_id: int, callback_data: str, *, forged: bool = False
    ) -> UserAction:
        """A press of one of the message's buttons. ``forged=True`` skips the check
        that the button exists: what a modified client could send, for security tests."""
        msg = self._messages.get((chat_id, message_id))
        if msg is None or msg.sender is not None:
            raise ValueError(f"no bot message {message_id} in chat {chat_id}")
        buttons = [b.callback_data for row in msg.reply_markup or () for b in row]
        if not forged and callback_data not in buttons:
            raise ValueError(f"message {message_id} has no button with data {callback_data!r}")
        self._query_counter += 1
        query_id = str(4_000_000_000_000_000_000 + self._query_counter)
        self._open_queries[query_id] = chat_id
        payload = {
            "id": query_id,
            "from": wire.user_to_wire(user),
            "message": self._message_wire(msg),
            "chat_instance": str(-chat_id),
            "data": callback_data,
        }
        update_id = self._queue_update("callback_query", payload)
        return UserAction(update_id=update_id, message_id=message_id, callback_query_id=query_id)

    # ------------------------------------------------------------ bot side: validation

    def _writable_chat(self, chat_id: int) -> JsonDict:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise BotApiError(400, CHAT_NOT_FOUND)
        if chat_id in self._blocked:
            raise BotApiError(403, BLOCKED)
        return chat

    @staticmethod
    def _keyboard(reply_markup: Mapping[str, Any] | None) -> InlineKeyboard | None:
        try:
            return wire.keyboard_from_wire(reply_markup)
        except wire.WireError as exc:
            raise BotApiError(400, f"Bad Request: {exc}") from None

    @staticmethod
    def _parse_mode(parse_mode: str | None) -> str | None:
        if not parse_mode:
            return None
        if parse_mode not in PARSE_MODES:
            raise BotApiError(400, "Bad Request: unsupported parse_mode")
        return parse_mode

    @staticmethod
    def _visible(text: str, parse_mode: str | None, *, limit: int, too_long: str) -> str:
        try:
            visible = visible_text(text, parse_mode)
        except EntityError as exc:
            raise BotApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        if utf16_len(visible) > limit:
            raise BotApiError(400, too_long)
        return visible

    def _message_text(self, text: str, parse_mode: str | None) -> str:
        visible = self._visible(text, parse_mode, limit=MAX_MESSAGE_UTF16, too_long=TEXT_TOO_LONG)
        if not visible.strip():
            raise BotApiError(400, TEXT_EMPTY)
        return visible

    # ------------------------------------------------------------ bot side: methods

    async def get_me(self) -> JsonDict:
        fault = await self._before("getMe")
        await self._after("getMe", fault)
        me = wire.user_to_wire(self.bot_user, is_bot=True)
        me.update(can_join_groups=True, can_read_all_group_messages=False, supports_inline_queries=False)
        return me

    async def send_message(
        self,
        *,
        chat_id: int,
        text: str,
        parse_mode: str | None = None,
        reply_markup: Mapping[str, Any] | None = None,
    ) -> JsonDict:
        sent_at = _sent_at()
        paced = self._paced("sendMessage", chat_id, sent_at)
        fault = await self._before("sendMessage")
        self._admit("sendMessage", chat_id, sent_at, paced)
        chat = self._writable_chat(chat_id)
        mode = self._parse_mode(parse_mode)
        keyboard = self._keyboard(reply_markup)
        self._message_text(text, mode)
        msg = self._new_message(chat, None, text=text, parse_mode=mode, reply_markup=keyboard)
        self._record("message", chat_id, msg.message_id, text=text, parse_mode=mode, reply_markup=keyboard)
        await self._after("sendMessage", fault)
        return self._message_wire(msg)

    async def edit_message_text(
        self,
        *,
        chat_id: int,
        message_id: int,
        text: str,
        parse_mode: str | None = None,
        reply_markup: Mapping[str, Any] | None = None,
    ) -> JsonDict:
        """Without ``reply_markup`` the keyboard is removed, as in the real API."""
        sent_at = _sent_at()
        paced = self._paced("editMessageText", chat_id, sent_at)
        fault = await self._before("editMessageText")
        self._admit("editMessageText", chat_id, sent_at, paced)
        self._writable_chat(chat_id)
        mode = self._parse_mode(parse_mode)
        keyboard = self._keyboard(reply_markup)
        msg = self._messages.get((chat_id, message_id))
        if msg is None:
            raise BotApiError(400, "Bad Request: message to edit not found")
        if msg.sender is not None:
            raise BotApiError(400, "Bad Request: message can't be edited")
        if msg.text is None:
            raise BotApiError(400, "Bad Request: there is no text in the message to edit")
        self._message_text(text, mode)
        if (msg.text, msg.parse_mode, msg.reply_markup) == (text, mode, keyboard):
            raise BotApiError(400, NOT_MODIFIED)
        msg.text, msg.parse_mode, msg.reply_markup = text, mode, keyboard
        self._record("edit", chat_id, message_id, text=text, parse_mode=mode, reply_markup=keyboard)
        await self._after("editMessageText", fault)
        return self._message_wire(msg)

    def _caption(self, caption: str | None) -> str | None:
        if not caption:
            return None
        self._visible(caption, None, limit=MAX_CAPTION_UTF16, too_long=CAPTION_TOO_LONG)
        return caption

    def _upload(self, data: bytes | None, file_id: str | None, limit: int) -> StoredFile | bytes:
        """The file a send refers to: an existing file_id, or fresh bytes within ``limit``."""
        if file_id is not None:
            existing = self._files.get(file_id)
            if existing is None:
                raise BotApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            return existing
        if not data:
            raise BotApiError(400, "Bad Request: file must be non-empty")
        if len(data) > limit:
            raise BotApiError(413, "Request Entity Too Large")
        return data

    async def send_document(
        self,
        *,
        chat_id: int,
        file_name: str | None,
        data: bytes | None = None,
        file_id: str | None = None,
        caption: str | None = None,
        mime_type: str | None = None,
    ) -> JsonDict:
        """Send bytes (a fresh upload) or re-send a known ``file_id``."""
        sent_at = _sent_at()
        paced = self._paced("sendDocument", chat_id, sent_at)
        fault = await self._before("sendDocument")
        self._admit("sendDocument", chat_id, sent_at, paced)
        chat = self._writable_chat(chat_id)
        source = self._upload(data, file_id, MAX_UPLOAD_BYTES)
        caption = self._caption(caption)
        if isinstance(source, bytes):
            mime = mime_type or _MIME_BY_EXT.get(_extension(file_name), "application/octet-stream")
            source = self._store_file("documents", "BQACAgIAAxkD", file_name, mime, source)
        msg = self._new_message(chat, None, document=self._document_wire(source), caption=caption)
        self._record(
            "document",
            chat_id,
            msg.message_id,
            caption=caption,
            file_id=source.file_id,
            file_name=source.file_name,
            mime_type=source.mime_type,
            data=source.data,
        )
        await self._after("sendDocument", fault)
        return self._message_wire(msg)

    async def send_photo(
        self,
        *,
        chat_id: int,
        data: bytes | None = None,
        file_id: str | None = None,
        file_name: str | None = None,
        caption: str | None = None,
    ) -> JsonDict:
        sent_at = _sent_at()
        paced = self._paced("sendPhoto", chat_id, sent_at)
        fault = await self._before("sendPhoto")
        self._admit("sendPhoto", chat_id, sent_at, paced)
        chat = self._writable_chat(chat_id)
        source = self._upload(data, file_id, MAX_PHOTO_BYTES)
        caption = self._caption(caption)
        if isinstance(source, bytes):
            if not source.startswith(_IMAGE_MAGIC):
                raise BotApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
            source = self._store_file("photos", "AgACAgIAAxkD", file_name, "image/jpeg", source)
        width, height = _png_size(source.data)
        size = {
            "file_id": source.file_id,
            "file_unique_id": source.file_unique_id,
            "file_size": source.size,
            "width": width,
            "height": height,
        }
        msg = self._new_message(chat, None, photo=[size], caption=caption)
        self._record(
            "photo",
            chat_id,
            msg.message_id,
            caption=caption,
            file_id=source.file_id,
            file_name=file_name,
            mime_type=source.mime_type,
            data=source.data,
        )
        await self._after("sendPhoto", fault)
        return self._message_wire(msg)

    async def answer_callback_query(
        self, *, callback_query_id: str, text: str | None = None, show_alert: bool = False
    ) -> bool:
        fault = await self._before("answerCallbackQuery", callback_query_id)
        chat_id = self._open_queries.pop(callback_query_id, None)
        if chat_id is None:
            raise BotApiError(400, QUERY_INVALID)
        self._record(
            "callback_answer",
            chat_id,
            None,
            text=text,
            callback_query_id=callback_query_id,
            show_alert=show_alert,
        )
        await self._after("answerCallbackQuery", fault)
        return True

    async def get_file(self, *, file_id: str) -> JsonDict:
        fault = await self._before("getFile", file_id)
        stored = self._files.get(file_id)
        if stored is None:
            raise BotApiError(400, INVALID_FILE_ID)
        if stored.size > MAX_DOWNLOAD_BYTES:
            raise BotApiError(400, FILE_TOO_BIG)
        await self._after("getFile", fault)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    async def download(self, file_path: str) -> bytes:
        """The bytes behind ``/file/bot<token>/<file_path>`` (fault knob name: ``downloadFile``)."""
        fault = await self._before("downloadFile", file_path)
        stored = self._files_by_path.get(file_path)
        if stored is None or stored.size > MAX_DOWNLOAD_BYTES:
            raise BotApiError(404, NOT_FOUND)
        await self._after("downloadFile", fault)
        return stored.data

    # ------------------------------------------------------------ wire shapes

    @staticmethod
    def _document_wire(stored: StoredFile) -> JsonDict:
        doc: JsonDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        if stored.file_name is not None:
            doc["file_name"] = stored.file_name
        if stored.mime_type is not None:
            doc["mime_type"] = stored.mime_type
        return doc

    def _message_wire(self, msg: _Message) -> JsonDict:
        sender = self.bot_user if msg.sender is None else msg.sender
        out: JsonDict = {
            "message_id": msg.message_id,
            "from": wire.user_to_wire(sender, is_bot=msg.sender is None),
            "chat": dict(msg.chat),
            "date": msg.date,
        }
        if msg.text is not None:
            # Telegram answers with the visible text (formatting moves to entities).
            out["text"] = visible_text(msg.text, msg.parse_mode)
        if msg.document is not None:
            out["document"] = dict(msg.document)
        if msg.photo is not None:
            out["photo"] = [dict(p) for p in msg.photo]
        if msg.caption is not None:
            out["caption"] = msg.caption
        if msg.reply_markup:
            out["reply_markup"] = wire.keyboard_to_wire(msg.reply_markup)
        out.update(msg.extra)
        return out

    # ------------------------------------------------------------ the log

    def _record(self, kind: SentKind, chat_id: int, message_id: int | None, **fields: Any) -> None:
        record = SentRecord(
            seq=len(self._log) + 1,
            chat_id=chat_id,
            kind=kind,
            date=self._now(),
            message_id=message_id,
            **fields,
        )
        self._log.append(record)
        self._log_by_chat.setdefault(chat_id, []).append(record)
        self._wake(log=True)

    @property
    def last_seq(self) -> int:
        """The cursor of the newest record (0 when the bot has done nothing yet)."""
        return len(self._log)

    def sent_to(self, chat_id: int) -> list[SentRecord]:
        """Everything the bot did in a chat, oldest first."""
        return list(self._log_by_chat.get(chat_id, ()))

    def records_after(self, seq: int, chat_id: int | None = None) -> list[SentRecord]:
        records = self._log[max(seq, 0) :]
        return records if chat_id is None else [r for r in records if r.chat_id == chat_id]

    def file(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    async def wait_for_records(self, chat_id: int | None, after_seq: int, timeout: float) -> list[SentRecord]:
        """Records newer than ``after_seq``, waiting up to ``timeout`` for the first; [] if none came."""
        if timeout == math.inf:  # the simulated users' dispatcher: no scope to build per wake
            while not (records := self.records_after(after_seq, chat_id)):
                await self._log_changed.wait()
            return records
        with trio.move_on_after(timeout):
            while not (records := self.records_after(after_seq, chat_id)):
                await self._log_changed.wait()
            return records
        return []

    async def wait_for_bot_message(
        self,
        chat_id: int,
        predicate: Callable[[SentRecord], bool] | None = None,
        timeout: float = 10.0,
        *,
        after_seq: int = 0,
    ) -> SentRecord:
        """The first record in the chat after ``after_seq`` that matches ``predicate``
        (default: any message, document or photo). Raises trio.TooSlowError on timeout."""

        def default(record: SentRecord) -> bool:
            return record.kind in ("message", "document", "photo")

        match = predicate or default
        with trio.fail_after(timeout):
            seen = after_seq
            while True:
                for record in self.records_after(seen, chat_id):
                    if match(record):
                        return record
                seen = self.last_seq
                await self._log_changed.wait()
