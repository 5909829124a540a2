"""The reconciler takes running jobs over only once the database has answered for
``takeover_grace_s``: a worker that was merely cut off gets that long to record what it
sent before another worker resumes the job (scenarios/db-back-takeover-waits.toml); and it
takes a delivery over only once that delivery has been idle for ``reclaim_idle_s``."""

from __future__ import annotations

from datetime import UTC, datetime

import trio

from bot.context import BotContext
from bot.domain import NewUpload
from bot.jobs import JobRunner
from bot.settings import Settings
from bot.workers import ReconcilerMemory, reconcile_once
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.compose import SIM_TOKEN, SimStack, build_stack
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.scenario import parse_scenario


async def _recorded_job(clock: object, settings: Settings) -> tuple[SimStack, BotContext, str]:
    """A simulated stack, the bot's context on it, and the id of one recorded upload's job."""
    scenario = parse_scenario({"scenario": {"name": "reconcile", "seed": 1}})
    stack = build_stack(BotApiWorld(SIM_TOKEN), scenario, RngStreams(1), clock)  # type: ignore[arg-type]
    new = NewUpload(
        update_id=1, user_id=7, chat_id=7, language="en", file_id="f", file_unique_id="u",
        file_name="data.csv", file_size=10,
    )  # fmt: skip
    upload_id, job_id = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    assert await stack.repo.record_upload(new, upload_id, job_id, datetime.now(UTC)) is not None
    return stack, BotContext.build(stack.services, settings), job_id


async def test_a_running_job_is_taken_over_only_after_the_grace(autojump_clock: object) -> None:
    settings = Settings(job_lease_s=10.0, reconcile_after_s=5.0, takeover_grace_s=20.0)
    stack, ctx, job_id = await _recorded_job(autojump_clock, settings)
    assert await stack.repo.start_attempt(job_id, settings.job_lease_s) is not None
    await trio.sleep(60)  # its lease ran out long ago, and nobody touched it since
    runner = JobRunner(ctx, "reconciler-test")
    memory = ReconcilerMemory(database_back_at=None)  # the last pass found the database away
    await reconcile_once(ctx, runner, memory)
    assert job_id not in stack.queue.job_ids()  # just back: its worker may still record
    await trio.sleep(settings.takeover_grace_s)
    await reconcile_once(ctx, runner, memory)
    assert job_id in stack.queue.job_ids()


async def test_a_delivery_is_taken_over_only_once_it_has_been_idle_long_enough(
    autojump_clock: object,
) -> None:
    # A worker holds a delivery and its job's live lease. A reconciler pass within the
    # delivery's idle time leaves it with that worker: taken over, the job would be refused
    # by the live lease and the delivery acknowledged, leaving a running job with no queue
    # entry (were its worker to die, it would wait for the reconciler's pass over Postgres).
    # Once the worker has been silent past reclaim_idle_s, the reconciler takes the delivery
    # over and runs the job.
    settings = Settings(job_lease_s=60.0, reclaim_idle_s=120.0, takeover_grace_s=0.0)
    stack, ctx, job_id = await _recorded_job(autojump_clock, settings)
    await stack.queue.enqueue(job_id)
    delivery = await stack.queue.claim("worker-1", 0.0)
    assert delivery is not None and delivery.job_id == job_id
    assert await stack.repo.start_attempt(job_id, settings.job_lease_s) is not None
    runner = JobRunner(ctx, "reconciler-test")
    memory = ReconcilerMemory()
    await trio.sleep(10)
    await reconcile_once(ctx, runner, memory)
    assert job_id in stack.queue.job_ids()  # still the worker's
    await trio.sleep(settings.reclaim_idle_s)  # the worker died: no ack, no heartbeat
    await reconcile_once(ctx, runner, memory)
    taken = await stack.repo.get_job(job_id)  # taken over: a second attempt
    assert taken is not None and taken.attempts == 2
