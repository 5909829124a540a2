"""Job workers and the reconciler.

A worker claims deliveries from the queue and runs them. The reconciler is what
makes "no upload is ever lost" hold when the queue does not: it re-enqueues jobs
that Postgres says are still open but nobody touched for a while (a crash between
commit and enqueue, a Redis that lost its data, a dead worker), and takes over
deliveries left unacknowledged. When the queue itself is down, it runs those jobs
directly, so jobs keep flowing on Postgres alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from bot.context import BotContext
from bot.domain import Delivery, JobStatus
from bot.errors import PortError
from bot.jobs import JobRunner


async def run_worker(
    ctx: BotContext, consumer: str, *, block_s: float = 5.0, stopping: trio.Event | None = None
) -> None:
    """Up to ``settings.worker_concurrency`` jobs at once under one consumer name.

    A job spends most of its time waiting (Telegram downloads, storage, the per-chat
    send rate of one message a second), not computing: CPU work is bounded by the
    CpuRunner's own slots. With one job at a time, a worker delivered about one
    profile a second and the launch-day peak of 200 uploads waited minutes in the
    queue (scenarios/launch-day.toml showed it).

    One loop claims, and only when a job slot is free: a single blocking read holds
    a Redis connection, not one per slot, so the pool stays free for everything else.

    When ``stopping`` is set the worker stops claiming, gives its running jobs the
    shutdown budget to finish, hands the rest back (released and re-queued, so
    another worker resumes them within seconds) and returns."""
    runner = JobRunner(ctx, consumer)
    slots = trio.Semaphore(max(1, ctx.settings.worker_concurrency))
    async with trio.open_nursery() as jobs:
        jobs.start_soon(_abandon_record_waits_when_cancelled, runner)
        jobs.start_soon(runner.keep_leases)
        with trio.CancelScope() as claiming:
            if stopping is not None:
                jobs.start_soon(_cancel_when_set, stopping, claiming)
            await _claim_loop(ctx, runner, consumer, slots, jobs, block_s)
        ctx.log.info("worker.stopping", consumer=consumer, running=_running(slots, ctx))
        with trio.move_on_after(ctx.guard.seconds("shutdown")):
            for _ in range(max(1, ctx.settings.worker_concurrency)):
                await slots.acquire()  # every slot back: no job running
        runner.hand_back_when_cancelled = True
        jobs.cancel_scope.cancel()


def _running(slots: trio.Semaphore, ctx: BotContext) -> int:
    return max(1, ctx.settings.worker_concurrency) - slots.value


async def _cancel_when_set(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def _claim_loop(
    ctx: BotContext,
    runner: JobRunner,
    consumer: str,
    slots: trio.Semaphore,
    jobs: trio.Nursery,
    block_s: float,
) -> None:
    while True:
        await slots.acquire()
        delivery = None
        try:
            # A failed claim is retried (the queue.claim policy) for as long as the worker runs.
            delivery = await ctx.call_waiting(
                "queue.claim", block_s, ctx.services.queue.claim, consumer, block_s
            )
        finally:
            if delivery is None:
                slots.release()  # also when a stop cancels the read
        if delivery is not None:
            jobs.start_soon(_handle_then_free_slot, runner, delivery, slots)


async def _abandon_record_waits_when_cancelled(runner: JobRunner) -> None:
    """Records waiting for the database are shielded; a stopping process ends them here."""
    try:
        await trio.sleep_forever()
    finally:
        runner.abandon_record_waits()


async def _handle_then_free_slot(runner: JobRunner, delivery: Delivery, slots: trio.Semaphore) -> None:
    try:
        await runner.handle_delivery(delivery)
    finally:
        slots.release()


async def run_reconciler(ctx: BotContext, consumer: str) -> None:
    runner = JobRunner(ctx, consumer)
    log = ctx.log.bind(consumer=consumer)
    settings = ctx.settings
    memory = ReconcilerMemory()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_abandon_record_waits_when_cancelled, runner)
        nursery.start_soon(runner.keep_leases)
        while True:
            await trio.sleep(settings.reconcile_every_s)
            try:
                await reconcile_once(ctx, runner, memory)
            except PortError as exc:
                memory.database_back_at = None
                log.warning("reconcile.failed", error=str(exc))


@dataclass(slots=True)
class ReconcilerMemory:
    """What the reconciler remembers between passes (trio time)."""

    requeued: dict[str, float] = field(default_factory=dict)  # job id -> when re-enqueued
    database_back_at: float | None = 0.0  # None while the last pass found it unreachable
    # While the queue refuses jobs, nobody else will run a new upload's job: look for
    # them every pass instead of after reconcile_after_s.
    queue_down: bool = False


async def reconcile_once(ctx: BotContext, runner: JobRunner, memory: ReconcilerMemory | None = None) -> int:
    """One pass; returns how many jobs it re-enqueued or ran.

    ``memory.requeued`` remembers when this process last re-enqueued each job, so a
    job that simply waits its turn in a long queue is not added again on every pass.
    Unacknowledged deliveries and running jobs are taken over only once the database
    has answered for ``settings.takeover_grace_s``."""
    memory = ReconcilerMemory() if memory is None else memory
    requeued = memory.requeued
    settings = ctx.settings
    services = ctx.services
    # Idleness is judged on the database's clock (this host's may be off), as leases are.
    jobs = await ctx.call(
        "db.statement", services.repo.jobs_needing_attention, settings.reconcile_after_s, 100
    )
    now_s = trio.current_time()
    if memory.database_back_at is None:
        memory.database_back_at = now_s
    settled = now_s - memory.database_back_at >= settings.takeover_grace_s
    touched = 0
    if settled:
        try:
            stale = await ctx.call(
                "queue", services.queue.reclaim, runner.consumer, settings.reclaim_idle_s, 50
            )
            memory.queue_down = False
        except PortError as exc:
            ctx.log.warning("reconcile.reclaim_failed", error=str(exc))
            memory.queue_down = True
            stale = []
        for delivery in stale:
            await runner.handle_delivery(delivery)
            touched += 1
    if memory.queue_down:  # nobody else runs new jobs now: do not wait reconcile_after_s for them
        jobs = await ctx.call(
            "db.statement", services.repo.jobs_needing_attention, settings.reconcile_every_s, 100
        )
    for job_id in [j for j, at in requeued.items() if now_s - at >= settings.reconcile_after_s]:
        del requeued[job_id]
    for job in jobs:
        if job.job_id in requeued or (job.status == JobStatus.RUNNING and not settled):
            continue
        # A running job whose lease is still fresh is refused by start_attempt, so
        # re-enqueueing it is harmless.
        requeued[job.job_id] = now_s
        try:
            await ctx.call("queue", services.queue.enqueue, job.job_id)
            memory.queue_down = False
            ctx.log.info("reconcile.requeued", job_id=job.job_id, attempts=job.attempts)
        except PortError:
            memory.queue_down = True
            ctx.log.warning("reconcile.queue_down_running_directly", job_id=job.job_id)
            await runner.run_job(job.job_id)
        touched += 1
    services.metrics.gauge("reconcile.touched", touched)
    return touched
