"""Crash tests on the real stack: worker processes, Postgres, Redis, storage.

Each scenario sends a batch of uploads (each from its own chat), injects one fault,
lets the system heal, and then counts, from what the Bot API emulator received, what
became of every upload (tests/e2e/outcomes.py): analysed, failed with a message to the
user, lost (no answer at all) or duplicated (answered twice). Lost and duplicated
must be zero, and every upload analysed or failed with a message.

The Postgres and Redis that get restarted are private to the test (the machine's own
servers are shared with the other tests). Recovery timers are shortened through the
environment (cluster.FAST_RECOVERY) so that each scenario heals in seconds.

The figures are printed (``pytest -s``) and written to ``figures.json`` in pytest's
base temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from tests.e2e.cluster import Cluster, process_cluster
from tests.e2e.outcomes import (
    Figures,
    SentUpload,
    answers,
    record_figures,
    sample_csv,
    send_upload,
    tally,
    wait_until_settled,
)
from tests.e2e.processes import private_postgres, private_redis

from sim.simulator.faults.kinds.botapi_delay import BotApiDelayFault

pytestmark = pytest.mark.e2e

SETTLE_S = 90  # upper bound on healing; a healthy run settles far sooner


class Batch:
    """Uploads of one scenario, each from a new user."""

    def __init__(self, cluster: Cluster, first_user: int) -> None:
        self.cluster = cluster
        self.next_user = first_user
        self.uploads: list[SentUpload] = []

    def send(self, count: int) -> list[SentUpload]:
        sent = []
        for _ in range(count):
            n = self.next_user
            self.next_user += 1
            sent.append(send_upload(self.cluster.world, n, f"report_{n}.csv", sample_csv(n)))
        self.uploads.extend(sent)
        return sent

    async def wait_for_answers(self, uploads: list[SentUpload], at_least: int, timeout_s: float = 60) -> None:
        with trio.fail_after(timeout_s):
            while sum(sum(answers(self.cluster.world, u)) > 0 for u in uploads) < at_least:
                await trio.sleep(0.1)

    async def settle(self, scenario: str, figures_file: Path) -> Figures:
        cluster = self.cluster
        await wait_until_settled(cluster.world, self.uploads, open_jobs=cluster.open_jobs, timeout_s=SETTLE_S)
        figures = tally(cluster.world, scenario, self.uploads)
        record_figures(figures_file, figures)
        assert await cluster.open_jobs() == 0, "a job was left queued or running"
        return figures


def assert_nothing_lost_or_doubled(figures: Figures) -> None:
    assert figures.lost == 0, figures
    assert figures.duplicated == 0, figures
    assert figures.analysed + figures.failed_with_message == figures.sent, figures


async def test_kill_9_of_a_worker_mid_job(tmp_path: Path, figures_file: Path) -> None:
    async with process_cluster(tmp_path) as cluster:
        victim = await cluster.start_worker("victim")
        survivor = await cluster.start_worker("survivor")
        batch = Batch(cluster, 8100)
        cluster.world.inject(
            "downloadFile", BotApiDelayFault(seconds=1.5), count=12
        )  # keeps jobs in flight long enough
        batch.send(12)
        # Mid-job: the victim holds deliveries it has not acknowledged.
        with trio.fail_after(30):
            while (await cluster.consumers()).get("victim-w0", 0) == 0:
                await trio.sleep(0.02)
        victim.kill_hard()
        figures = await batch.settle("kill -9 worker mid-job", figures_file)
        assert_nothing_lost_or_doubled(figures)
        assert figures.analysed == figures.sent  # a crash is no reason to give up on a file
        assert survivor.running and not victim.running
        assert len(cluster.jobs_done_by("victim")) < figures.sent


async def test_postgres_restart(tmp_path: Path, figures_file: Path) -> None:
    async with private_postgres() as pg, process_cluster(tmp_path, database_url=pg.url) as cluster:
        await cluster.start_worker("one")
        await cluster.start_worker("two")
        batch = Batch(cluster, 8200)
        cluster.world.inject("downloadFile", BotApiDelayFault(seconds=1.0), count=8)
        first = batch.send(8)
        await batch.wait_for_answers(first, at_least=1)
        await pg.stop("fast")  # every session ends; new ones are refused
        batch.send(3)  # while Postgres is down: not recorded, the user is told to resend
        await trio.sleep(3)
        await pg.start()
        batch.send(3)
        figures = await batch.settle("postgres restart", figures_file)
        assert_nothing_lost_or_doubled(figures)
        assert pg.stops == 1


async def test_redis_stopped_and_restarted_empty(tmp_path: Path, figures_file: Path) -> None:
    async with private_redis(tmp_path) as rds, process_cluster(tmp_path, redis_url=rds.url) as cluster:
        await cluster.start_worker("one")
        await cluster.start_worker("two")
        batch = Batch(cluster, 8300)
        cluster.world.inject("downloadFile", BotApiDelayFault(seconds=1.0), count=6)
        first = batch.send(6)
        await batch.wait_for_answers(first, at_least=1)
        await rds.kill()  # the queue and its pending deliveries are gone with it
        batch.send(4)  # while Redis is down: recorded in Postgres, run by the reconcilers
        await trio.sleep(8)
        await rds.start()  # empty: no stream, no consumer group
        batch.send(3)
        figures = await batch.settle("redis stopped, restarted empty", figures_file)
        assert_nothing_lost_or_doubled(figures)
        assert figures.analysed == figures.sent  # Postgres alone carries the jobs through
        assert rds.starts == 2


async def test_storage_stalled_for_30_seconds(tmp_path: Path, figures_file: Path) -> None:
    async with process_cluster(tmp_path, storage="supabase") as cluster:
        await cluster.start_worker("one")
        await cluster.start_worker("two")
        assert cluster.storage is not None
        batch = Batch(cluster, 8400)
        cluster.storage.faults.stall_s = 30.0  # every storage request hangs for 30 s
        batch.send(8)
        await trio.sleep(30)
        cluster.storage.faults.stall_s = 0.0
        figures = await batch.settle("storage stalled 30 s", figures_file)
        assert_nothing_lost_or_doubled(figures)
        assert figures.analysed == figures.sent  # the jobs outlast the stall
        stored = cluster.storage.object_keys("uploads")
        assert len(stored) == figures.sent
