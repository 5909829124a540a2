"""Answers once, on the real stack: a Postgres outage in the middle of delivery, and
a worker stopped with SIGTERM in the middle of its jobs.

Same cluster as tests/e2e/test_crashes.py: the bot's poller in this process, worker
processes, a private Postgres that the test stops and starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
from tests.e2e.cluster import Cluster, process_cluster
from tests.e2e.outcomes import answers, tally
from tests.e2e.processes import private_postgres
from tests.e2e.test_crashes import Batch, assert_nothing_lost_or_doubled

from bot.domain import JobStep
from sim.simulator.faults.kinds.botapi_delay import BotApiDelayFault

pytestmark = pytest.mark.e2e


async def open_jobs_at_least(cluster: Cluster, step: JobStep) -> int:
    far = datetime.now(UTC) + timedelta(days=1)
    with trio.fail_after(10):
        jobs = await cluster.services.repo.jobs_needing_attention(far, 10_000)
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


async def test_sigterm_hands_running_jobs_to_another_worker(tmp_path: Path, figures_file: Path) -> None:
    async with process_cluster(tmp_path, env={"BOT_WORKER_CONCURRENCY": "1"}) as cluster:
        leaving = await cluster.start_worker("leaving")
        batch = Batch(cluster, 8700)
        cluster.world.inject("getFile", BotApiDelayFault(seconds=4.0), count=8)
        batch.send(4)
        with trio.fail_after(30):
            while (await cluster.consumers()).get("leaving-w0", 0) == 0:
                await trio.sleep(0.05)
        stopped_at = trio.current_time()
        code = await leaving.stop()
        assert code == 0, "a clean exit"
        assert not leaving.log_lines("Traceback"), "no traceback on the way out"
        assert leaving.log_lines("job.handed_back"), "its running job was handed back"
        await cluster.start_worker("staying")
        figures = await batch.settle("SIGTERM mid-job", figures_file)
        assert_nothing_lost_or_doubled(figures)
        # Handed back, the jobs finish within seconds, not after a lease plus a reclaim.
        assert trio.current_time() - stopped_at < 60
        assert tally(cluster.world, "check", batch.uploads).analysed == len(batch.uploads)
