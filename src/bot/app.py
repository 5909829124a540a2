"""The bot as one Trio task tree: poller, workers and reconciler in one nursery.

Nothing here knows whether the services are real or simulated. ``run_bot`` runs
until cancelled; :class:`BotHandle` lets the caller stop it gracefully (stop
polling, let in-flight updates finish within a bound, then cancel the rest).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import trio

from bot.admin.broadcast import BroadcastRunner
from bot.context import BotContext
from bot.handlers import Router
from bot.ports import Services
from bot.settings import Settings
from bot.updates import UpdatePoller
from bot.workers import run_reconciler, run_worker


@dataclass(frozen=True, slots=True)
class Roles:
    poller: bool = True
    workers: int = 1
    reconciler: bool = True
    name: str = "bot"


@dataclass(slots=True)
class BotHandle:
    """Returned through ``task_status.started``: a way to stop the bot gracefully."""

    poller: UpdatePoller | None = None
    _stop: trio.Event = field(default_factory=trio.Event)

    def stop(self) -> None:
        self._stop.set()


async def _run_workers(ctx: BotContext, roles: Roles, stopping: trio.Event, done: trio.Event) -> None:
    async with trio.open_nursery() as nursery:
        for number in range(roles.workers):
            nursery.start_soon(
                functools.partial(run_worker, ctx, f"{roles.name}-w{number}", stopping=stopping)
            )
    done.set()


async def _run_broadcasts(runner: BroadcastRunner, done: trio.Event) -> None:
    await runner.run()
    done.set()


async def run_bot(
    services: Services,
    settings: Settings,
    *,
    roles: Roles | None = None,
    task_status: trio.TaskStatus[BotHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    roles = roles or Roles()
    # Only the poller sends while the shared send bucket is out of reach: a 429 met by
    # a process that cannot tell the others must be one no other process is ignoring.
    ctx = BotContext.build(services, settings, sends_blind=roles.poller)
    handle = BotHandle()
    broadcasts: BroadcastRunner | None = None
    broadcasts_done = trio.Event()
    ctx.log.info("bot.starting", role=roles.name, poller=roles.poller, workers=roles.workers)
    async with trio.open_nursery() as nursery:
        if roles.poller:
            router = Router(ctx)
            poller = UpdatePoller(
                ctx.messenger,
                router.handle,
                poll_timeout_s=settings.poll_timeout_s,
                max_in_flight=settings.max_concurrent_updates,
                max_pending_per_chat=settings.max_pending_per_chat,
                on_flood=router.on_flood,
                log=ctx.log,
                metrics=services.metrics,
                pauses=services.repo,
                keeper=services.state,
            )
            router.on_claimed = poller.settled
            router.maybe_redelivered = poller.redelivered
            handle.poller = poller
            # A running broadcast resumes here after a restart (bot.admin.broadcast).
            broadcasts = router.admin.broadcasts
            nursery.start_soon(_run_broadcasts, broadcasts, broadcasts_done)
            await nursery.start(
                lambda task_status: poller.run(drain_s=settings.deadline("shutdown"), task_status=task_status)
            )
        else:
            broadcasts_done.set()
        workers_stopping = trio.Event()
        workers_done = trio.Event()
        nursery.start_soon(_run_workers, ctx, roles, workers_stopping, workers_done)
        if roles.reconciler:
            nursery.start_soon(run_reconciler, ctx, f"{roles.name}-reconciler")
        task_status.started(handle)
        await handle._stop.wait()
        ctx.log.info("bot.stopping")
        # Updates and jobs wind down side by side: polling and claiming stop at once,
        # in-flight work gets the shutdown budget, and unfinished jobs are handed back.
        workers_stopping.set()
        if broadcasts is not None:
            broadcasts.stop()  # between two messages: the one going out is recorded first
        with trio.move_on_after(settings.deadline("shutdown") * 2):
            if handle.poller is not None:
                handle.poller.stop_polling()
                await handle.poller.drain(settings.deadline("shutdown"))
            await workers_done.wait()
            await broadcasts_done.wait()
        nursery.cancel_scope.cancel()
    ctx.log.info("bot.stopped")
