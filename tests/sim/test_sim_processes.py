"""Simulated processes: a hard kill stops everything at once, a stop is graceful, a
restart has fresh memory and fresh handles; faults and clock skew aim at one process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from bot.app import BotHandle, Roles
from bot.errors import ServiceUnavailable
from bot.settings import Settings
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.compose import SIM_TOKEN, build_stack
from sim.simulator.faults.system import SystemUnderFault
from sim.simulator.kernel.handles import Handles, ProcessGone, revocable
from sim.simulator.kernel.kill import sweep
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.kernel.supervisor import BotSupervisor
from sim.simulator.kernel.trace import Trace
from sim.simulator.scenario import ScenarioError, parse_scenario


class Store:
    """A stand-in service: records what reached it."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, str]] = []

    async def write(self, what: str) -> None:
        await trio.lowlevel.checkpoint()
        self.writes.append((trio.current_time(), what))


@dataclass
class FakeBot:
    """A bot main whose one task writes after a long shielded wait (a retried record)."""

    store: Store
    shielded_wait_s: float = 100.0
    ignore_stop: bool = False
    memory: list[int] = field(default_factory=list)  # one entry per incarnation's own memory
    seen_handles: list[Handles] = field(default_factory=list)

    def services_for(self, handles: Handles) -> Any:
        self.seen_handles.append(handles)
        return revocable(self.store, handles)

    async def main(
        self, store: Store, settings: Settings, *, roles: Roles, task_status: trio.TaskStatus[BotHandle]
    ) -> None:
        mine: list[str] = []  # this incarnation's in-memory state
        self.memory.append(id(mine))
        handle = BotHandle()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._record, store, mine)
            task_status.started(handle)
            await handle._stop.wait()
            await store.write("stopping")
            if self.ignore_stop:
                await trio.sleep_forever()
            nursery.cancel_scope.cancel()

    async def _record(self, store: Store, mine: list[str]) -> None:
        try:
            with trio.CancelScope(shield=True):
                await trio.sleep(self.shielded_wait_s)
                await store.write("record")
                mine.append("record")
        finally:
            with trio.CancelScope(shield=True):
                await store.write("finally")  # a dying process cannot reach the store


async def _stop_at(supervisor: BotSupervisor, at: float) -> None:
    await trio.sleep_until(at)
    await supervisor.stop(1.0)


def _supervisor(bot: FakeBot, trace: Trace) -> BotSupervisor:
    fatal: list[bool] = []
    return BotSupervisor(
        bot.main, bot.services_for, Settings(), Roles(), trace, on_fatal=lambda: fatal.append(True)
    )


async def test_a_kill_stops_shielded_work_at_once_and_the_restart_does_not_wait(
    autojump_clock: MockClock,
) -> None:
    store = Store()
    bot = FakeBot(store)
    supervisor = _supervisor(bot, Trace())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        nursery.start_soon(_stop_at, supervisor, 300.0)
        await trio.sleep(1.0)
        supervisor.crash(2.0)
        await trio.sleep(0.5)
        assert not supervisor.up
        await trio.sleep(2.0)
        assert supervisor.up  # back at t=3, not after the shielded 100 s
        assert supervisor.incarnations == 2
        await trio.sleep(200.0)
    # The killed incarnation wrote nothing, not even in its finally; the second one's
    # shielded record came 100 s after its start.
    assert store.writes[0] == (103.0, "record")
    assert bot.seen_handles[0].revoked and bot.seen_handles[0] is not bot.seen_handles[1]
    assert len(set(bot.memory)) == 2  # each incarnation started with memory of its own


async def test_without_the_kill_the_shield_keeps_the_dead_process_writing(autojump_clock: MockClock) -> None:
    """The model the hard kill replaces: a cancellation lets shielded code run on for 100 s."""
    store = Store()
    bot = FakeBot(store)
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()

        async def run() -> None:
            with scope:
                await bot.main(store, Settings(), roles=Roles(), task_status=trio.TASK_STATUS_IGNORED)

        nursery.start_soon(run)
        await trio.sleep(1.0)
        scope.cancel()
    assert trio.current_time() >= 100.0
    assert [w for _, w in store.writes] == ["record", "finally"]


async def test_sweep_unshields_every_scope_under_the_process(autojump_clock: MockClock) -> None:
    reached: list[str] = []

    async def deep() -> None:
        with trio.CancelScope(shield=True), trio.CancelScope(shield=True):
            await trio.sleep(50)
            reached.append("deep")

    scope = trio.CancelScope()
    async with trio.open_nursery() as outer:

        async def process() -> None:
            with scope:
                async with trio.open_nursery() as inner:
                    inner.start_soon(deep)
                    outer.start_soon(kill_soon, inner)
                    await trio.sleep_forever()

        async def kill_soon(inner: trio.Nursery) -> None:
            await trio.sleep(1)
            assert sweep(scope, inner) >= 1

        outer.start_soon(process)
    assert reached == []
    assert trio.current_time() == pytest.approx(1.0)


async def test_a_stop_is_graceful_and_restarts_after_the_downtime(autojump_clock: MockClock) -> None:
    store = Store()
    bot = FakeBot(store, shielded_wait_s=1000.0)
    supervisor = _supervisor(bot, Trace())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        await trio.sleep(1.0)
        supervisor.terminate(3.0, grace_s=30.0)
        await trio.sleep(0.5)
        assert store.writes == [(1.0, "stopping")]  # it was asked, and wound down on its own
        await trio.sleep(3.0)
        assert supervisor.up and supervisor.stops == 1 and supervisor.crashes == 0
        await supervisor.stop(5.0)


async def test_a_stop_that_is_ignored_ends_in_a_kill_after_the_grace(autojump_clock: MockClock) -> None:
    store = Store()
    bot = FakeBot(store, ignore_stop=True)
    supervisor = _supervisor(bot, Trace())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        await trio.sleep(1.0)
        supervisor.terminate(2.0, grace_s=10.0)
        await trio.sleep(9.0)
        assert not supervisor.up or supervisor.incarnations == 1
        await trio.sleep(3.5)  # killed at 11, restarted at 13
        assert supervisor.up and supervisor.incarnations == 2
        assert store.writes == [(1.0, "stopping")]  # the first one's shielded record never came
        await supervisor.stop(1.0)


def _scenario(faults: list[dict[str, Any]], worker_processes: int = 1) -> Any:
    return parse_scenario(
        {
            "scenario": {"name": "t"},
            "bot": {"worker_processes": worker_processes},
            "faults": faults,
        }
    )


async def test_a_partition_cuts_one_process_off_one_service(autojump_clock: MockClock) -> None:
    scenario = _scenario([{"kind": "partition", "target": "repo", "process": "worker0"}])
    stack = build_stack(BotApiWorld(SIM_TOKEN), scenario, RngStreams(1), autojump_clock)
    worker = stack.services_for("worker0", Handles("worker0"))
    bot = stack.services_for("bot", Handles("bot"))
    await bot.repo.get_upload(1, "00000000-0000-4000-8000-000000000000")  # the bot gets through
    with pytest.raises(ServiceUnavailable):
        await worker.repo.get_upload(1, "00000000-0000-4000-8000-000000000000")
    await worker.queue.enqueue("job-1")  # other services still answer it
    assert stack.fault_stats.injected == {"repo.partition": 1}


async def test_a_fault_aimed_at_every_worker_spares_the_bot(autojump_clock: MockClock) -> None:
    scenario = _scenario([{"kind": "error", "target": "state", "process": "worker"}], worker_processes=2)
    stack = build_stack(BotApiWorld(SIM_TOKEN), scenario, RngStreams(1), autojump_clock)
    for name in ("worker0", "worker1"):
        with pytest.raises(ServiceUnavailable):
            await stack.services_for(name, Handles(name)).state.get(1, 1)
    await stack.services_for("bot", Handles("bot")).state.get(1, 1)


async def test_revoked_handles_stop_a_call_before_it_reaches_the_service(autojump_clock: MockClock) -> None:
    scenario = _scenario([])
    stack = build_stack(BotApiWorld(SIM_TOKEN), scenario, RngStreams(1), autojump_clock)
    handles = Handles("worker0")
    queue = stack.services_for("worker0", handles).queue
    await queue.enqueue("job-1")
    handles.revoke()
    with pytest.raises(ProcessGone):  # outside a killed tree nothing cancels the wait: say so
        await queue.enqueue("job-2")
    assert stack.queue.job_ids() == {"job-1"}


async def test_clock_skew_moves_one_process_clock_for_its_window(autojump_clock: MockClock) -> None:
    scenario = _scenario([{"kind": "clock_skew", "target": "worker0", "offset_s": 45.0, "at_s": 1.0,
                           "duration_s": 2.0}])  # fmt: skip
    stack = build_stack(BotApiWorld(SIM_TOKEN), scenario, RngStreams(1), autojump_clock)
    bot_clock, worker_clock = stack.clock_of("bot"), stack.clock_of("worker0")
    system = SystemUnderFault({"bot": [], "worker": []}, stack, stack.clocks)
    (fault,) = scenario.faults
    await trio.sleep(1.0)
    fault.begin(system, None)  # type: ignore[arg-type]
    skew = (worker_clock.now() - bot_clock.now()).total_seconds()
    assert skew == pytest.approx(45.0)
    fault.end(system)
    assert worker_clock.now() == bot_clock.now()


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"kind": "crash", "target": "worker2", "duration_s": 1.0}, "no process 'worker2'"),
        ({"kind": "partition", "target": "queue"}, "give process"),
        ({"kind": "error", "target": "queue", "process": "robot"}, "is not a process"),
        ({"kind": "clock_skew", "target": "bot"}, "offset_s"),
        ({"kind": "stop", "target": "bot"}, "needs duration_s"),
    ],
)
def test_process_faults_are_checked_against_the_scenario(fault: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        _scenario([fault])
