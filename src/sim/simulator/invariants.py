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
        duplicates = sum(u.duplicate_answers for u in end.sent)
        if not duplicates:
            return True, ()
        return False, (f"{duplicates} duplicate answer(s) (a retried send that had gone through)",)


class BotKeptRunning(Invariant):
    name, failure = "bot_kept_running", BotDied

    def check(self, end: RunEnd) -> tuple[bool, tuple[str, ...]]:
        return not end.process_errors, ()


# In the order the report's notes follow; the scenario's [invariants] check picks among them.
INVARIANTS: tuple[Invariant, ...] = (
    NoLostUpload(),
    EveryUserAnsweredWithinDeadline(),
    NoLeakedPermits(),
    NoStuckJob(),
    EachUpdateOnce(),
    NoSecretInLogs(),
    NoDuplicateAnswer(),
)
ALWAYS: tuple[Invariant, ...] = (BotKeptRunning(),)


def judge_all(end: RunEnd, checked: Sequence[str]) -> tuple[dict[str, Verdict], list[str]]:
    """Verdicts of the ``checked`` invariants plus the always-checked ones, and the notes of
    every invariant (checked or not) in a fixed order."""
    verdicts = {inv.name: inv.judge(end) for inv in (*INVARIANTS, *ALWAYS)}
    notes = [note for verdict in verdicts.values() for note in verdict.notes]
    chosen = {name: verdicts[name] for name in checked}
    for invariant in ALWAYS:
        chosen[invariant.name] = verdicts[invariant.name]
    return chosen, notes
