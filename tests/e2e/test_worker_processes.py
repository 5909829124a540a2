"""Job workers as separate OS processes (``python -m adapters worker``, i.e. ``just worker``).

- Two worker processes drain one queue together: every upload analysed exactly once,
  and both workers did some of the work.
- A runaway analysis (a test-only hook makes analysing one file loop forever) is killed
  at its deadline; its user is told, and the worker goes on with the next job.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.contract.pg_fixtures import pgbouncer_url, skip_unless_reachable
from tests.e2e.cluster import process_cluster
from tests.e2e.outcomes import (
    answers,
    is_failure,
    is_profile,
    record_figures,
    sample_csv,
    send_upload,
    tally,
    wait_until_settled,
)
from tests.e2e.processes import tree_cpu_s

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("via", ["postgres", "pgbouncer"])
async def test_two_worker_processes_drain_one_queue_together(
    tmp_path: Path, figures_file: Path, via: str
) -> None:
    database_url = None
    if via == "pgbouncer":  # every process through the transaction pooler, as on Supabase
        database_url = pgbouncer_url()
        skip_unless_reachable(database_url, "pgbouncer")
    metrics_file = tmp_path / "figures-on-exit.json"
    env = {"BOT_WORKER_CONCURRENCY": "2", "CSVBOT_METRICS_FILE": str(metrics_file)}
    async with process_cluster(tmp_path, database_url=database_url, env=env) as cluster:
        await cluster.start_worker("alpha")
        await cluster.start_worker("beta")

        uploads = [send_upload(cluster.world, 7000 + n, f"sales_{n}.csv", sample_csv(n)) for n in range(16)]
        await wait_until_settled(cluster.world, uploads, open_jobs=cluster.open_jobs, timeout_s=90)

        figures = tally(cluster.world, f"two workers, one queue, via {via}", uploads)
        record_figures(figures_file, figures)
        expected = "sent=16 analysed=16 failed_with_message=0 lost=0 duplicated=0"
        assert figures.line().endswith(expected), figures
        alpha, beta = cluster.jobs_done_by("alpha"), cluster.jobs_done_by("beta")
        assert alpha and beta, f"one worker did everything: alpha={len(alpha)} beta={len(beta)}"
        assert len(alpha) + len(beta) == 16
        assert not set(alpha) & set(beta), "a job was done by both workers"
        # a person's `just worker` stops cleanly on SIGTERM
        for child in cluster.workers.values():
            assert await child.stop() == 0, child.log()[-2000:]
        # ...and writes its figures on the way out (CSVBOT_METRICS_FILE, read by the benchmarks)
        written = json.loads(metrics_file.read_text())
        assert written["sessions"]["checkouts"] > 0


# Loaded by every Python process of the worker (PYTHONPATH), including its CPU pool
# processes, which look analyse_csv up by name: there, a file named runaway.csv is a
# computation that never ends. Test-only; nothing in src knows about it.
RUNAWAY_HOOK = """
import bot.analysis
import bot.analysis.profile as profile

_original = profile.analyse_csv


def analyse_csv(data, file_name, limits=None):
    if file_name == "runaway.csv":
        while True:
            pass
    return _original(data, file_name, limits)


analyse_csv.__module__ = profile.__name__
analyse_csv.__qualname__ = "analyse_csv"
profile.analyse_csv = bot.analysis.analyse_csv = analyse_csv
"""


def runaway_hook(folder: Path) -> str:
    """A PYTHONPATH that installs :data:`RUNAWAY_HOOK` in every process started with it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(RUNAWAY_HOOK)
    return os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)


async def test_a_runaway_analysis_is_killed_at_its_deadline_and_the_worker_goes_on(
    tmp_path: Path, figures_file: Path
) -> None:
    env = {
        "PYTHONPATH": runaway_hook(tmp_path / "hook"),
        "DEADLINE_ANALYSIS": "6",
        "BOT_JOB_MAX_ATTEMPTS": "2",
        "BOT_JOB_LEASE_S": "3",
        "BOT_RECONCILE_AFTER_S": "3",
        # One job at a time: the next job can only start once the runaway is stopped.
        "BOT_WORKER_CONCURRENCY": "1",
    }
    async with process_cluster(tmp_path, env=env) as cluster:
        worker = await cluster.start_worker("solo")

        runaway = send_upload(cluster.world, 7101, "runaway.csv", sample_csv(0))
        await cluster.world.wait_for_bot_message(runaway.chat_id, timeout=30)  # the receipt
        normal = send_upload(cluster.world, 7102, "fine.csv", sample_csv(1))
        await wait_until_settled(cluster.world, [runaway, normal], open_jobs=cluster.open_jobs, timeout_s=120)

        assert answers(cluster.world, normal) == (1, 0), "the job after the runaway was analysed"
        assert answers(cluster.world, runaway) == (0, 1), "the runaway's user got one failure message"
        [failure] = [r for r in cluster.world.sent_to(runaway.chat_id) if is_failure(r)]
        assert "took too long, so I stopped it" in (failure.text or "")
        assert not any(is_profile(r) for r in cluster.world.sent_to(runaway.chat_id))
        # Ended at the first timeout: the same file would run away again on a retry.
        assert worker.log_lines("job.attempt_failed") == []
        ended = worker.log_lines("job.failed")
        assert len(ended) == 1 and "analysis took too long" in ended[0], ended
        assert worker.running, "the worker process survived the runaway"
        # Killed, not abandoned: each attempt burned about DEADLINE_ANALYSIS of CPU, so a runaway
        # still alive (a pool process, or a thread of the worker itself) would show well over that.
        burning = {p: s for p, s in tree_cpu_s(worker.pid).items() if s > 5.0}
        assert not burning, f"runaway computation still alive: {burning}"
        record_figures(figures_file, tally(cluster.world, "runaway analysis", [runaway, normal]))
