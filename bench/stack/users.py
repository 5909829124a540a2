"""The load: users who talk to the bot through the Bot API emulator.

Each user sends /start, uploads a CSV (5-49 KB, seeded), presses "histogram" under
the profile, then a column, and reads the chart. Users act on the emulator's world
directly (no HTTP on the user's side: that is Telegram's side, not the bot's); the
bot reaches the emulator over HTTP as it would reach Telegram.

One dispatcher task reads what the bot sent and hands each record to its chat's
inbox with the time it arrived, so a thousand waiting users cost one wake-up per batch.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

import trio

from bot.domain import TgUser
from sim.fakes.telegram.records import SentRecord
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.replies import ReplyClassifier

_CLASSIFIER = ReplyClassifier()
CITIES = ("Kazan", "Omsk", "Tver", "Perm", "Samara", "Sochi", "Tula", "Ufa")


def sample_csv(rng: random.Random, min_kb: int = 5, max_kb: int = 49) -> bytes:
    target = rng.randint(min_kb, max_kb) * 1024
    lines = ["date,city,amount,qty,note"]
    size = len(lines[0]) + 1
    day = 0
    while size < target:
        day += 1
        line = (
            f"2024-{1 + day // 28 % 12:02d}-{1 + day % 28:02d},{rng.choice(CITIES)},"
            f"{rng.uniform(1, 5000):.2f},{rng.randint(1, 40)},order {rng.randint(1000, 99999)}"
        )
        lines.append(line)
        size += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Inbox:
    records: list[tuple[float, SentRecord]] = field(default_factory=list)
    changed: trio.Event = field(default_factory=trio.Event)


class Dispatcher:
    def __init__(self, world: BotApiWorld) -> None:
        self.world = world
        self.inboxes: dict[int, Inbox] = defaultdict(Inbox)

    async def run(self) -> None:
        seen = self.world.last_seq
        while True:
            records = await self.world.wait_for_records(None, seen, 1.0)
            now = trio.current_time()
            touched = set()
            for record in records:
                self.inboxes[record.chat_id].records.append((now, record))
                touched.add(record.chat_id)
                seen = record.seq
            for chat in touched:
                inbox = self.inboxes[chat]
                inbox.changed.set()
                inbox.changed = trio.Event()

    async def wait_for(
        self, chat: int, after: int, match: object, timeout_s: float
    ) -> tuple[float, SentRecord, int] | None:
        """(arrival time, record, its index) of the first record at index >= ``after``
        that ``match`` accepts; None on timeout."""
        inbox = self.inboxes[chat]
        index = after
        with trio.move_on_after(timeout_s):
            while True:
                while index < len(inbox.records):
                    at, record = inbox.records[index]
                    index += 1
                    if match(record):  # type: ignore[operator]
                        return at, record, index
                await inbox.changed.wait()
        return None


def is_message(record: SentRecord) -> bool:
    return record.kind in ("message", "photo", "document")


def is_failure(record: SentRecord) -> bool:
    return record.kind == "message" and _CLASSIFIER.classify(record.text or "") in ("terminal", "notice")


def has_button(prefix: str):  # type: ignore[no-untyped-def]
    def match(record: SentRecord) -> bool:
        return record.kind == "message" and any(d.startswith(prefix) for d in record.button_data)

    return match


@dataclass
class UserResult:
    ops: dict[str, float] = field(default_factory=dict)  # operation -> seconds
    failed_at: str | None = None
    step: str = "not started"  # what the user waits for now
    done: bool = False
    upload_at: float | None = None
    profile_at: float | None = None


@dataclass(frozen=True)
class Journey:
    """What one user does; ``commands_only`` is the peer comparison's load."""

    step_timeout_s: float = 120.0
    commands_only: bool = False
    commands: int = 10


async def _command(
    d: Dispatcher, world: BotApiWorld, user: TgUser, text: str, cursor: int, timeout_s: float
) -> tuple[float | None, int]:
    start = trio.current_time()
    world.user_sends_text(user, user.id, text)
    got = await d.wait_for(user.id, cursor, is_message, timeout_s)
    if got is None:
        return None, cursor
    return got[0] - start, got[2]


async def run_user(
    d: Dispatcher, world: BotApiWorld, chat: int, data: bytes, journey: Journey, result: UserResult
) -> None:
    user = TgUser(id=chat, language_code="en", first_name=f"u{chat}")
    timeout = journey.step_timeout_s
    if journey.commands_only:
        cursor = 0
        for n in range(journey.commands):
            text = "/start" if n % 2 == 0 else "/help"
            result.step = text
            took, cursor = await _command(d, world, user, text, cursor, timeout)
            if took is None:
                result.failed_at = text
                return
            result.ops[f"{text}#{n}"] = took
        result.done = True
        return
    result.step = "command"
    took, cursor = await _command(d, world, user, "/start", 0, timeout)
    if took is None:
        result.failed_at = "command"
        return
    result.ops["command"] = took

    result.step = "receipt"
    start = result.upload_at = trio.current_time()
    world.user_sends_document(user, chat, f"sales_{chat}.csv", data, mime_type="text/csv")
    got = await d.wait_for(chat, cursor, is_message, timeout)
    if got is None:
        result.failed_at = "receipt"
        return
    result.ops["receipt"] = got[0] - start
    result.step = "profile"
    got = await d.wait_for(chat, got[2], lambda r: has_button("h:")(r) or is_failure(r), timeout)
    if got is None or is_failure(got[1]):
        result.failed_at = "profile"
        return
    result.profile_at = got[0]
    result.ops["upload→profile"] = got[0] - start
    profile, cursor = got[1], got[2]

    result.step = "button"
    histogram = next(b for b in profile.button_data if b.startswith("h:"))
    start = trio.current_time()
    world.user_presses_button(user, chat, profile.message_id or 0, histogram)
    got = await d.wait_for(chat, cursor, lambda r: has_button("hc:")(r) or is_failure(r), timeout)
    if got is None or is_failure(got[1]):
        result.failed_at = "button"
        return
    result.ops["button→picker"] = got[0] - start
    result.step = "chart"
    picker, cursor = got[1], got[2]
    buttons = [b for row in picker.reply_markup or () for b in row if b.callback_data.startswith("hc:")]
    column = next((b.callback_data for b in buttons if b.text == "amount"), buttons[0].callback_data)
    start = trio.current_time()
    world.user_presses_button(user, chat, picker.message_id or 0, column)
    got = await d.wait_for(chat, cursor, lambda r: r.kind == "photo" or is_failure(r), timeout)
    if got is None or got[1].kind != "photo":
        result.failed_at = "chart"
        return
    result.ops["button→chart"] = got[0] - start
    result.done = True
