"""The real bot core on simulated services, for flow tests on a virtual clock.

Every flow is watched for blocking as the simulator's runs are: a blocking call made by
one of the bot's tasks, or a step of one of them that burns past its CPU budget on the
loop (a chart drawn on the loop instead of in the CPU runner), fails the flow."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from bot.app import Roles, run_bot
from bot.domain import TgUser
from sim.fakes.telegram.records import SentRecord
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.compose import SIM_TOKEN, SimStack, build_stack
from sim.simulator.kernel.blocking import BlockingWatch, StepClock, watching
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.scenario import parse_scenario


@dataclass
class Chat:
    """One user's chat with the bot."""

    world: BotApiWorld
    stack: SimStack
    user: TgUser

    @property
    def chat_id(self) -> int:
        return self.user.id

    def say(self, text: str) -> int:
        seq = self.world.last_seq
        self.world.user_sends_text(self.user, self.chat_id, text)
        return seq

    def upload(self, name: str, data: bytes, mime: str = "text/csv") -> int:
        seq = self.world.last_seq
        self.world.user_sends_document(self.user, self.chat_id, name, data, mime_type=mime)
        return seq

    def press(self, record: SentRecord, data: str) -> int:
        assert record.message_id is not None
        assert data in record.button_data, f"{data!r} not among {record.button_data}"
        seq = self.world.last_seq
        self.world.user_presses_button(self.user, self.chat_id, record.message_id, data)
        return seq

    async def next(
        self, after: int, match: Callable[[SentRecord], bool] | None = None, timeout: float = 60
    ) -> SentRecord:
        return await self.world.wait_for_bot_message(self.chat_id, match, timeout, after_seq=after)

    async def with_buttons(self, after: int, prefix: str, timeout: float = 60) -> SentRecord:
        return await self.next(after, lambda r: any(d.startswith(prefix) for d in r.button_data), timeout)


@asynccontextmanager
async def simulated_bot(
    *,
    admin_ids: frozenset[int] = frozenset(),
    seed: int = 1,
    faults: list[dict[str, object]] | None = None,
    **settings_update: object,
) -> AsyncIterator[BotApiWorld]:
    scenario = parse_scenario({"scenario": {"name": "flows", "seed": seed}, "faults": faults or []})
    world = BotApiWorld(SIM_TOKEN)
    clock = trio.lowlevel.current_clock()
    stack = build_stack(world, scenario, RngStreams(seed), clock)  # type: ignore[arg-type]
    settings = scenario.bot.build_settings().model_copy(update={"admin_ids": admin_ids, **settings_update})
    world.stack = stack  # type: ignore[attr-defined]
    async with watching_the_loop(), trio.open_nursery() as nursery:
        handle = await nursery.start(
            lambda task_status: run_bot(
                stack.services, settings, roles=Roles(name="flows"), task_status=task_status
            )
        )
        yield world
        handle.stop()


@asynccontextmanager
async def watching_the_loop() -> AsyncIterator[BlockingWatch]:
    """Blocking calls and long CPU steps of the bot's tasks while the block runs, asserted
    absent at its end (the test's own tasks may read files: only the bot's are judged)."""
    # Four times the simulator's budget: a flow is no place for a flaky verdict, and a chart,
    # a table or a profile computed on the loop takes far longer than that.
    watch = BlockingWatch(step_budget_s=0.1)
    clock = StepClock(watch)
    with watching(watch):
        trio.lowlevel.add_instrument(clock)
        try:
            yield watch
        finally:
            trio.lowlevel.remove_instrument(clock)
    calls = [c.describe() for c in watch.calls if c.task.startswith("bot.")]
    assert not calls, f"blocking call(s) on the loop: {calls[:3]}"
    steps = [s.describe() for s in watch.slow_steps]
    assert not steps, f"{watch.slow_steps_seen} long step(s) on the loop: {steps[:3]}"


def chat(world: BotApiWorld, user_id: int, language: str = "en") -> Chat:
    return Chat(world, world.stack, TgUser(id=user_id, language_code=language))  # type: ignore[attr-defined]
