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


def make_file(kind: str, rng: random.Random, rows: int) -> tuple[str, bytes]:
    """(file name, bytes) of one generated upload of the given kind."""
    if kind == "good":
        return "orders.csv", good_csv(rng, rows)
    if kind == "empty":
        return "empty.csv", b"\n"  # Telegram refuses 0-byte files; this is the emptiest table
    if kind == "binary":  # an image or an executable renamed .csv: no text at all
        return "export.csv", bytes(rng.getrandbits(8) for _ in range(64 * max(rows, 1)))
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

    def saw_step(self, step: str) -> None:
        """The conversation moves forward only: greeting, receipt, final answer."""
        rank = _STEPS.index(step)
        if rank < self._last_step:
            self.out_of_order.append((_STEPS[self._last_step], step))
        self._last_step = max(self._last_step, rank)

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
        self._by_chat = {u.chat_id: u for u in self.users}
        self._unanswered = len(self.users)
        self.waiting = 0  # users who sent a file and have no final answer yet
        self.all_done = trio.Event()
        if not self.users:
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
            user_id = FIRST_USER_ID + index
            tg_user = TgUser(id=user_id, language_code=language, first_name=f"User{index}")
            users.append(SimUser(index, tg_user, arrives_at, kind, name, data))
        return users

    async def run(self) -> None:
        """Run every user and the dispatcher until cancelled (``all_done`` tells when to stop)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._dispatch)
            for user in self.users:
                nursery.start_soon(self._user, user)

    async def _user(self, user: SimUser) -> None:
        await trio.sleep_until(user.arrives_at)
        world = self._world
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
                if user.answered_at is None:
                    user.answered_at = now
            elif role == "other":
                user.others += 1  # part of a profile (its last part carries the buttons)
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
        self._unanswered -= 1
        if self._unanswered == 0:
            self.all_done.set()

    def _record(self, kind: str, user: SimUser, detail: str = "") -> None:
        if self._trace is not None:
            self._trace.record(kind, f"u{user.index} {detail}")
