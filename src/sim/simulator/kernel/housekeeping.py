"""Each simulated process runs the housekeeping a real one runs beside the bot
(``adapters.ops.runtime`` in production): update claims pruned, expired data swept
(``bot.retention``), with the same code, on the process's own services."""

from __future__ import annotations

from functools import partial

import trio

from bot.app import BotHandle, Roles
from bot.guard import Guard
from bot.log import Logger
from bot.ports import Services
from bot.retention import Keeper, run_housekeeping
from bot.settings import Settings
from sim.simulator.kernel.supervisor import BotMain


def with_housekeeping(bot_main: BotMain, *, claims_retention_s: float, claims_every_s: float) -> BotMain:
    """``bot_main`` with the housekeeping beside it; both live and die together (a crash
    of the process stops both, a graceful stop ends the housekeeping once the bot is done)."""

    async def process(
        services: Services,
        settings: Settings,
        *,
        roles: Roles,
        task_status: trio.TaskStatus[BotHandle] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        log = Logger(services.log, component="housekeeping", process=roles.name)
        keeper = Keeper(
            services.repo,
            services.blobs,
            Guard(settings, services.metrics, log),
            services.clock,
            log,
            settings,
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                partial(
                    run_housekeeping,
                    keeper,
                    claims_retention_s=claims_retention_s,
                    claims_every_s=claims_every_s,
                ),
                name="bot.housekeeping",
            )
            await bot_main(services, settings, roles=roles, task_status=task_status)
            nursery.cancel_scope.cancel()

    return process


__all__ = ["with_housekeeping"]
