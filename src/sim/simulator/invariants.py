"""The promises checked at the end of every simulated run, one typed check each.

The runner gathers what the run left behind into a :class:`RunEnd` (what users saw,
what the stores hold, what is still held or alive), then every :class:`Invariant`
judges it. A broken invariant has its own exception type, so a test (or hypothesis,
shrinking a failure) can tell one broken promise from another:
``verdict.raise_if_broken()`` raises e.g. :class:`LostUpload`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from sim.simulator.workload import LOST, SimUser


class InvariantBroken(AssertionError):
    """A promise of the bot did not hold; the subclass says which."""


class LostUpload(InvariantBroken):
    pass


class AnswerTooLate(InvariantBroken):
    pass


class LeakedPermit(InvariantBroken):
    pass


class StuckJob(InvariantBroken):
    pass


class UpdateHandledTwice(InvariantBroken):
    pass


class SecretInLogs(InvariantBroken):
    pass


class DuplicateAnswer(InvariantBroken):
    pass


class BotDied(InvariantBroken):
    pass


class RepliesOutOfOrder(InvariantBroken):
    pass


class UploadNotConcluded(InvariantBroken):
    pass


class StoresDisagree(InvariantBroken):
    pass


class QueueUnbounded(InvariantBroken):
    pass


class FloodLimitBroken(InvariantBroken):
    pass


class PartSentTwice(InvariantBroken):
    pass


class CommandUnanswered(InvariantBroken):
    """A /start the user sent was never answered."""


class AnswerNotWholeOnce(InvariantBroken):
    """A profile reached the user with a part missing or a part repeated."""


class CallNotCut(InvariantBroken):
    """A call to another service outlasted every deadline it should have had."""


class TooMuchInFlight(InvariantBroken):
    """More updates or jobs ran at once than the bot's limits allow."""


class BlockingCallOnLoop(InvariantBroken):
    """A blocking call (file I/O, time.sleep, a socket, a subprocess, a thread) made
    from a trio task on the event loop."""


class LongStepOnLoop(InvariantBroken):
    """A task step that kept the event loop busy past its CPU budget."""


@dataclass(frozen=True, slots=True)
class StoresAtEnd:
    """Postgres, the queue and blob storage as the run left them (after a reconciler pass)."""

    orphan_blobs: Sequence[str]  # blobs no upload row accounts for
    missing_blobs: Sequence[str]  # upload rows pointing at a blob that is not there
    unqueued_jobs: Sequence[str]  # open jobs with no queue entry


@dataclass(frozen=True, slots=True)
class QueuesAtEnd:
    """Peaks of the bot's queues against their bounds."""

    job_stream_peak: int  # most entries the job stream held at once
    jobs_created: int
    updates_in_flight_peak: float
    max_updates_in_flight: int  # what the poller may hold (bot.updates: 4 x max_concurrent_updates)
    held_uploads_peak: float = 0  # uploads held while the database was away (bot.upload_hold)
    max_held_uploads: int = 0
    reconcilers: int = 1  # processes running a reconciler: each may re-enqueue a stalled job once


@dataclass(frozen=True, slots=True)
class TelegramAtEnd:
    """Sends past Telegram's flood limits (the limits model of the simulated Bot API)."""

    over_limit: int
    ignored_retry_after: int


@dataclass(frozen=True, slots=True)
class AnswerParts:
    """One analysed upload's profile as the user received it, part by part."""

    user_id: int
    expected: int  # messages the profile has
    missing: int  # of those, never received
    repeated: int  # of those, received more than once


@dataclass(frozen=True, slots=True)
class CallsAtEnd:
    """Calls to other services that lasted past their bound (sim.simulator.calltimes)."""

    over: Sequence[str]
    over_total: int
    longest: dict[str, float]


@dataclass(frozen=True, slots=True)
class WorkAtEnd:
    """The most work one poller or worker loop had in flight (sampled), and its limit."""

    peak_handlers: int
    max_handlers: int
    peak_jobs: int
    max_jobs: int


@dataclass(frozen=True, slots=True)
class LoopAtEnd:
    """What blocked the event loop during the run (sim.simulator.kernel.blocking)."""

    calls: Sequence[str]  # the first blocking calls, each with its call site
    calls_total: int
    slow_steps: Sequence[str]
    slow_steps_total: int
    step_budget_s: float


@dataclass(frozen=True, slots=True)
class RunEnd:
    """What the run left behind, gathered once the bot has stopped."""

    sent: Sequence[SimUser]  # users who sent their upload
    answer_limit_s: float  # answer deadline plus margin
    sessions_in_use: int
    cpu_in_use: int
    bot_tasks_alive: Sequence[str]
    stuck_jobs: Sequence[str] | None  # None: the database could not be read (sessions held)
    uploads_per_user: dict[int, int] | None
    secret_leaks: int
    process_errors: Sequence[str]
    stores: StoresAtEnd | None = None  # None: the database could not be read
    queues: QueuesAtEnd | None = None
    telegram: TelegramAtEnd | None = None
    hard_kills: int = 0  # kill -9s of any process during the run
    blocking: LoopAtEnd | None = None
    answers: Sequence[AnswerParts] = ()
    calls: CallsAtEnd | None = None
    work: WorkAtEnd | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str
    held: bool
    notes: tuple[str, ...]
    failure: type[InvariantBroken]

    def raise_if_broken(self) -> None:
        if not self.held:
            raise self.failure(f"{self.name}: {'; '.join(self.notes) or 'broken'}")


class Invariant(ABC):
    name: ClassVar[str]
    failure: ClassVar[type[InvariantBroken]]

    def judge(self, end: RunEnd) -> Verdict:
        held, notes = self.check(end)
        return Verdict(self.name, held, notes, self.failure)

    @abstractmethod
    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        """Whether the promise held, and notes that explain a failure."""


class NoLostUpload(Invariant):
    name, failure = "no_lost_upload", LostUpload

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        lost = [u for u in end.sent if u.final_outcome() == LOST]
        if not lost:
            return True, ()
        return False, (f"lost uploads: users {', '.join(str(u.user.id) for u in lost[:10])}",)


class EveryUserAnsweredWithinDeadline(Invariant):
    name, failure = "every_user_answered_within_deadline", AnswerTooLate

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        late = [u for u in end.sent if (lat := u.latency()) is None or lat > end.answer_limit_s]
        if not late:
            return True, ()
        return False, (f"{len(late)} user(s) not answered within {end.answer_limit_s:g} s",)


class NoLeakedPermits(Invariant):
    name, failure = "no_leaked_permits", LeakedPermit

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        if end.sessions_in_use == 0 and end.cpu_in_use == 0 and not end.bot_tasks_alive:
            return True, ()
        tasks = list(end.bot_tasks_alive)
        return False, (
            f"after stop: {end.sessions_in_use} db session(s), {end.cpu_in_use} cpu slot(s) in use, "
            f"{len(tasks)} bot task(s) alive {tasks[:5]}",
        )


class NoStuckJob(Invariant):
    name, failure = "no_stuck_job", StuckJob

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        if end.stuck_jobs is None:
            return False, ()  # the note comes with each_update_once, which could not run either
        if not end.stuck_jobs:
            return True, ()
        return False, (f"{len(end.stuck_jobs)} job(s) still queued or running at the end",)


class EachUpdateOnce(Invariant):
    name, failure = "each_update_once", UpdateHandledTwice

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        if end.uploads_per_user is None:
            return False, ("database checks could not run (sessions still held)",)
        duplicated = [uid for uid, n in end.uploads_per_user.items() if n > 1]
        held = not duplicated and all(u.receipts <= 1 for u in end.sent)
        return held, (f"uploads recorded more than once for users {duplicated[:10]}",) if duplicated else ()


class NoSecretInLogs(Invariant):
    name, failure = "no_secret_in_logs", SecretInLogs

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        return end.secret_leaks == 0, ()


class NoDuplicateAnswer(Invariant):
    name, failure = "no_duplicate_answer", DuplicateAnswer

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        twice = [u for u in end.sent if u.duplicate_answers]
        if not twice:
            return True, ()
        duplicates = sum(u.duplicate_answers for u in twice)
        first = twice[0]
        return False, (
            f"{duplicates} duplicate answer(s) to {len(twice)} user(s); first user {first.user.id}: "
            f"{first.greetings} greeting(s), {first.receipts} receipt(s), {first.finals} final answer(s)",
        )


class EveryStartAnswered(Invariant):
    """Each /start gets a reply (its greeting, or an apology), however many attempts that
    takes: an update whose answer did not get out is handled again, and must not then be
    taken for a duplicate.
    Asked for by name, by scenarios where every answer can get out in the end (the bot
    gives a command up after its redelivery attempts, and a kill -9 between the update's
    claim and its answer loses the answer)."""

    name, failure = "every_start_answered", CommandUnanswered

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        silent = [
            u for u in end.sent if u.start_sent_at is not None and not u.start_replied and not u.greetings
        ]
        if not silent:
            return True, ()
        ids = ", ".join(str(u.user.id) for u in silent[:10])
        return False, (f"{len(silent)} /start(s) never answered: users {ids}",)


class BotKeptRunning(Invariant):
    name, failure = "bot_kept_running", BotDied

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        return not end.process_errors, ()


class RepliesInOrder(Invariant):
    name, failure = "replies_in_order", RepliesOutOfOrder

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        swapped = [u for u in end.sent if u.out_of_order]
        if not swapped:
            return True, ()
        first = swapped[0]
        later, earlier = first.out_of_order[0]
        return False, (
            f"{len(swapped)} chat(s) saw replies out of order; user {first.user.id}: {earlier} after {later}",
        )


class OneOutcomePerUpload(Invariant):
    """An accepted upload ends in a profile or a failure message; "still trying" is neither."""

    name, failure = "one_outcome_per_upload", UploadNotConcluded

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        open_ended = [u for u in end.sent if u.receipts and not u.finals]
        both = [u for u in end.sent if u.profiles and u.terminal_failures]
        notes = []
        if open_ended:
            ids = ", ".join(str(u.user.id) for u in open_ended[:10])
            notes.append(f"{len(open_ended)} accepted upload(s) never concluded: users {ids}")
        if both:
            ids = ", ".join(str(u.user.id) for u in both[:10])
            notes.append(f"{len(both)} upload(s) got both a profile and a failure: users {ids}")
        return not notes, tuple(notes)


class StoresAgree(Invariant):
    name, failure = "stores_agree", StoresDisagree

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        stores = end.stores
        if stores is None:
            return False, ()  # the note comes with each_update_once, which could not run either
        notes = [
            f"{len(items)} {what}: {list(items)[:3]}"
            for what, items in (
                ("orphan blob(s)", stores.orphan_blobs),
                ("upload row(s) whose blob is missing", stores.missing_blobs),
                ("open job(s) with no queue entry", stores.unqueued_jobs),
            )
            if items
        ]
        return not notes, tuple(notes)


# A job's own entry plus re-enqueues by the reconciler while earlier ones are still pending
# (during a long stall one job can gather several); past twice the jobs, entries pile up.
# Every further process with a reconciler of its own may add one more per job: they do not
# share what they re-enqueued (and an enqueue whose reply was lost still added its entry).
STREAM_ENTRIES_PER_JOB = 2


class QueuesBounded(Invariant):
    name, failure = "queues_bounded", QueueUnbounded

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        queues = end.queues
        if queues is None:
            return True, ()
        notes = []
        per_job = STREAM_ENTRIES_PER_JOB + max(0, queues.reconcilers - 1)
        bound = per_job * max(queues.jobs_created, 1)
        if queues.job_stream_peak > bound:
            notes.append(
                f"job stream peaked at {queues.job_stream_peak} entries for {queues.jobs_created} job(s)"
            )
        if queues.updates_in_flight_peak > queues.max_updates_in_flight:
            notes.append(
                f"{queues.updates_in_flight_peak:g} updates in flight, limit {queues.max_updates_in_flight}"
            )
        if queues.held_uploads_peak > queues.max_held_uploads:
            notes.append(f"{queues.held_uploads_peak:g} uploads held, limit {queues.max_held_uploads}")
        return not notes, tuple(notes)


class TelegramLimitsRespected(Invariant):
    name, failure = "telegram_limits_respected", FloodLimitBroken

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        tg = end.telegram
        if tg is None or (tg.over_limit == 0 and tg.ignored_retry_after == 0):
            return True, ()
        return False, (
            f"{tg.over_limit} send(s) past Telegram's flood limits, "
            f"{tg.ignored_retry_after} before retry_after had passed",
        )


class EachPartOnce(Invariant):
    """A profile's parts reach the chat once each. Only a hard kill inside the sending of
    one message may repeat that one message: at most one repeat per chat per kill."""

    name, failure = "each_part_once", PartSentTwice

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        over = [u for u in end.sent if u.resent_parts > end.hard_kills]
        if not over:
            return True, ()
        first = over[0]
        return False, (
            f"{len(over)} chat(s) got profile parts again ({sum(u.resent_parts for u in over)} repeats, "
            f"{end.hard_kills} kill(s)); user {first.user.id}: {first.resent_parts} repeated part(s)",
        )


class WholeAnswerOnce(Invariant):
    """Each part of a profile reaches the user exactly once: none lost, none repeated,
    except the one message a ``kill -9`` may cut mid-send (one repeat per kill)."""

    name, failure = "whole_answer_once", AnswerNotWholeOnce

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        wrong = [a for a in end.answers if a.missing or a.repeated > end.hard_kills]
        if not wrong:
            return True, ()
        first = wrong[0]
        return False, (
            f"{len(wrong)} profile(s) not received whole and once; user {first.user_id}: "
            f"{first.missing} of {first.expected} part(s) missing, {first.repeated} repeated",
        )


class EveryCallCut(Invariant):
    """No call to Postgres, Redis, storage or Telegram outlives its deadline."""

    name, failure = "every_call_cut", CallNotCut

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        calls = end.calls
        if calls is None or calls.over_total == 0:
            return True, ()
        first = "; ".join(calls.over[:3])
        return False, (f"{calls.over_total} call(s) not cut by a deadline; first: {first}",)


class WorkWithinLimits(Invariant):
    name, failure = "work_within_limits", TooMuchInFlight

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        work = end.work
        if work is None:
            return True, ()
        notes = []
        if work.peak_handlers > work.max_handlers:
            notes.append(f"{work.peak_handlers} updates handled at once, limit {work.max_handlers}")
        if work.peak_jobs > work.max_jobs:
            notes.append(f"{work.peak_jobs} jobs run at once by one worker, limit {work.max_jobs}")
        return not notes, tuple(notes)


class NoBlockingCall(Invariant):
    name, failure = "no_blocking_call", BlockingCallOnLoop

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        loop = end.blocking
        if loop is None or loop.calls_total == 0:
            return True, ()
        first = "; ".join(loop.calls[:3])
        return False, (f"{loop.calls_total} blocking call(s) on the loop; first: {first}",)


class NoLongStep(Invariant):
    name, failure = "no_long_step", LongStepOnLoop

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        loop = end.blocking
        if loop is None or loop.slow_steps_total == 0:
            return True, ()
        return False, (
            f"{loop.slow_steps_total} task step(s) over {loop.step_budget_s * 1000:g} ms of CPU on the loop; "
            f"first: {'; '.join(loop.slow_steps[:3])}",
        )


# In the order the report's notes follow; the scenario's [invariants] check picks among them.
INVARIANTS: tuple[Invariant, ...] = (
    NoLostUpload(),
    EveryUserAnsweredWithinDeadline(),
    NoLeakedPermits(),
    NoStuckJob(),
    EachUpdateOnce(),
    NoSecretInLogs(),
    NoDuplicateAnswer(),
    EachPartOnce(),
    EveryStartAnswered(),
)
ALWAYS: tuple[Invariant, ...] = (
    BotKeptRunning(),
    RepliesInOrder(),
    OneOutcomePerUpload(),
    StoresAgree(),
    QueuesBounded(),
    TelegramLimitsRespected(),
    WholeAnswerOnce(),
    EveryCallCut(),
    WorkWithinLimits(),
    NoBlockingCall(),
    NoLongStep(),
)


def judge_all(end: RunEnd, checked: Sequence[str]) -> tuple[dict[str, Verdict], list[str]]:
    """Verdicts of the ``checked`` invariants plus the always-checked ones, and the notes of
    every invariant (checked or not) in a fixed order."""
    verdicts = {inv.name: inv.judge(end) for inv in (*INVARIANTS, *ALWAYS)}
    notes = [note for verdict in verdicts.values() for note in verdict.notes]
    chosen = {name: verdicts[name] for name in checked}
    for invariant in ALWAYS:
        chosen[invariant.name] = verdicts[invariant.name]
    return chosen, notes
