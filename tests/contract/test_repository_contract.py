"""The Repository contract: one suite, run on real Postgres, on Postgres behind
pgbouncer in transaction mode, and on the simulator's MemoryRepository.

A difference between them is a bug in the in-memory one (or in the contract)."""

from __future__ import annotations

import inspect
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
import trio

from adapters.asyncio_bridge import aio
from bot.admin.records import RequeueOutcome
from bot.domain import Job, JobStatus, JobStep, NewUpload, UploadLoad, UploadQuota
from bot.errors import PortError, ServiceUnavailable
from bot.ports import Repository

from .pg_fixtures import SESSION_LIMIT, Admin, Backend, aio_loop, backend, backend_name

__all__ = ["aio_loop", "backend", "backend_name"]  # fixtures, imported for pytest

T0 = datetime(2024, 11, 13, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


LEASE = 60.0  # seconds a running job stays with a worker that shows no life


def new_id() -> str:
    return str(uuid.uuid4())


def upload_msg(
    update_id: int, user_id: int = 1, *, language: str = "en", name: str = "data.csv"
) -> NewUpload:
    return NewUpload(
        update_id=update_id,
        user_id=user_id,
        chat_id=user_id + 1000,
        language=language,
        file_id=f"file-{update_id}",
        file_unique_id=f"u{update_id}",
        file_name=name,
        file_size=100 + update_id,
    )


async def record(b: Backend, update_id: int, user_id: int = 1, when: float = 0.0, **kw: str) -> Job:
    job = await b.repo.record_upload(upload_msg(update_id, user_id, **kw), new_id(), new_id(), at(when))
    assert isinstance(job, Job)
    return job


# ---------------------------------------------------------------- updates and users


async def test_claim_update_once(backend: Backend) -> None:
    assert await backend.repo.claim_update(7, at(0)) is True
    assert await backend.repo.claim_update(7, at(0)) is False
    assert await backend.repo.claim_update(8, at(0)) is True


async def test_claim_updates_claims_the_new_ones_in_one_go(backend: Backend) -> None:
    repo, other = backend.repo, backend.repo.for_bot(42)
    assert await repo.claim_update(7, at(0)) is True
    assert await repo.claim_updates([7, 8, 9, 8], at(0)) == {8, 9}
    assert await repo.claim_updates([], at(0)) == set()
    assert await repo.claim_update(9, at(0)) is False
    assert await other.claim_updates([7, 8], at(0)) == {7, 8}  # per bot, as claim_update


async def test_a_pause_holds_for_its_bot_and_kind_until_it_ends(backend: Backend) -> None:
    repo, other = backend.repo, backend.repo.for_bot(42)
    assert await repo.pause_left("send") == 0.0
    await repo.post_pause("send", 30.0)
    left = await repo.pause_left("send")
    assert 25.0 < left <= 30.0
    await repo.post_pause("send", 5.0)  # an earlier end does not shorten it
    assert 25.0 < await repo.pause_left("send") <= left
    await repo.post_pause("send", 0.0)
    await repo.post_pause("send", -3.0)
    assert 25.0 < await repo.pause_left("send") <= left
    assert await other.pause_left("send") == 0.0  # the token's pause, not another bot's
    await other.post_pause("send", 0.2)
    assert 0.0 < await other.pause_left("send") <= 0.2
    await trio.sleep(0.3)
    assert await other.pause_left("send") == 0.0  # over: nothing holds
    assert await repo.pause_left("poll") == 0.0  # each kind of call apart
    await repo.post_pause("poll", 10.0)
    assert 5.0 < await repo.pause_left("poll") <= 10.0
    assert 20.0 < await repo.pause_left("send") <= left


async def test_update_claims_are_per_bot(backend: Backend) -> None:
    # Telegram numbers updates per bot, and one database may serve several bots.
    other = backend.repo.for_bot(42)
    assert await backend.repo.claim_update(7, at(0)) is True
    assert await other.claim_update(7, at(0)) is True
    assert await other.claim_update(7, at(1)) is False
    assert await other.record_upload(upload_msg(8), new_id(), new_id(), at(0)) is not None
    assert await backend.repo.claim_update(8, at(0)) is True
    assert await other.claim_update(8, at(0)) is False


async def test_prune_forgets_old_claims_oldest_first_in_batches(backend: Backend) -> None:
    repo, other = backend.repo, backend.repo.for_bot(42)
    for update_id in range(1, 6):  # claimed at 10, 20, ... 50 s
        assert await repo.claim_update(update_id, at(10 * update_id)) is True
    await record(backend, 6, when=25.0)  # an upload's claim expires like the others
    assert await other.claim_update(1, at(5)) is True
    assert await repo.prune_processed_updates(at(30), 2) == 2  # the oldest: other's 1, then 1
    assert await other.claim_update(1, at(60)) is True  # forgotten: may be claimed again
    assert await repo.claim_update(2, at(60)) is False  # still remembered
    assert await repo.prune_processed_updates(at(30), 10) == 2  # 2 (at 20) and 6 (at 25)
    assert await repo.prune_processed_updates(at(30), 10) == 0
    assert await repo.prune_processed_updates(at(1000), 0) == 0
    assert await repo.claim_update(6, at(60)) is True
    assert await repo.claim_update(3, at(60)) is False
    assert (await backend.counts())["processed_updates"] == 5  # 3, 4, 5, 6 and other's 1


async def test_user_language(backend: Backend) -> None:
    repo = backend.repo
    assert await repo.get_user_language(5) is None
    assert await repo.upsert_user(5, "ru") == "ru"
    assert await repo.get_user_language(5) == "ru"
    assert await repo.upsert_user(5, "en") == "ru"  # an existing user's choice is kept, and told
    assert await repo.get_user_language(5) == "ru"
    await repo.set_user_language(5, "en")
    assert await repo.get_user_language(5) == "en"
    assert await repo.upsert_user(5, "ru") == "en"
    await repo.set_user_language(6, "ru")  # creates the user
    assert await repo.get_user_language(6) == "ru"


# ---------------------------------------------------------------- uploads and jobs


async def test_record_upload_creates_user_upload_job_and_claim(backend: Backend) -> None:
    repo = backend.repo
    upload_id, job_id = new_id(), new_id()
    job = await repo.record_upload(upload_msg(100, 42, language="ru"), upload_id, job_id, at(0))
    assert job == Job(
        job_id=job_id,
        upload_id=upload_id,
        user_id=42,
        chat_id=1042,
        language="ru",
        file_id="file-100",
        file_name="data.csv",
        file_size=200,
        status=JobStatus.QUEUED,
        step=JobStep.RECORDED,
        attempts=0,
    )
    assert await repo.get_job(job_id) == job
    assert await repo.get_user_language(42) == "ru"
    assert await repo.claim_update(100, at(0)) is False  # the same claim table
    [upload] = await repo.list_uploads(42, 10)
    assert (upload.upload_id, upload.file_name, upload.file_size, upload.created_at) == (
        upload_id,
        "data.csv",
        200,
        at(0),
    )
    assert upload.blob_key is None


async def test_record_upload_is_idempotent_per_update(backend: Backend) -> None:
    repo = backend.repo
    first = await repo.record_upload(upload_msg(1), new_id(), new_id(), at(0))
    assert first is not None
    again = await repo.record_upload(upload_msg(1), new_id(), new_id(), at(1))
    assert again is None
    assert len(await repo.list_uploads(1, 10)) == 1
    assert (await backend.counts())["jobs"] == 1


async def test_record_upload_keeps_existing_language(backend: Backend) -> None:
    await backend.repo.set_user_language(1, "ru")
    job = await record(backend, 1, language="en")
    assert job.language == "en"  # the job speaks what the handler decided
    assert await backend.repo.get_user_language(1) == "ru"


async def test_record_upload_claimed_by_claim_update_does_nothing(backend: Backend) -> None:
    assert await backend.repo.claim_update(9, at(0)) is True
    assert await backend.repo.record_upload(upload_msg(9), new_id(), new_id(), at(0)) is None
    assert await backend.repo.list_uploads(1, 10) == []


async def test_failed_record_upload_changes_nothing(backend: Backend) -> None:
    job = await record(backend, 1)
    before = await backend.counts()
    with pytest.raises(PortError):
        await backend.repo.record_upload(upload_msg(2), job.upload_id, new_id(), at(1))  # upload id taken
    with pytest.raises(PortError):
        await backend.repo.record_upload(upload_msg(3), new_id(), job.job_id, at(1))  # job id taken
    with pytest.raises(PortError) as refused:
        await backend.repo.record_upload(upload_msg(4, name="a\x00b.csv"), new_id(), new_id(), at(1))
    assert not isinstance(refused.value, ServiceUnavailable), "bad input, not an outage"
    assert await backend.counts() == before
    assert await backend.repo.claim_update(2, at(0)) is True  # the claim was rolled back with the rest


async def test_ids_are_canonical_and_unknown_ids_are_absent(backend: Backend) -> None:
    repo = backend.repo
    upload_id = uuid.uuid4()
    job_id = uuid.uuid4()
    job = await repo.record_upload(upload_msg(1), str(upload_id).upper(), job_id.hex, at(0))
    assert job is not None
    assert (job.upload_id, job.job_id) == (str(upload_id), str(job_id))
    assert await repo.get_job(job_id.hex) == job
    for missing in (new_id(), "not-a-uuid", ""):
        assert await repo.get_job(missing) is None
        assert await repo.start_attempt(missing, LEASE) is None
        assert await repo.get_result(missing) is None
        assert await repo.get_result_for_upload(missing) is None
        assert await repo.delete_upload(1, missing) is None
        await repo.mark_stored(missing, "k")
        await repo.save_result(missing, "{}")
        await repo.finish_job(missing, JobStatus.DONE, JobStep.DELIVERED, None)
    assert await repo.get_job(job.job_id) == job
    assert (await backend.counts())["results"] == 0


async def test_timestamps_are_utc(backend: Backend) -> None:
    moscow = timezone(timedelta(hours=3))
    await backend.repo.record_upload(upload_msg(1), new_id(), new_id(), T0.astimezone(moscow))
    await backend.repo.record_upload(
        upload_msg(2), new_id(), new_id(), datetime(2024, 11, 13, 13, 0)
    )  # naive
    newest, oldest = await backend.repo.list_uploads(1, 10)
    assert newest.created_at == at(3600) and newest.created_at.utcoffset() == timedelta(0)
    assert oldest.created_at == T0 and oldest.created_at.tzinfo is not None
    assert oldest.created_at.utcoffset() == timedelta(0)


# ---------------------------------------------------------------- job lifecycle


async def test_start_attempt_counts_attempts(backend: Backend) -> None:
    job = await record(backend, 1)
    first = await backend.repo.start_attempt(job.job_id, LEASE)
    assert first is not None
    assert (first.status, first.attempts, first.step) == (JobStatus.RUNNING, 1, JobStep.RECORDED)
    # held by a live worker: nobody else may take it
    assert await backend.repo.start_attempt(job.job_id, LEASE) is None
    await backend.backdate_job(job.job_id, LEASE + 2)  # its worker died
    second = await backend.repo.start_attempt(job.job_id, LEASE)
    assert second is not None and second.attempts == 2
    assert await backend.repo.get_job(job.job_id) == second


async def test_heartbeat_keeps_a_running_job_with_its_worker(backend: Backend) -> None:
    repo = backend.repo
    job = await record(backend, 1)
    other = await record(backend, 2)
    await repo.heartbeat([job.job_id])  # not running yet: no effect
    assert await repo.start_attempt(job.job_id, LEASE) is not None
    assert await repo.start_attempt(other.job_id, LEASE) is not None
    for _ in range(3):
        await backend.backdate_job(job.job_id, 40)  # 40 s pass
        await backend.backdate_job(other.job_id, 40)
        await repo.heartbeat([other.job_id, job.job_id])  # one write for all a worker holds
        await backend.backdate_job(job.job_id, 30)  # 70 s since the start, 30 since the beat
        assert await repo.start_attempt(job.job_id, LEASE) is None
        await backend.backdate_job(other.job_id, 30)
        assert await repo.start_attempt(other.job_id, LEASE) is None
    assert await repo.jobs_needing_attention(40, 10) == []  # fresh: touched 30 s ago
    await backend.backdate_job(job.job_id, 31)  # the worker died after its last beat
    taken = await repo.start_attempt(job.job_id, LEASE)
    assert taken is not None and taken.attempts == 2
    await repo.finish_job(job.job_id, JobStatus.DONE, JobStep.DELIVERED, None)
    await repo.heartbeat([job.job_id])  # a late heartbeat does not revive it
    await backend.backdate_job(job.job_id, 400)
    assert await repo.start_attempt(job.job_id, LEASE) is None
    await repo.heartbeat([new_id(), "not-a-uuid"])  # unknown jobs: no effect, no error
    await repo.heartbeat([])


async def test_a_live_lease_is_judged_on_the_databases_clock_whatever_the_callers(backend: Backend) -> None:
    """A worker whose host clock runs far ahead cannot take over a live job, nor can a
    record made by a host far behind make a fresh job look abandoned: a lease is stamped
    and judged on the database's clock alone (scenarios/regressions/clock-skew-steals-lease)."""
    repo = backend.repo
    behind = await backend.db_now() - timedelta(days=1)  # the recording host's clock
    job = await repo.record_upload(upload_msg(1), new_id(), new_id(), behind)
    assert job is not None
    assert await repo.jobs_needing_attention(LEASE, 10) == []  # recorded just now, not a day ago
    assert await repo.start_attempt(job.job_id, LEASE) is not None
    # Whatever clock the next worker's host keeps (90 s ahead, a day ahead), the lease is live.
    assert await repo.start_attempt(job.job_id, LEASE) is None
    assert await repo.jobs_needing_attention(LEASE, 10) == []
    assert (await repo.requeue_job(job.job_id, LEASE)).outcome == RequeueOutcome.RUNNING
    # Nor can any caller tell the lease methods another time.
    lease_methods = ("start_attempt", "heartbeat", "release_job", "mark_stored", "mark_parts_sent",
                     "save_result", "finish_job", "requeue_job", "jobs_needing_attention")  # fmt: skip
    for implementation in (Repository, type(repo)):
        for name in lease_methods:
            assert "now" not in inspect.signature(getattr(implementation, name)).parameters, name
    # Once the holder stops beating for longer than the lease, another worker takes it.
    await backend.backdate_job(job.job_id, LEASE + 1)
    taken = await repo.start_attempt(job.job_id, LEASE)
    assert taken is not None and taken.attempts == 2


async def test_parts_sent_only_grow_and_survive_a_new_attempt(backend: Backend) -> None:
    repo = backend.repo
    job = await record(backend, 1)
    assert job.parts_sent == 0
    await repo.start_attempt(job.job_id, LEASE)
    await repo.mark_parts_sent(job.job_id, 2)
    await repo.mark_parts_sent(job.job_id, 1)  # a late, smaller record changes nothing
    await backend.backdate_job(job.job_id, 200)  # its worker died
    resumed = await repo.start_attempt(job.job_id, LEASE)
    assert resumed is not None and resumed.parts_sent == 2
    await repo.mark_parts_sent(new_id(), 1)  # unknown job: no effect, no error


async def test_finishing_a_job_records_its_parts_in_the_same_write(backend: Backend) -> None:
    repo = backend.repo
    job = await record(backend, 1)
    await repo.start_attempt(job.job_id, LEASE)
    await repo.mark_parts_sent(job.job_id, 1)
    await repo.finish_job(job.job_id, JobStatus.DONE, JobStep.DELIVERED, None, 3)
    done = await repo.get_job(job.job_id)
    assert done is not None and (done.status, done.step, done.parts_sent) == (
        JobStatus.DONE,
        JobStep.DELIVERED,
        3,
    )
    other = await record(backend, 2)
    await repo.mark_parts_sent(other.job_id, 2)
    await repo.finish_job(other.job_id, JobStatus.FAILED, JobStep.RECORDED, "why", 1)  # never fewer
    await repo.finish_job(job.job_id, JobStatus.FAILED, JobStep.DELIVERED, "late", 9)  # finished: as it was
    failed, done = await repo.get_job(other.job_id), await repo.get_job(job.job_id)
    assert failed is not None and (failed.status, failed.parts_sent) == (JobStatus.FAILED, 2)
    assert done is not None and (done.status, done.parts_sent, done.error) == (JobStatus.DONE, 3, None)
    third = await record(backend, 3)
    await repo.mark_parts_sent(third.job_id, 2)
    await repo.finish_job(third.job_id, JobStatus.DONE, JobStep.DELIVERED, None)  # no count: kept
    kept = await repo.get_job(third.job_id)
    assert kept is not None and kept.parts_sent == 2


async def test_a_released_job_can_be_started_at_once_and_keeps_its_progress(backend: Backend) -> None:
    repo = backend.repo
    job = await record(backend, 1)
    await repo.start_attempt(job.job_id, LEASE)
    await repo.mark_stored(job.job_id, "1/abc_data.csv")
    await repo.release_job(job.job_id)
    again = await repo.start_attempt(job.job_id, LEASE)  # well inside the old lease
    assert again is not None and (again.attempts, again.step) == (2, JobStep.STORED)
    await repo.finish_job(job.job_id, JobStatus.DONE, JobStep.DELIVERED, None)
    await repo.release_job(job.job_id)  # a finished job stays finished
    done = await repo.get_job(job.job_id)
    assert done is not None and done.status == JobStatus.DONE


def quota(in_flight: int, recent: int, since: float) -> UploadQuota:
    return UploadQuota(in_flight=in_flight, recent=recent, since=at(since))


async def test_record_upload_within_the_quota_counts_unfinished_jobs_and_recent_uploads(
    backend: Backend,
) -> None:
    repo = backend.repo
    first = await record(backend, 1, user_id=5, when=0.0)
    await record(backend, 2, user_id=5, when=100.0)
    await record(backend, 3, user_id=6, when=100.0)  # someone else's
    # Two unfinished jobs, one upload since 50 s: each limit refuses on its own.
    refused = await repo.record_upload(upload_msg(4, 5), new_id(), new_id(), at(200), quota(2, 9, 50))
    assert refused == UploadLoad(in_flight=2, recent=1)
    refused = await repo.record_upload(upload_msg(4, 5), new_id(), new_id(), at(200), quota(9, 1, 50))
    assert refused == UploadLoad(in_flight=2, recent=1)
    assert len(await repo.list_uploads(5, 10)) == 2  # a refusal records nothing, not even the claim
    await repo.finish_job(first.job_id, JobStatus.DONE, JobStep.DELIVERED, None)
    refused = await repo.record_upload(upload_msg(4, 5), new_id(), new_id(), at(200), quota(9, 2, 0))
    assert refused == UploadLoad(in_flight=1, recent=2)
    job = await repo.record_upload(upload_msg(4, 5), new_id(), new_id(), at(200), quota(2, 3, 0))
    assert isinstance(job, Job) and job.user_id == 5
    fresh = await repo.record_upload(upload_msg(5, 404), new_id(), new_id(), at(200), quota(1, 1, 0))
    assert isinstance(fresh, Job)  # a user with nothing yet is within any quota


async def test_record_upload_of_a_claimed_update_is_none_even_over_the_quota(backend: Backend) -> None:
    await record(backend, 1, user_id=5)
    again = await backend.repo.record_upload(upload_msg(1, 5), new_id(), new_id(), at(1), quota(1, 1, 0))
    assert again is None  # the duplicate is told apart from a refusal: it was accepted once


async def test_forget_blob_lets_go_of_the_key_only(backend: Backend) -> None:
    repo = backend.repo
    job = await record(backend, 1)
    await repo.mark_stored(job.job_id, "1/abc_data.csv")
    await repo.forget_blob(job.upload_id)
    (upload,) = await repo.list_uploads(1, 10)
    assert upload.blob_key is None and upload.upload_id == job.upload_id
    await repo.forget_blob(new_id())  # unknown upload: no effect, no error


async def test_mark_stored_and_save_result(backend: Backend) -> None:
    repo = backend.repo
    job = await record(backend, 1)
    await repo.start_attempt(job.job_id, LEASE)
    await repo.mark_stored(job.job_id, "1/abc_data.csv")
    stored = await repo.get_job(job.job_id)
    assert stored is not None
    assert (stored.step, stored.blob_key) == (JobStep.STORED, "1/abc_data.csv")
    assert (await repo.list_uploads(1, 1))[0].blob_key == "1/abc_data.csv"

    payload = '{"rows": 3, "columns": ["a", "b"], "note": "\\u043f\\u0440"}'
    before = await backend.db_now()
    await repo.save_result(job.job_id, payload)
    await repo.save_result(job.job_id, '{"rows": 999}')  # a retried worker: first result kept
    result = await repo.get_result(job.job_id)
    assert result is not None
    assert (result.job_id, result.upload_id, result.payload) == (job.job_id, job.upload_id, payload)
    assert before <= result.created_at <= await backend.db_now()  # the database's clock
    assert await repo.get_result_for_upload(job.upload_id) == result
    analysed = await repo.get_job(job.job_id)
    assert analysed is not None and analysed.step == JobStep.ANALYSED

    await repo.mark_stored(job.job_id, "1/abc_data.csv")  # steps never go back
    again = await repo.get_job(job.job_id)
    assert again is not None and again.step == JobStep.ANALYSED


async def test_finished_job_stays_finished(backend: Backend) -> None:
    repo = backend.repo
    job = await record(backend, 1)
    await repo.start_attempt(job.job_id, LEASE)
    await repo.finish_job(job.job_id, JobStatus.DONE, JobStep.DELIVERED, None)
    done = await repo.get_job(job.job_id)
    assert done is not None
    assert (done.status, done.step, done.attempts, done.error) == (JobStatus.DONE, JobStep.DELIVERED, 1, None)
    assert await repo.start_attempt(job.job_id, LEASE) is None
    await repo.finish_job(job.job_id, JobStatus.FAILED, JobStep.RECORDED, "late worker")
    assert await repo.get_job(job.job_id) == done


async def test_failed_job_keeps_error_and_progress(backend: Backend) -> None:
    repo = backend.repo
    job = await record(backend, 1)
    await repo.mark_stored(job.job_id, "k")
    await repo.finish_job(job.job_id, JobStatus.FAILED, JobStep.RECORDED, "not a CSV")
    failed = await repo.get_job(job.job_id)
    assert failed is not None
    assert (failed.status, failed.step, failed.error) == (JobStatus.FAILED, JobStep.STORED, "not a CSV")
    assert await repo.start_attempt(job.job_id, LEASE) is None


async def test_finish_job_can_requeue_a_running_job(backend: Backend) -> None:
    job = await record(backend, 1)
    await backend.repo.start_attempt(job.job_id, LEASE)
    await backend.repo.finish_job(job.job_id, JobStatus.QUEUED, JobStep.RECORDED, "storage slow")
    queued = await backend.repo.get_job(job.job_id)
    assert queued is not None and (queued.status, queued.error) == (JobStatus.QUEUED, "storage slow")
    restarted = await backend.repo.start_attempt(job.job_id, LEASE)
    assert restarted is not None and restarted.attempts == 2


async def test_jobs_needing_attention(backend: Backend) -> None:
    repo = backend.repo
    queued_old = await record(backend, 1)
    running_old = await record(backend, 2)
    await repo.start_attempt(running_old.job_id, LEASE)
    done_old = await record(backend, 3)
    await repo.finish_job(done_old.job_id, JobStatus.DONE, JobStep.DELIVERED, None)
    failed_old = await record(backend, 4)
    await repo.finish_job(failed_old.job_id, JobStatus.FAILED, JobStep.RECORDED, "bad")
    fresh = await record(backend, 5)
    touched = await record(backend, 6)
    await backend.backdate_job(touched.job_id, 999)
    await repo.mark_stored(touched.job_id, "k")  # progress counts as a touch
    # Last touched 1000, 980, 994, 992, 900 and 0 seconds ago, on the database's clock.
    idle = {queued_old: 1000, running_old: 980, done_old: 994, failed_old: 992, fresh: 900}
    for job, seconds in idle.items():
        await backend.backdate_job(job.job_id, seconds)

    stale = await repo.jobs_needing_attention(950, 10)
    assert [j.job_id for j in stale] == [queued_old.job_id, running_old.job_id]  # oldest touch first
    assert stale[1].status == JobStatus.RUNNING and stale[1].attempts == 1
    assert [j.job_id for j in await repo.jobs_needing_attention(950, 1)] == [queued_old.job_id]
    assert await repo.jobs_needing_attention(1100, 10) == []
    assert await repo.jobs_needing_attention(950, 0) == []
    everything = await repo.jobs_needing_attention(0, 10)  # every open job
    assert [j.job_id for j in everything] == [
        queued_old.job_id,
        running_old.job_id,
        fresh.job_id,
        touched.job_id,
    ]


# ---------------------------------------------------------------- listing and deletion


async def test_list_uploads_newest_first(backend: Backend) -> None:
    repo = backend.repo
    times = [30, 10, 50, 20, 40]
    jobs = {t: await record(backend, t, user_id=1, when=t) for t in times}
    await record(backend, 99, user_id=2, when=60)  # another user's
    listed = await repo.list_uploads(1, 10)
    assert [u.upload_id for u in listed] == [jobs[t].upload_id for t in (50, 40, 30, 20, 10)]
    assert [u.upload_id for u in await repo.list_uploads(1, 2)] == [jobs[50].upload_id, jobs[40].upload_id]
    assert await repo.list_uploads(1, 0) == []
    assert await repo.list_uploads(3, 10) == []


async def test_list_uploads_ties_broken_by_id(backend: Backend) -> None:
    ids = sorted((uuid.uuid4() for _ in range(4)), key=lambda _: random.random())
    for n, upload_id in enumerate(ids):
        await backend.repo.record_upload(upload_msg(n), str(upload_id), new_id(), at(0))
    listed = await backend.repo.list_uploads(1, 10)
    assert [u.upload_id for u in listed] == [str(u) for u in sorted(ids, reverse=True)]


async def test_get_upload_only_for_its_owner(backend: Backend) -> None:
    repo = backend.repo
    job = await record(backend, 1, user_id=1, when=0)
    await repo.mark_stored(job.job_id, "1/x_data.csv")
    mine = await repo.get_upload(1, job.upload_id)
    assert mine is not None
    assert (mine.upload_id, mine.user_id, mine.blob_key, mine.created_at) == (
        job.upload_id,
        1,
        "1/x_data.csv",
        at(0),
    )
    assert await repo.get_upload(2, job.upload_id) is None  # another user's
    assert await repo.get_upload(1, str(uuid.uuid4())) is None
    assert await repo.get_upload(1, "not-a-uuid") is None


async def test_delete_upload(backend: Backend) -> None:
    repo = backend.repo
    keep = await record(backend, 1, when=0)
    gone = await record(backend, 2, when=1)
    await repo.mark_stored(gone.job_id, "1/x_data.csv")
    await repo.save_result(gone.job_id, "{}")

    assert await repo.delete_upload(2, gone.upload_id) is None  # not that user's
    assert await repo.get_job(gone.job_id) is not None

    deleted = await repo.delete_upload(1, gone.upload_id)
    assert deleted is not None
    assert (deleted.upload_id, deleted.blob_key, deleted.created_at) == (
        gone.upload_id,
        "1/x_data.csv",
        at(1),
    )
    assert await repo.get_job(gone.job_id) is None
    assert await repo.get_result(gone.job_id) is None
    assert await repo.get_result_for_upload(gone.upload_id) is None
    assert [u.upload_id for u in await repo.list_uploads(1, 10)] == [keep.upload_id]
    assert await repo.delete_upload(1, gone.upload_id) is None
    assert await repo.get_job(keep.job_id) is not None


# ---------------------------------------------------------------- the orphan sweep's queries


async def test_existing_upload_ids(backend: Backend) -> None:
    repo = backend.repo
    mine = await record(backend, 1, user_id=1)
    theirs = await record(backend, 2, user_id=2)
    gone = await record(backend, 3, user_id=1)
    await repo.delete_upload(1, gone.upload_id)
    asked = [mine.upload_id, mine.upload_id.upper(), theirs.upload_id, gone.upload_id, new_id(), "x", ""]
    # canonical form back, whoever owns them; deleted, unknown and malformed ids are absent
    assert await repo.existing_upload_ids(asked) == {mine.upload_id, theirs.upload_id}
    assert await repo.existing_upload_ids([]) == set()
    assert await repo.existing_upload_ids(["not-a-uuid"]) == set()


async def test_uploads_with_blobs_pages_through_stored_uploads_by_id(backend: Backend) -> None:
    repo = backend.repo
    jobs = [await record(backend, n, user_id=n % 3 + 1, when=n) for n in range(1, 9)]
    stored = jobs[:6]  # the other two never reached storage
    for job in stored:
        await repo.mark_stored(job.job_id, f"{job.user_id}/{job.upload_id}_data.csv")
    expected = sorted(stored, key=lambda j: uuid.UUID(j.upload_id))

    seen = []
    cursor: str | None = None
    while page := await repo.uploads_with_blobs(cursor, 4):
        assert len(page) <= 4
        seen.extend(page)
        cursor = page[-1].upload_id
    assert [u.upload_id for u in seen] == [j.upload_id for j in expected]
    assert [u.blob_key for u in seen] == [f"{j.user_id}/{j.upload_id}_data.csv" for j in expected]
    assert [u.user_id for u in seen] == [j.user_id for j in expected]
    assert await repo.uploads_with_blobs(None, 0) == []
    assert await repo.uploads_with_blobs(expected[-1].upload_id, 10) == []


async def test_delete_user_data(backend: Backend) -> None:
    repo = backend.repo
    older = await record(backend, 1, user_id=1, when=0)
    newer = await record(backend, 2, user_id=1, when=5)
    await repo.mark_stored(newer.job_id, "1/n_data.csv")
    await repo.save_result(newer.job_id, "{}")
    other = await record(backend, 3, user_id=2, when=1)

    deleted = await repo.delete_user_data(1)
    assert [(u.upload_id, u.blob_key) for u in deleted] == [
        (newer.upload_id, "1/n_data.csv"),
        (older.upload_id, None),
    ]
    assert await repo.get_user_language(1) is None
    assert await repo.list_uploads(1, 10) == []
    assert await repo.get_job(newer.job_id) is None
    assert await repo.get_result(newer.job_id) is None
    assert await repo.get_job(other.job_id) is not None
    assert await repo.get_user_language(2) == "en"
    assert await repo.claim_update(1, at(0)) is False  # update ids are not personal data: dedupe survives
    assert await repo.delete_user_data(1) == []
    counts = await backend.counts()
    assert (counts["users"], counts["uploads"], counts["jobs"], counts["results"]) == (1, 1, 1, 0)


# ---------------------------------------------------------------- the session limit


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll a condition that other tasks will make true (bounded; no timing assertion)."""
    for _ in range(500):
        if await check():
            return
        await trio.sleep(0.01)
    raise AssertionError(f"never became true: {what}")


async def test_session_limit_bounds_concurrent_transactions(backend: Backend) -> None:
    repo = backend.repo
    callers = 4 * SESSION_LIMIT

    async def all_taken() -> bool:
        return repo.sessions_in_use == SESSION_LIMIT

    async def server_sees_them() -> bool:
        return await backend.server_sessions_waiting() == SESSION_LIMIT

    # The nursery is entered first so that it exits last: the lock is released, then
    # every caller gets its turn and the nursery closes.
    async with trio.open_nursery() as nursery, backend.sessions_blocked_on_users():
        for user_id in range(callers):
            nursery.start_soon(repo.upsert_user, user_id, "en")
        await wait_until(all_taken, "all sessions taken")
        await trio.sleep(0.05)  # a caller able to slip past the limit would do so now
        assert repo.sessions_in_use == SESSION_LIMIT
        assert backend.free_permits() == 0
        if backend.name == "postgres":
            await wait_until(server_sees_them, "the server sees exactly the limit of sessions waiting")
    assert repo.sessions_in_use == 0
    assert repo.max_sessions_in_use == SESSION_LIMIT
    assert backend.free_permits() == SESSION_LIMIT
    assert (await backend.counts())["users"] == callers


async def test_session_limit_survives_cancellation(backend: Backend) -> None:
    """Cancel many concurrent writes at arbitrary points: no permit leaks, and each
    upload is either fully recorded (claim, upload, job) or not at all."""
    repo = backend.repo
    if backend.gate is not None:
        backend.gate.hold_s = 0.002  # in memory, give cancellations a session to land in
    rng = random.Random(1729)
    completed: dict[int, Job | None] = {}
    attempted: list[int] = []

    async def attempt(update_id: int, delay: float) -> None:
        with trio.move_on_after(delay):
            completed[update_id] = await repo.record_upload(
                upload_msg(update_id, user_id=update_id % 3), new_id(), new_id(), at(update_id)
            )

    for round_ in range(3):
        # One certain cancellation, one certain completion, the rest anywhere between.
        delays = [0.0, 60.0] + [rng.uniform(0, 0.02) for _ in range(10)]
        async with trio.open_nursery() as nursery:
            for n, delay in enumerate(delays):
                attempted.append(round_ * 100 + n)
                nursery.start_soon(attempt, round_ * 100 + n, delay)
    assert repo.sessions_in_use == 0
    assert backend.free_permits() == SESSION_LIMIT

    counts = await backend.counts()
    assert counts["uploads"] == counts["jobs"] == counts["processed_updates"]
    jobs = await repo.jobs_needing_attention(0, 10_000)
    recorded = {int(j.file_id.removeprefix("file-")) for j in jobs}
    assert len(recorded) == counts["jobs"]
    assert 0 < len(recorded) < len(attempted)
    for update_id, job in completed.items():
        assert job is not None and update_id in recorded
        assert await repo.get_job(job.job_id) == job
    for update_id in attempted:  # claimed exactly when recorded
        assert await repo.claim_update(update_id, at(0)) is (update_id not in recorded)


async def test_admin_audit_log_newest_first(backend: Backend) -> None:
    repo = backend.repo
    await repo.record_admin_action(7, "stats", "", at(1))
    await repo.record_admin_action(8, "denied", "/stats", at(3))
    await repo.record_admin_action(7, "stats", "again", at(2))
    log = await repo.admin_actions(10)
    assert [(a.admin_id, a.action, a.detail, a.created_at) for a in log] == [
        (8, "denied", "/stats", at(3)),
        (7, "stats", "again", at(2)),
        (7, "stats", "", at(1)),
    ]
    assert [a.detail for a in await repo.admin_actions(1)] == ["/stats"]
    assert await repo.admin_actions(0) == []


# ---------------------------------------------------------------- admin tools


async def test_admin_stats_counts_windows_and_open_jobs(backend: Backend) -> None:
    repo = backend.repo
    # Uploads carry the caller's time; failed jobs the database's (when they were last
    # touched): the report's windows are the caller's "now" on the database's clock.
    now = await backend.db_now()

    async def record_before(update_id: int, user_id: int, ago: timedelta) -> Job:
        job = await repo.record_upload(upload_msg(update_id, user_id), new_id(), new_id(), now - ago)
        assert job is not None
        return job

    empty = await repo.admin_stats(now)
    assert (empty.users_total, empty.uploads_day, empty.open_jobs, empty.oldest_open_job_at) == (
        0,
        0,
        0,
        None,
    )
    await repo.upsert_user(99, "en")  # a user without uploads counts in the total only
    old = await record_before(1, 1, timedelta(days=3))
    day = await record_before(2, 2, timedelta(hours=5))
    hour = await record_before(3, 2, timedelta(seconds=600))
    fresh = await record_before(4, 3, timedelta(seconds=60))
    await repo.finish_job(old.job_id, JobStatus.FAILED, JobStep.RECORDED, "too many attempts")
    await repo.finish_job(day.job_id, JobStatus.FAILED, JobStep.RECORDED, "timeout: storage.upload")
    await repo.finish_job(hour.job_id, JobStatus.FAILED, JobStep.DELIVERED, "rejected: empty")
    await backend.backdate_job(old.job_id, timedelta(days=2).total_seconds())
    await backend.backdate_job(day.job_id, timedelta(hours=5).total_seconds())
    await backend.backdate_job(hour.job_id, timedelta(minutes=9).total_seconds())
    stats = await repo.admin_stats(now)
    assert (stats.users_total, stats.users_active_day, stats.users_active_week) == (4, 2, 3)
    assert (stats.uploads_hour, stats.uploads_day) == (2, 3)
    assert dict(stats.failed_hour) == {"rejected: empty": 1}
    assert dict(stats.failed_day) == {"rejected: empty": 1, "timeout: storage.upload": 1}
    assert stats.open_jobs == 1 and stats.oldest_open_job_at == now - timedelta(seconds=60)
    assert fresh.status == JobStatus.QUEUED


async def test_job_detail_has_times_and_progress(backend: Backend) -> None:
    repo = backend.repo
    job = await record(backend, 1, when=5.0)
    before = await backend.db_now()
    await repo.start_attempt(job.job_id, LEASE)
    await repo.mark_parts_sent(job.job_id, 2)
    detail = await repo.job_detail(job.job_id.upper())
    assert detail is not None
    assert (detail.job.job_id, detail.job.attempts, detail.job.parts_sent) == (job.job_id, 1, 2)
    assert detail.created_at == at(5)  # the caller's record of the upload
    assert before <= detail.updated_at <= await backend.db_now()  # the lease: the database's clock
    for missing in (new_id(), "nope", ""):
        assert await repo.job_detail(missing) is None


async def test_requeue_job_takes_failed_and_stuck_jobs_only(backend: Backend) -> None:
    repo = backend.repo
    failed = await record(backend, 1)
    await repo.start_attempt(failed.job_id, LEASE)
    await repo.mark_stored(failed.job_id, "k1")
    await repo.mark_parts_sent(failed.job_id, 1)
    await repo.finish_job(failed.job_id, JobStatus.FAILED, JobStep.STORED, "too many attempts")
    back = await repo.requeue_job(failed.job_id, LEASE)
    assert back.outcome == RequeueOutcome.REQUEUED and back.job is not None
    job = back.job
    assert (job.status, job.step, job.attempts, job.error, job.parts_sent) == (
        JobStatus.QUEUED, JobStep.STORED, 0, None, 1,
    )  # fmt: skip
    assert await repo.start_attempt(failed.job_id, LEASE) is not None  # a worker may take it

    live = await record(backend, 2)
    await repo.start_attempt(live.job_id, LEASE)
    assert (await repo.requeue_job(live.job_id, LEASE)).outcome == RequeueOutcome.RUNNING
    assert (await repo.get_job(live.job_id)).status == JobStatus.RUNNING  # type: ignore[union-attr]
    await backend.backdate_job(live.job_id, LEASE + 1)  # its worker died
    stuck = await repo.requeue_job(live.job_id, LEASE)
    assert stuck.outcome == RequeueOutcome.REQUEUED

    done = await record(backend, 3)
    await repo.finish_job(done.job_id, JobStatus.DONE, JobStep.DELIVERED, None)
    refused = await record(backend, 4)
    await repo.finish_job(refused.job_id, JobStatus.FAILED, JobStep.DELIVERED, "rejected: empty")
    for answered in (done, refused):
        assert (await repo.requeue_job(answered.job_id, LEASE)).outcome == RequeueOutcome.ANSWERED
    assert (await repo.get_job(refused.job_id)).status == JobStatus.FAILED  # type: ignore[union-attr]
    for missing in (new_id(), "nope"):
        assert (await repo.requeue_job(missing, LEASE)).outcome == RequeueOutcome.UNKNOWN


async def test_bans(backend: Backend) -> None:
    repo = backend.repo
    assert await repo.banned_user_ids() == frozenset()
    assert await repo.ban_user(5, 1, at(0)) is True
    assert await repo.ban_user(5, 1, at(1)) is False
    assert await repo.ban_user(6, 1, at(1)) is True  # a user the bot never saw
    assert await repo.banned_user_ids() == frozenset({5, 6})
    assert await repo.unban_user(5) is True
    assert await repo.unban_user(5) is False
    assert await repo.banned_user_ids() == frozenset({6})


async def test_broadcast_cursor_counts_and_blocked_users(backend: Backend) -> None:
    from bot.admin.records import BroadcastStatus, SendOutcome

    repo = backend.repo
    for user_id in (30, 10, 20, 40, 50):
        await repo.upsert_user(user_id, "en")
    await repo.ban_user(40, 1, at(0))
    assert await repo.current_broadcast() is None
    first = await repo.start_broadcast(1, 1001, "ru", "hello <all>", 77, at(1))
    assert first is not None
    assert (first.status, first.cursor, first.total, first.handled, first.progress_message_id) == (
        BroadcastStatus.RUNNING, 0, 4, 0, 77,
    )  # fmt: skip
    assert (first.text, first.language, first.chat_id, first.created_at) == ("hello <all>", "ru", 1001, at(1))
    assert await repo.start_broadcast(2, 1002, "en", "other", None, at(2)) is None  # one at a time
    assert await repo.current_broadcast() == first
    assert await repo.broadcast_recipients(0, 2) == [10, 20]
    assert await repo.broadcast_recipients(20, 10) == [30, 50]
    bid = first.broadcast_id
    await repo.record_broadcast_send(bid, 10, SendOutcome.SENT, at(3))
    after = await repo.record_broadcast_send(bid, 20, SendOutcome.BLOCKED, at(4))
    assert after is not None and (after.cursor, after.sent, after.blocked, after.failed) == (20, 1, 1, 0)
    again = await repo.record_broadcast_send(bid, 20, SendOutcome.SENT, at(5))  # a repeat changes nothing
    assert again == after
    await repo.record_broadcast_send(bid, 30, SendOutcome.FAILED, at(6))
    assert await repo.broadcast_recipients(0, 10) == [10, 30, 50]  # 20 blocked the bot
    cancelled = await repo.end_broadcast(bid, BroadcastStatus.CANCELLED, at(7))
    assert cancelled is not None and cancelled.status == BroadcastStatus.CANCELLED
    assert (cancelled.cursor, cancelled.handled, cancelled.updated_at) == (30, 3, at(7))
    ended = await repo.end_broadcast(bid, BroadcastStatus.DONE, at(8))  # finished stays finished
    assert ended == cancelled
    second = await repo.start_broadcast(2, 1002, "en", "next", None, at(9))
    assert second is not None and second.broadcast_id > bid and second.total == 3
    assert await repo.current_broadcast() == second
    assert await repo.end_broadcast(second.broadcast_id + 100, BroadcastStatus.DONE, at(9)) is None
    assert await repo.upsert_user(20, "ru") == "en"  # back with /start: a recipient again, language kept
    assert await repo.broadcast_recipients(0, 10) == [10, 20, 30, 50]
    assert await repo.get_user_language(20) == "en"


# ---------------------------------------------------------------- retention


async def finished(b: Backend, update_id: int, when: float, user_id: int = 1, result: bool = True) -> Job:
    """An upload whose job ran to the end (stored, analysed, delivered) at ``when``."""
    job = await record(b, update_id, user_id, when)
    await b.repo.start_attempt(job.job_id, LEASE)
    await b.repo.mark_stored(job.job_id, f"{user_id}/{job.upload_id}_data.csv")
    if result:
        await b.repo.save_result(job.job_id, '{"rows": 1}')
    await b.repo.finish_job(job.job_id, JobStatus.DONE, JobStep.DELIVERED, None)
    return job


async def test_expired_uploads_oldest_first_never_in_flight(backend: Backend) -> None:
    repo = backend.repo
    old_done = await finished(backend, 1, when=10)
    oldest_done = await finished(backend, 2, when=5, user_id=2)
    queued = await record(backend, 3, when=1)  # older than all, but its job is waiting
    running = await record(backend, 4, when=2)
    await repo.start_attempt(running.job_id, LEASE)
    failed = await record(backend, 5, when=20)
    await repo.finish_job(failed.job_id, JobStatus.FAILED, JobStep.RECORDED, "rejected: empty")
    await finished(backend, 6, when=100)  # too young

    expired = await repo.expired_uploads(at(50), 10)
    assert [u.upload_id for u in expired] == [oldest_done.upload_id, old_done.upload_id, failed.upload_id]
    assert expired[0].blob_key == f"2/{oldest_done.upload_id}_data.csv"
    assert [u.upload_id for u in await repo.expired_uploads(at(50), 2)] == [
        oldest_done.upload_id,
        old_done.upload_id,
    ]
    assert await repo.expired_uploads(at(50), 0) == []
    assert queued.upload_id not in {u.upload_id for u in await repo.expired_uploads(at(10**6), 100)}


async def test_delete_expired_uploads_takes_jobs_and_results_along(backend: Backend) -> None:
    repo = backend.repo
    old = await finished(backend, 1, when=10)
    young = await finished(backend, 2, when=100)
    queued = await record(backend, 3, when=1)
    ids = [old.upload_id, young.upload_id, queued.upload_id, new_id(), "not-a-uuid"]

    assert await repo.delete_expired_uploads(ids, at(50)) == [old.upload_id]
    assert await repo.get_job(old.job_id) is None
    assert await repo.get_result(old.job_id) is None
    assert await repo.get_result_for_upload(old.upload_id) is None
    assert await repo.get_upload(1, old.upload_id) is None
    # The young one and the one in flight stay, whole.
    assert await repo.get_result(young.job_id) is not None
    assert (await repo.get_job(queued.job_id)) is not None
    counts = await backend.counts()
    assert (counts["uploads"], counts["jobs"], counts["results"]) == (2, 2, 1)
    assert counts["users"] == 1  # the audience stays: only the data ages out
    assert await repo.delete_expired_uploads(ids, at(50)) == []  # idempotent
    assert await repo.delete_expired_uploads([], at(50)) == []


async def test_delete_expired_uploads_skips_rows_held_by_others(backend: Backend) -> None:
    if not backend.is_postgres:
        pytest.skip("row locks are Postgres's; the memory repository has none to skip")
    assert backend.admin is not None and backend.schema is not None
    repo = backend.repo
    held = await finished(backend, 1, when=10)
    free = await finished(backend, 2, when=10)
    locker = await Admin.open(backend.url, autocommit=False)
    try:
        held_id = uuid.UUID(held.upload_id)
        await locker.rows(f'SELECT id FROM "{backend.schema}".uploads WHERE id = %s FOR UPDATE', (held_id,))
        with trio.fail_after(5):  # it must not wait for the lock (statement timeout is 10 s)
            deleted = await repo.delete_expired_uploads([held.upload_id, free.upload_id], at(50))
        assert deleted == [free.upload_id]
    finally:
        with trio.CancelScope(shield=True):
            await aio(locker.conn.rollback)
            await locker.aclose()
    assert await repo.delete_expired_uploads([held.upload_id], at(50)) == [held.upload_id]


async def test_blob_expiry_due_and_forgotten(backend: Backend) -> None:
    repo = backend.repo
    later = await finished(backend, 1, when=0, result=False)
    sooner = await finished(backend, 2, when=0, result=False)
    never = await finished(backend, 3, when=0)
    no_blob = await record(backend, 4, when=0)
    await repo.expire_blob_at(later.upload_id, at(200))
    await repo.expire_blob_at(sooner.upload_id, at(100))
    await repo.expire_blob_at(no_blob.upload_id, at(50))  # no file stored: nothing to expire
    await repo.expire_blob_at(new_id(), at(50))  # unknown: no effect, no error

    assert await repo.blobs_due(at(100), 10) == []  # due strictly before
    assert [u.upload_id for u in await repo.blobs_due(at(300), 10)] == [sooner.upload_id, later.upload_id]
    assert [u.upload_id for u in await repo.blobs_due(at(300), 1)] == [sooner.upload_id]
    await repo.forget_blob(sooner.upload_id)
    assert [u.upload_id for u in await repo.blobs_due(at(300), 10)] == [later.upload_id]
    (kept,) = [u for u in await repo.list_uploads(1, 10) if u.upload_id == later.upload_id]
    assert kept.blob_key is not None  # due is not gone: the sweep deletes the file first
    assert never.upload_id not in {u.upload_id for u in await repo.blobs_due(at(10**6), 10)}
