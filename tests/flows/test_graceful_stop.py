"""A graceful stop hands running jobs on: the next process resumes them at once,
not after their lease runs out."""

from __future__ import annotations

import functools

import trio

from bot.app import Roles, run_bot
from bot.domain import JobStatus, TgUser
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.compose import SIM_TOKEN, build_stack
from sim.simulator.faults.kinds.botapi_delay import BotApiDelayFault
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.scenario import parse_scenario

DATA = b"city,amount\nMoscow,10\nKazan,20\nOmsk,30\n"


async def test_a_stopped_worker_hands_its_jobs_to_the_next_one(autojump_clock):
    scenario = parse_scenario({"scenario": {"name": "graceful", "seed": 1}})
    world = BotApiWorld(SIM_TOKEN)
    stack = build_stack(world, scenario, RngStreams(1), trio.lowlevel.current_clock())  # type: ignore[arg-type]
    settings = scenario.bot.build_settings().model_copy(update={"worker_concurrency": 1})
    users = [TgUser(id=7000 + n, language_code="en") for n in range(4)]

    async with trio.open_nursery() as nursery:
        first = await nursery.start(
            functools.partial(run_bot, stack.services, settings, roles=Roles(name="a"))
        )
        world.inject(
            "getFile", BotApiDelayFault(seconds=40.0), count=4
        )  # every job is still fetching at the stop
        for user in users:
            world.user_sends_document(user, user.id, "sales.csv", DATA)
        await trio.sleep(5)
        stopped_at = trio.current_time()
        first.stop()
    stop_took = trio.current_time() - stopped_at
    assert stop_took <= 2 * settings.deadline("shutdown") + 1

    open_jobs = await stack.repo.jobs_needing_attention(0, 100)
    assert open_jobs and all(job.status == JobStatus.QUEUED for job in open_jobs), "handed back"

    world.clear_faults()
    restarted_at = trio.current_time()
    async with trio.open_nursery() as nursery:
        second = await nursery.start(
            functools.partial(run_bot, stack.services, settings, roles=Roles(name="b"))
        )
        for user in users:
            await world.wait_for_bot_message(
                user.id, lambda r: bool(r.reply_markup), timeout=120, after_seq=0
            )
        resumed_in = trio.current_time() - restarted_at
        second.stop()
    # Well inside the 60 s lease the jobs would otherwise wait out.
    assert resumed_in < 30, resumed_in
