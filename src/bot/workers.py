"""Job workers and the reconciler.

A worker claims deliveries from the queue and runs them. The reconciler is what
makes "no upload is ever lost" hold when the queue does not: it re-enqueues jobs
that Postgres says are still open but nobody touched for a while (a crash between
commit and enqueue, a Redis that lost its data, a dead worker), and takes over
deliveries left unacknowledged. When the queue itself is down, it runs those jobs
directly, so jobs keep flowing on Postgres alone.
"""

from __future__ import annotations

from datetime import timedelta

import trio

from bot.context import BotContext
from bot.domain import Delivery
from bot.errors import PortError
from bot.jobs import JobRunner


async def run_worker(ctx: BotContext, consumer: str, *, block_s: float = 5.0) -> None:
    """Up to ``settings.worker_concurrency`` jobs at once under one consumer name.

    A job spends most of its time waiting (Telegram downloads, storage, the per-chat
    send rate of one message a second), not computing: CPU work is bounded by the
    CpuRunner's own slots. With one job at a time, a worker delivered about one
    profile a second and the launch-day peak of 200 uploads waited minutes in the
    queue (scenarios/launch-day.toml showed it).

    One loop claims, and only when a job slot is free: a single blocking read holds
    a Redis connection, not one per slot, so the pool stays free for everything else."""
    runner = JobRunner(ctx, consumer)
    slots = trio.Semaphore(max(1, ctx.settings.worker_concurrency))
    async with trio.open_nursery() as jobs:
        while True:
            await slots.acquire()
            # A failed claim is retried (the queue.claim policy) for as long as the worker runs.
            delivery = await ctx.call_waiting(
                "queue.claim", block_s, ctx.services.queue.claim, consumer, block_s
            )
            if delivery is None:
                slots.release()
                continue
            jobs.start_soon(_handle_then_free_slot, runner, delivery, slots)


async def _handle_then_free_slot(runner: JobRunner, delivery: Delivery, slots: trio.Semaphore) -> None:
    try:
        await runner.handle_delivery(delivery)
    finally:
        slots.release()


async def run_reconciler(ctx: BotContext, consumer: str) -> None:
    runner = JobRunner(ctx, consumer)
    log = ctx.log.bind(consumer=consumer)
    settings = ctx.settings
    requeued: dict[str, float] = {}
    while True:
        await trio.sleep(settings.reconcile_every_s)
        try:
            await reconcile_once(ctx, runner, requeued)
        except PortError as exc:
            log.warning("reconcile.failed", error=str(exc))


async def reconcile_once(ctx: BotContext, runner: JobRunner, requeued: dict[str, float] | None = None) -> int:
    """One pass; returns how many jobs it re-enqueued or ran.

    ``requeued`` remembers when this process last re-enqueued each job, so a job that
    simply waits its turn in a long queue is not added again on every pass."""
    requeued = {} if requeued is None else requeued
    settings = ctx.settings
    services = ctx.services
    touched = 0
    try:
        stale = await ctx.call("queue", services.queue.reclaim, runner.consumer, settings.reclaim_idle_s, 50)
    except PortError as exc:
        ctx.log.warning("reconcile.reclaim_failed", error=str(exc))
        stale = []
    for delivery in stale:
        await runner.handle_delivery(delivery)
        touched += 1
    # A running job found here may still be held (its lease fresh): start_attempt then
    # refuses it, so re-enqueueing it is harmless.
    cutoff = services.clock.now() - timedelta(seconds=settings.reconcile_after_s)
    jobs = await ctx.call("db.statement", services.repo.jobs_needing_attention, cutoff, 100)
    now_s = trio.current_time()
    for job_id in [j for j, at in requeued.items() if now_s - at >= settings.reconcile_after_s]:
        del requeued[job_id]
    for job in jobs:
        if job.job_id in requeued:
            continue
        requeued[job.job_id] = now_s
        try:
            await ctx.call("queue", services.queue.enqueue, job.job_id)
            ctx.log.info("reconcile.requeued", job_id=job.job_id, attempts=job.attempts)
        except PortError:
            ctx.log.warning("reconcile.queue_down_running_directly", job_id=job.job_id)
            await runner.run_job(job.job_id)
        touched += 1
    services.metrics.gauge("reconcile.touched", touched)
    return touched
