"""Answers once, on the real stack: a Postgres outage in the middle of delivery, and
a worker stopped with SIGTERM in the middle of its jobs.

Same cluster as tests/e2e/test_crashes.py: the bot's poller in this process, worker
processes, a private Postgres that the test stops and starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from tests.e2e.cluster import Cluster, process_cluster
from tests.e2e.outcomes import answers, send_upload, tally, wait_until_settled
from tests.e2e.processes import private_postgres
from tests.e2e.test_crashes import Batch, assert_nothing_lost_or_doubled

from bot.domain import JobStep, TgUser
from bot.i18n import t
from sim.fakes.telegram.records import SentRecord
from sim.simulator.faults.kinds.botapi_delay import BotApiDelayFault

pytestmark = pytest.mark.e2e


def is_receipt(record: SentRecord) -> bool:
    return (record.text or "").startswith("Got")


def columns_csv(n: int, columns: int) -> bytes:
    """A file whose profile takes several messages."""
    header = ";".join(f"metric_{c}" for c in range(columns))
    rows = "".join(
        ";".join(str(n * 1000 + r * columns + c) for c in range(columns)) + "\n" for r in range(12)
    )
    return f"{header}\n{rows}".encode()


def is_profile_part(record: SentRecord) -> bool:
    return record.kind == "message" and (record.text or "").startswith("📊")


async def open_jobs_at_least(cluster: Cluster, step: JobStep) -> int:
    with trio.fail_after(10):
        jobs = await cluster.services.repo.jobs_needing_attention(0, 10_000)
    return sum(1 for job in jobs if job.step >= step)


async def test_a_postgres_outage_during_delivery_sends_no_profile_twice(
    tmp_path: Path, figures_file: Path
) -> None:
    async with (
        private_postgres() as pg,
        process_cluster(tmp_path, database_url=pg.url, env={"BOT_WORKER_CONCURRENCY": "8"}) as cluster,
    ):
        await cluster.start_worker("one")
        batch = Batch(cluster, 8600)
        cluster.world.inject("getFile", BotApiDelayFault(seconds=1.0), count=8)
        cluster.world.inject(
            "sendMessage", BotApiDelayFault(seconds=3.0), count=200
        )  # a delivery takes a while
        sent = batch.send(8)
        with trio.fail_after(60):  # every job analysed, its profile on the way
            while await open_jobs_at_least(cluster, JobStep.ANALYSED) < len(sent):
                await trio.sleep(0.05)
        await pg.stop("fast")
        await trio.sleep(20)  # longer than the worker's lease: only its records wait it out
        await pg.start()
        await batch.settle("postgres outage during delivery", figures_file)
        # Exactly one profile per chat. A job cut off before its result was saved may
        # also have said "taking longer than usual" (a notice, not a second answer).
        profiles = [answers(cluster.world, upload)[0] for upload in sent]
        assert profiles == [1] * len(sent), profiles


async def test_a_file_sent_while_postgres_is_down_is_held_and_profiled_once(tmp_path: Path) -> None:
    async with (
        private_postgres() as pg,
        process_cluster(tmp_path, database_url=pg.url) as cluster,
    ):
        await cluster.start_worker("one")
        await pg.stop("fast")
        upload = send_upload(cluster.world, 8650, "held.csv", columns_csv(1, 3))
        held_text = t("en", "upload_held", name="held.csv")
        with trio.fail_after(60):  # told that the file waits, while Postgres is still down
            while not any(r.text == held_text for r in cluster.world.sent_to(upload.chat_id)):
                await trio.sleep(0.1)
        await trio.sleep(10)  # a few held tries against a stopped database
        await pg.start()
        await wait_until_settled(cluster.world, [upload], open_jobs=cluster.open_jobs, timeout_s=120)
        texts = [r.text or "" for r in cluster.world.sent_to(upload.chat_id) if r.kind == "message"]
        assert answers(cluster.world, upload) == (1, 0), texts
        assert texts.count(held_text) == 1, texts
        assert t("en", "received", name="held.csv") not in texts, "one receipt: the held notice"


async def test_sigterm_hands_running_jobs_to_another_worker(tmp_path: Path, figures_file: Path) -> None:
    async with process_cluster(tmp_path, env={"BOT_WORKER_CONCURRENCY": "1"}) as cluster:
        leaving = await cluster.start_worker("leaving")
        batch = Batch(cluster, 8700)
        cluster.world.inject("getFile", BotApiDelayFault(seconds=4.0), count=8)
        batch.send(4)
        with trio.fail_after(30):
            while (await cluster.consumers()).get("leaving-w0", 0) == 0:
                await trio.sleep(0.05)
        code = await leaving.stop()
        assert code == 0, "a clean exit"
        assert not leaving.log_lines("Traceback"), "no traceback on the way out"
        assert leaving.log_lines("job.handed_back"), "its running job was handed back"
        await cluster.start_worker("staying")
        figures = await batch.settle("SIGTERM mid-job", figures_file)
        assert_nothing_lost_or_doubled(figures)
        assert tally(cluster.world, "check", batch.uploads).analysed == len(batch.uploads)


async def test_kill_9_during_delivery_repeats_at_most_the_part_in_flight(tmp_path: Path) -> None:
    async with process_cluster(tmp_path) as cluster:
        victim = await cluster.start_worker("victim")
        sent = [send_upload(cluster.world, 8800 + n, f"wide_{n}.csv", columns_csv(n, 60)) for n in range(6)]
        with trio.fail_after(60):  # every upload received; its job starts
            while not all(any(is_receipt(r) for r in cluster.world.sent_to(u.chat_id)) for u in sent):
                await trio.sleep(0.05)
        cluster.world.inject("sendMessage", BotApiDelayFault(seconds=4.0), count=200)
        with trio.fail_after(60):  # every chat has the first part of its profile
            while not all(any(is_profile_part(r) for r in cluster.world.sent_to(u.chat_id)) for u in sent):
                await trio.sleep(0.05)
        victim.kill_hard()
        cluster.world.clear_faults()
        await cluster.start_worker("survivor")
        await wait_until_settled(cluster.world, sent, open_jobs=cluster.open_jobs, timeout_s=90)
        for upload in sent:
            texts = [r.text or "" for r in cluster.world.sent_to(upload.chat_id) if r.kind == "message"]
            repeated = len(texts) - len(set(texts))
            assert answers(cluster.world, upload)[0] == 1, texts
            assert repeated <= 1, f"more than the one part in flight was sent again: {texts}"


async def test_one_chats_flood_does_not_hold_up_another_chat(tmp_path: Path) -> None:
    async with process_cluster(tmp_path) as cluster:
        world = cluster.world
        flooder, other = TgUser(id=8901, language_code="en"), TgUser(id=8902, language_code="en")
        for i in range(300):
            world.user_sends_text(flooder, flooder.id, f"spam {i}")
            await trio.sleep(0.02)
        world.user_sends_text(other, other.id, "/help")
        with trio.fail_after(60):
            while not world.sent_to(other.id):
                await trio.sleep(0.05)
        # Answered while the flooding chat's backlog was still being worked off.
        answered_to_flooder = [r for r in world.sent_to(flooder.id) if r.kind == "message"]
        assert len(answered_to_flooder) < 300
        with trio.fail_after(120):
            while not any("faster than I can answer" in (r.text or "") for r in world.sent_to(flooder.id)):
                await trio.sleep(0.1)
        notices = [r for r in world.sent_to(flooder.id) if "faster than I can answer" in (r.text or "")]
        assert len(notices) == 1, "told once"


async def test_a_slow_receipt_comes_first_and_is_not_contradicted(tmp_path: Path) -> None:
    # The reconciler leaves a fresh job alone for longer than a receipt may take (as in
    # production: 60 s against the 10 s telegram.notice budget); the cluster's fast
    # recovery timers would otherwise queue the job while its receipt is still on the way.
    async with process_cluster(tmp_path, env={"BOT_RECONCILE_AFTER_S": "30"}) as cluster:
        await cluster.start_worker("one")
        cluster.world.inject("sendMessage", BotApiDelayFault(seconds=9.0))  # the receipt
        (upload,) = [send_upload(cluster.world, 8950, "slow_receipt.csv", columns_csv(1, 3))]
        await wait_until_settled(cluster.world, [upload], open_jobs=cluster.open_jobs, timeout_s=90)
        texts = [r.text or "" for r in cluster.world.sent_to(upload.chat_id) if r.kind == "message"]
        assert is_receipt(cluster.world.sent_to(upload.chat_id)[0]), texts
        assert not any("took too long" in text for text in texts), texts
        assert answers(cluster.world, upload)[0] == 1, texts
