"""Simulated users: they arrive, say /start, upload a CSV and wait for the answer.

Each user records what they saw, which is the only thing that counts: "analysed"
(the profile arrived: the message that carries the profile's buttons), "failed with
a message" (an explicit explanation: not a CSV, too big, could not finish, ...) or
"lost" (nothing by the end of the run; a bare "received" counts as nothing, since it
promised a result). The latency is from sending the file to the final answer.

One dispatcher task reads the world's log of bot actions and routes each record to
its user, so the cost is O(records), not O(records x waiting users).
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import trio

from bot.domain import TgUser
from sim.fakes.telegram.records import SentRecord
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.kernel.trace import Trace
from sim.simulator.replies import ReplyClassifier, is_profile
from sim.simulator.scenario import Users

FIRST_USER_ID = 10_000

ANALYSED = "analysed"
FAILED = "failed_with_message"
LOST = "lost"


# ---------------------------------------------------------------- files

_CATEGORIES = ("books", "games", "music", "garden", "tools", "toys", "food", "sport")
_CITIES = ("Moscow", "Kazan", "Berlin", "Paris", "Lisbon", "Tbilisi", "Almaty", "Riga")


def good_csv(rng: random.Random, rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["order_id", "date", "category", "city", "amount", "quantity", "discount"])
    for i in range(rows):
        writer.writerow(
            [
                1000 + i,
                f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                rng.choice(_CATEGORIES),
                rng.choice(_CITIES),
                f"{rng.lognormvariate(3.5, 0.8):.2f}",
                rng.randint(1, 9),
                "" if rng.random() < 0.1 else f"{rng.random() * 0.3:.2f}",
            ]
        )
    return out.getvalue().encode()


WIDE_COLUMNS = 60  # enough column summaries to fill several messages


def wide_csv(rng: random.Random, rows: int) -> bytes:
    """Orders with many measures per row: a profile of several parts."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["order_id", "city", *(f"measure_{n:02d}" for n in range(WIDE_COLUMNS - 2))])
    for i in range(rows):
        measures = [f"{rng.lognormvariate(2.0 + n % 5, 0.6):.2f}" for n in range(WIDE_COLUMNS - 2)]
        writer.writerow([1000 + i, rng.choice(_CITIES), *measures])
    return out.getvalue().encode()


def make_file(kind: str, rng: random.Random, rows: int) -> tuple[str, bytes]:
    """(file name, bytes) of one generated upload of the given kind."""
    if kind == "good":
        return "orders.csv", good_csv(rng, rows)
    if kind == "wide":
        return "measures.csv", wide_csv(rng, rows)
    if kind == "empty":
        return "empty.csv", b"\n"  # Telegram refuses 0-byte files; this is the emptiest table
    if kind == "binary":  # an image or an executable renamed .csv: no text at all
        return "export.csv", rng.randbytes(64 * max(rows, 1))
    if kind == "not_csv":
        return "report.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    if kind == "ragged":
        lines = ["a,b,c"] + [",".join(["x"] * rng.randint(1, 7)) for _ in range(rows)]
        return "ragged.csv", ("\n".join(lines) + "\n").encode()
    raise ValueError(f"unknown file kind {kind!r}")


def _weighted(rng: random.Random, weights: Mapping[str, float]) -> str:
    names = list(weights)  # TOML tables keep file order: deterministic
    return rng.choices(names, weights=[weights[n] for n in names])[0]


# ---------------------------------------------------------------- users


@dataclass(slots=True)
class SimUser:
    index: int
    user: TgUser
    arrives_at: float
    file_kind: str
    file_name: str
    data: bytes
    start_replied: bool = False
    start_sent_at: float | None = None
    start_replied_at: float | None = None
    sent_at: float | None = None
    acked_at: float | None = None
    answered_at: float | None = None
    outcome: str | None = None  # None while waiting
    receipts: int = 0
    profiles: int = 0
    terminal_failures: int = 0
    notices: int = 0
    others: int = 0
    greetings: int = 0  # replies to /start
    resent_parts: int = 0  # parts of a profile this chat had already received, received again
    _parts_seen: set[str] = field(default_factory=set)
    # Replies that came out of order: (earlier step, later step) as the user saw them.
    out_of_order: list[tuple[str, str]] = field(default_factory=list)
    # Texts of the messages the bot sent this chat after the upload (the answer's parts among them).
    answer_texts: list[str] = field(default_factory=list)
    _last_step: int = 0
    changed: trio.Event = field(default_factory=trio.Event)

    @property
    def chat_id(self) -> int:
        return self.user.id

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def duplicate_answers(self) -> int:
        """Replies beyond the one each inbound update deserves: /start's greeting, the
        upload's receipt, and its final answer (a profile or a failure, counted together)."""
        return max(0, self.greetings - 1) + max(0, self.receipts - 1) + max(0, self.finals - 1)

    @property
    def finals(self) -> int:
        """Final answers to the upload: profiles, explained failures, refusals of bad files."""
        return self.profiles + self.terminal_failures

    def saw_part(self, text: str | None) -> None:
        if text is None:
            return
        if text in self._parts_seen:
            self.resent_parts += 1
        self._parts_seen.add(text)

    def saw_step(self, step: str) -> None:
        """The conversation moves forward only: greeting, receipt, final answer."""
        rank = _STEPS.index(step)
        if rank < self._last_step:
            self.out_of_order.append((_STEPS[self._last_step], step))
        self._last_step = max(self._last_step, rank)

    def saw_notice(self) -> None:
        """A notice ("that took too long, try again" and its kind) after the final answer
        contradicts it: the conversation went back a step."""
        if self._last_step == _STEPS.index("final"):
            self.out_of_order.append(("final", "notice"))

    def final_outcome(self) -> str:
        """What the user ended with; call once the run is over."""
        if self.outcome is not None:
            return self.outcome
        if self.notices or self.others:
            return FAILED
        return LOST

    def start_latency(self) -> float | None:
        """From /start to its reply (the audit's "simple operation")."""
        if self.start_sent_at is None or self.start_replied_at is None:
            return None
        return self.start_replied_at - self.start_sent_at

    def succeeded(self) -> bool:
        """The upload ended as it should: a good file analysed, a bad one refused with a reason."""
        outcome = self.final_outcome()
        return outcome == ANALYSED if self.file_kind == "good" else outcome != LOST

    def latency(self) -> float | None:
        if self.sent_at is None or self.answered_at is None:
            return None
        return self.answered_at - self.sent_at


@dataclass(slots=True)
class ChatProbe:
    """A user who sends one message while another chat floods, and waits for any reply."""

    user: TgUser
    at: float
    replied_at: float | None = None

    @property
    def chat_id(self) -> int:
        return self.user.id

    def latency(self) -> float | None:
        return None if self.replied_at is None else self.replied_at - self.at


# A flooding chat and its probes take ids below the users' (FIRST_USER_ID + index).
FLOOD_USER_ID = 9_000


# The order of one user's conversation; a reply of an earlier step after a later one is
# out of order (the bot handles one chat's updates in order, and a result follows its receipt).
_STEPS = ("none", "greeting", "receipt", "final")


class Workload:
    """All simulated users of a scenario, and the dispatcher that feeds them replies."""

    def __init__(self, world: BotApiWorld, spec: Users, rngs: RngStreams, trace: Trace | None = None) -> None:
        self._world = world
        self._spec = spec
        self._trace = trace
        self._classifier = ReplyClassifier()
        self.users = self._make_users(rngs)
        # A person who comes back is a new SimUser on the same chat: replies go to the latest.
        self._by_chat = {u.chat_id: u for u in self.users} if spec.population is None else {}
        flood = spec.flood
        self.flooder = (
            TgUser(id=FLOOD_USER_ID, language_code="en", first_name="Flood") if flood.messages else None
        )
        self.probes = [
            ChatProbe(
                TgUser(id=FLOOD_USER_ID + 1 + i, language_code="en", first_name=f"Probe{i}"),
                flood.at_s + (i + 1) * flood.over_s / (flood.probes + 1),
            )
            for i in range(flood.probes if flood.messages else 0)
        ]
        self._probe_by_chat = {p.chat_id: p for p in self.probes}
        self.flood_replies: dict[str, int] = {}  # the flooding chat's replies, by role
        self._unanswered = len(self.users) + len(self.probes)
        self.waiting = 0  # users who sent a file and have no final answer yet
        self.all_done = trio.Event()
        if not self._unanswered:
            self.all_done.set()

    def _arrivals(self, rng: random.Random) -> list[float]:
        """Arrival times in order: the base process for most users, the peak for the rest."""
        spec = self._spec
        peak = spec.peak
        base = spec.count - peak.count
        if spec.arrival == "poisson":
            times, now = [], spec.start_s
            for _ in range(base):
                now += rng.expovariate(spec.rate_per_s)
                times.append(now)
        elif spec.arrival == "uniform" and base > 0:
            step = spec.spread_s / base
            times = [spec.start_s + i * step for i in range(base)]
        else:
            times = [spec.start_s] * base
        if peak.count:
            # A burst: independent uniform times in the window (clumpier than a grid).
            times += [peak.at_s + rng.random() * peak.spread_s for _ in range(peak.count)]
            times.sort()
        return times

    def _make_users(self, rngs: RngStreams) -> list[SimUser]:
        spec = self._spec
        files_rng = rngs.stream("workload.files")
        # A small pool of distinct files per kind: realistic enough, and the analysis
        # cache makes thousands of uploads of them cheap in real time.
        pools: dict[str, list[tuple[str, bytes]]] = {
            kind: [make_file(kind, files_rng, spec.files.rows) for _ in range(spec.files.variants)]
            for kind in spec.files.mix
        }
        arrivals = self._arrivals(rngs.stream("workload.arrivals"))
        users = []
        for index, arrives_at in enumerate(arrivals):
            rng = rngs.stream(f"workload.user.{index}")
            language = _weighted(rng, spec.languages)
            kind = _weighted(rng, spec.files.mix)
            name, data = rng.choice(pools[kind])
            person = index if spec.population is None else index % spec.population
            user_id = FIRST_USER_ID + person
            tg_user = TgUser(id=user_id, language_code=language, first_name=f"User{person}")
            users.append(SimUser(index, tg_user, arrives_at, kind, name, data))
        return users

    async def run(self) -> None:
        """Run every user and the dispatcher until cancelled (``all_done`` tells when to stop)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._dispatch)
            for user in self.users:
                nursery.start_soon(self._user, user)
            if self.flooder is not None:
                nursery.start_soon(self._flood, self.flooder)
            for probe in self.probes:
                nursery.start_soon(self._probe, probe)

    async def _flood(self, flooder: TgUser) -> None:
        flood = self._spec.flood
        step = flood.over_s / flood.messages
        for n in range(flood.messages):
            await trio.sleep_until(flood.at_s + n * step)
            self._world.user_sends_text(flooder, flooder.id, flood.text)
        if self._trace is not None:
            self._trace.record("user.flood", f"{flood.messages} sent")

    async def _probe(self, probe: ChatProbe) -> None:
        await trio.sleep_until(probe.at)
        self._world.user_sends_text(probe.user, probe.chat_id, self._spec.flood.probe_text)
        if self._trace is not None:
            self._trace.record("user.probe", f"{probe.chat_id}")

    async def _user(self, user: SimUser) -> None:
        await trio.sleep_until(user.arrives_at)
        world = self._world
        self._by_chat[user.chat_id] = user
        if self._spec.send_start:
            user.start_sent_at = trio.current_time()
            world.user_sends_text(user.user, user.chat_id, "/start")
            self._record("user.start", user)
            with trio.move_on_after(self._spec.start_patience_s):
                while not user.start_replied:
                    await user.changed.wait()
        user.sent_at = trio.current_time()
        world.user_sends_document(user.user, user.chat_id, user.file_name, user.data)
        self.waiting += 1
        self._record("user.upload", user, f"{user.file_kind} {len(user.data)}B")

    async def _dispatch(self) -> None:
        cursor = 0
        while True:
            records = await self._world.wait_for_records(None, cursor, math.inf)
            for record in records:
                cursor = max(cursor, record.seq)
                user = self._by_chat.get(record.chat_id)
                if user is not None:
                    self._observe(user, record)
                elif record.chat_id in self._probe_by_chat:
                    self._observe_probe(self._probe_by_chat[record.chat_id])
                elif self.flooder is not None and record.chat_id == self.flooder.id:
                    text = record.text if record.kind == "message" else None
                    role = self._classifier.classify(text) if text is not None else "other"
                    self.flood_replies[role] = self.flood_replies.get(role, 0) + 1

    def _observe_probe(self, probe: ChatProbe) -> None:
        if probe.replied_at is not None:
            return
        probe.replied_at = trio.current_time()
        if self._trace is not None:
            self._trace.record("user.probe_answered", f"{probe.chat_id}")
        self._one_answered()

    def _observe(self, user: SimUser, record: SentRecord) -> None:
        if record.kind not in ("message", "edit", "document", "photo"):
            return
        now = trio.current_time()
        if user.sent_at is not None and record.kind == "message" and record.text is not None:
            user.answer_texts.append(record.text)
        text_role = None
        if record.kind in ("message", "edit") and record.text is not None and not is_profile(record):
            text_role = self._classifier.classify(record.text)
        if text_role == "greeting":
            user.greetings += 1
            user.saw_step("greeting")
        if user.sent_at is None:
            if not user.start_replied:
                user.start_replied_at = now
            user.start_replied = True
        elif is_profile(record):
            user.saw_part(record.text)
            user.profiles += 1
            user.saw_step("final")
            self._finish(user, ANALYSED, now)
        elif text_role is not None:
            role = text_role
            if role == "received":
                user.receipts += 1
                user.saw_step("receipt")
                if user.acked_at is None:
                    user.acked_at = now
            elif role == "terminal":
                user.terminal_failures += 1
                user.saw_step("final")
                self._finish(user, FAILED, now)
            elif role == "notice":
                user.notices += 1
                user.saw_notice()
                if user.answered_at is None:
                    user.answered_at = now
            elif role == "other":
                user.others += 1  # part of a profile (its last part carries the buttons)
                user.saw_part(record.text)
        user.changed.set()
        user.changed = trio.Event()

    def _finish(self, user: SimUser, outcome: str, now: float) -> None:
        if user.done:
            return
        user.outcome = outcome
        if user.answered_at is None or outcome == ANALYSED:
            user.answered_at = now
        self._record("user.answer", user, outcome)
        self.waiting -= 1  # only users who sent a file get here
        self._one_answered()

    def _one_answered(self) -> None:
        self._unanswered -= 1
        if self._unanswered == 0:
            self.all_done.set()

    def _record(self, kind: str, user: SimUser, detail: str = "") -> None:
        if self._trace is not None:
            self._trace.record(kind, f"u{user.index} {detail}")
