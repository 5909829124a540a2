"""Each invariant is its own check with its own exception type."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain import TgUser
from sim.simulator.invariants import (
    ALWAYS,
    INVARIANTS,
    AnswerTooLate,
    BotDied,
    CommandUnanswered,
    DuplicateAnswer,
    FloodLimitBroken,
    InvariantBroken,
    LeakedPermit,
    LostUpload,
    QueuesAtEnd,
    QueueUnbounded,
    RepliesOutOfOrder,
    RunEnd,
    SecretInLogs,
    StoresAtEnd,
    StoresDisagree,
    StuckJob,
    TelegramAtEnd,
    UpdateHandledTwice,
    UploadNotConcluded,
    judge_all,
)
from sim.simulator.workload import ANALYSED, SimUser


def _user(uid: int, **fields: object) -> SimUser:
    tg_user = TgUser(id=uid, language_code="en", first_name="u")
    user = SimUser(index=uid, user=tg_user, arrives_at=0.0, file_kind="good", file_name="a.csv", data=b"")
    user.sent_at, user.answered_at, user.outcome = 1.0, 3.0, ANALYSED
    for name, value in fields.items():
        setattr(user, name, value)
    return user


GOOD = RunEnd(
    sent=[_user(1), _user(2)],
    answer_limit_s=10.0,
    sessions_in_use=0,
    cpu_in_use=0,
    bot_tasks_alive=[],
    stuck_jobs=[],
    uploads_per_user={1: 1, 2: 1},
    secret_leaks=0,
    process_errors=[],
    stores=StoresAtEnd(orphan_blobs=[], missing_blobs=[], unqueued_jobs=[]),
    queues=QueuesAtEnd(
        job_stream_peak=2, jobs_created=2, updates_in_flight_peak=3, max_updates_in_flight=256
    ),
    telegram=TelegramAtEnd(over_limit=0, ignored_retry_after=0),
)
NO_STORES = StoresAtEnd(orphan_blobs=[], missing_blobs=[], unqueued_jobs=[])


def test_a_clean_run_keeps_every_promise() -> None:
    verdicts, notes = judge_all(GOOD, [inv.name for inv in INVARIANTS])
    assert all(v.held for v in verdicts.values()) and not notes
    assert set(verdicts) == {inv.name for inv in (*INVARIANTS, *ALWAYS)}


@pytest.mark.parametrize(
    ("change", "name", "failure"),
    [
        ({"sent": [_user(1, outcome=None, answered_at=None)]}, "no_lost_upload", LostUpload),
        ({"sent": [_user(1, answered_at=30.0)]}, "every_user_answered_within_deadline", AnswerTooLate),
        ({"sessions_in_use": 1}, "no_leaked_permits", LeakedPermit),
        ({"bot_tasks_alive": ["bot.worker"]}, "no_leaked_permits", LeakedPermit),
        ({"stuck_jobs": ["j1"]}, "no_stuck_job", StuckJob),
        ({"uploads_per_user": {1: 2, 2: 1}}, "each_update_once", UpdateHandledTwice),
        ({"sent": [_user(1, receipts=2)]}, "each_update_once", UpdateHandledTwice),
        ({"secret_leaks": 1}, "no_secret_in_logs", SecretInLogs),
        ({"sent": [_user(1, profiles=2)]}, "no_duplicate_answer", DuplicateAnswer),
        ({"process_errors": ["boom"]}, "bot_kept_running", BotDied),
        ({"sent": [_user(1, start_sent_at=0.5)]}, "every_start_answered", CommandUnanswered),
        ({"sent": [_user(1, greetings=2)]}, "no_duplicate_answer", DuplicateAnswer),
        ({"sent": [_user(1, profiles=1, terminal_failures=1)]}, "no_duplicate_answer", DuplicateAnswer),
        ({"sent": [_user(1, out_of_order=[("final", "receipt")])]}, "replies_in_order", RepliesOutOfOrder),
        ({"sent": [_user(1, receipts=1, notices=1)]}, "one_outcome_per_upload", UploadNotConcluded),
        (
            {"sent": [_user(1, receipts=1, profiles=1, terminal_failures=1)]},
            "one_outcome_per_upload",
            UploadNotConcluded,
        ),
        (
            {"stores": dataclasses.replace(NO_STORES, orphan_blobs=["1/x.csv"])},
            "stores_agree",
            StoresDisagree,
        ),
        (
            {"stores": dataclasses.replace(NO_STORES, missing_blobs=["1/x.csv"])},
            "stores_agree",
            StoresDisagree,
        ),
        ({"stores": dataclasses.replace(NO_STORES, unqueued_jobs=["j1"])}, "stores_agree", StoresDisagree),
        (
            {
                "queues": QueuesAtEnd(
                    job_stream_peak=5, jobs_created=2, updates_in_flight_peak=1, max_updates_in_flight=4
                )
            },
            "queues_bounded",
            QueueUnbounded,
        ),
        (
            {
                "queues": QueuesAtEnd(
                    job_stream_peak=1, jobs_created=2, updates_in_flight_peak=5, max_updates_in_flight=4
                )
            },
            "queues_bounded",
            QueueUnbounded,
        ),
        (
            {"telegram": TelegramAtEnd(over_limit=1, ignored_retry_after=0)},
            "telegram_limits_respected",
            FloodLimitBroken,
        ),
        (
            {"telegram": TelegramAtEnd(over_limit=0, ignored_retry_after=1)},
            "telegram_limits_respected",
            FloodLimitBroken,
        ),
    ],
)
def test_each_broken_promise_raises_its_own_type(
    change: dict[str, object], name: str, failure: type[InvariantBroken]
) -> None:
    end = dataclasses.replace(GOOD, **change)  # type: ignore[arg-type]
    verdicts, _ = judge_all(end, [inv.name for inv in INVARIANTS])
    broken = {n for n, v in verdicts.items() if not v.held}
    assert name in broken
    with pytest.raises(failure):
        verdicts[name].raise_if_broken()
    for other in (*INVARIANTS, *ALWAYS):  # no other type stands in for this one
        if other.name != name:
            assert other.failure is not failure


def test_unchecked_invariants_still_leave_notes_but_no_verdict() -> None:
    end = dataclasses.replace(GOOD, stuck_jobs=None, uploads_per_user=None)
    verdicts, notes = judge_all(end, ["no_lost_upload"])
    assert set(verdicts) == {"no_lost_upload"} | {inv.name for inv in ALWAYS}
    assert notes == ["database checks could not run (sessions still held)"]


def test_the_stream_bound_grows_with_the_processes_that_reconcile() -> None:
    from sim.simulator.invariants import QueuesBounded

    three = QueuesAtEnd(
        job_stream_peak=78, jobs_created=33, updates_in_flight_peak=1, max_updates_in_flight=4, reconcilers=3
    )
    # 4 per job: the upload's own entry, and one per reconciling process beyond the first.
    assert QueuesBounded().check(dataclasses.replace(GOOD, queues=three))[0]
    one = dataclasses.replace(three, reconcilers=1)
    assert not QueuesBounded().check(dataclasses.replace(GOOD, queues=one))[0]
    piling = dataclasses.replace(three, job_stream_peak=133)
    assert not QueuesBounded().check(dataclasses.replace(GOOD, queues=piling))[0]
