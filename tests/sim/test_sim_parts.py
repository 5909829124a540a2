"""The simulated clock, log sink, CPU runner and composition root."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

import pytest
import trio
from trio.testing import MockClock

from sim.fakes.clock import SIM_EPOCH, SimWallClock
from sim.fakes.cpu import CpuCost, SimCpuRunner
from sim.fakes.log_sink import SimLogSink
from sim.fakes.repository import MemoryRepository
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.compose import SIM_TOKEN, sim_services
from sim.simulator.faults.proxy import FaultProxy, unwrap
from sim.simulator.kernel import RngStreams, Trace
from sim.simulator.scenario import parse_scenario


async def test_wall_clock_follows_virtual_time_and_ids_follow_the_seed(autojump_clock: MockClock) -> None:
    clock = SimWallClock(random.Random(1), random.Random(2))
    again = SimWallClock(random.Random(1), random.Random(2))
    start = clock.now()
    await trio.sleep(90)
    assert clock.now() - start == timedelta(seconds=90)
    assert start - SIM_EPOCH == timedelta(seconds=trio.current_time() - 90)
    ids = [clock.new_id() for _ in range(3)]
    assert ids == [again.new_id() for _ in range(3)]
    assert len(set(ids)) == 3 and all(i.version == 4 for i in ids)
    assert 0 <= clock.random() < 1


async def test_synchronous_log_writes_block_everybody(autojump_clock: MockClock) -> None:
    sink = SimLogSink(Trace(), autojump_clock, sync_write_cost_s=0.25)
    other_woke_at: list[float] = []

    async def other() -> None:
        await trio.sleep(0.1)
        other_woke_at.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        await trio.testing.wait_all_tasks_blocked()  # other is asleep until before + 0.1
        before = trio.current_time()
        for _ in range(4):
            sink.emit(logging.ERROR, "storage.failed", {"key": "1/a.csv"})
        # Four writes cost one virtual second, spent without yielding: nobody else ran.
        assert trio.current_time() - before == pytest.approx(1.0)
        assert other_woke_at == []
    assert other_woke_at[0] == pytest.approx(before + 1.0)
    assert sink.blocked_s == pytest.approx(1.0)
    assert sink.by_level == {"ERROR": 4} and sink.peak_per_second == 4


async def test_queued_log_writes_cost_nothing_until_a_slow_disk_window(autojump_clock: MockClock) -> None:
    trace = Trace(keep_events=True)
    sink = SimLogSink(trace, autojump_clock)
    before = trio.current_time()
    sink.emit(logging.INFO, "upload.recorded", {"job_id": "j1", "size": 10, "blob": b"xx", "obj": object()})
    assert trio.current_time() == before
    assert trace.events[-1].endswith(
        "log INFO upload.recorded job_id=j1 size=10 blob=<2 bytes> obj=<object>\n"
    )
    # A slow disk under a queued handler: the background writer falls behind, the loop does not wait.
    sink.set_write_cost_override(0.5)
    sink.emit(logging.INFO, "x", {})
    sink.set_write_cost_override(None)
    sink.emit(logging.INFO, "y", {})
    assert trio.current_time() == before
    assert sink.writer_lag_peak_s == pytest.approx(0.5)
    # The same window under a synchronous handler blocks the loop for the write.
    blocking = SimLogSink(trace, autojump_clock, blocking=True)
    blocking.set_write_cost_override(0.5)
    blocking.emit(logging.INFO, "x", {})
    blocking.set_write_cost_override(None)
    blocking.emit(logging.INFO, "y", {})
    assert trio.current_time() - before == pytest.approx(0.5)


async def test_log_sink_counts_secret_leaks(autojump_clock: MockClock) -> None:
    sink = SimLogSink(None, secrets=("123:SECRET",))
    sink.emit(logging.WARNING, "telegram.retry", {"error": "unavailable"})
    assert sink.secret_leaks == 0
    sink.emit(logging.WARNING, "telegram.retry", {"error": "GET https://api/bot123:SECRET/getMe failed"})
    assert sink.secret_leaks == 1


def _count_rows(data: bytes) -> int:
    return data.count(b"\n")


async def test_offloaded_work_takes_the_callers_time_only_under_the_core_limit(
    autojump_clock: MockClock,
) -> None:
    cpu = SimCpuRunner(
        cores=1, costs={"analysis": CpuCost(base_s=1.0)}, default_cost=CpuCost(), clock=autojump_clock
    )
    finished: dict[str, float] = {}
    ticks: list[float] = []

    async def job(name: str, data: bytes) -> None:
        assert await cpu.run("analysis", _count_rows, data) == 2
        finished[name] = trio.current_time()

    async def ticker() -> None:
        for _ in range(4):
            await trio.sleep(0.5)
            ticks.append(trio.current_time())

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(job, "a", b"x\ny\n")
        nursery.start_soon(job, "b", b"x\ny\n")
        nursery.start_soon(ticker)
    # One core: the second job waits for the first. The event loop stays free meanwhile.
    assert sorted(t - start for t in finished.values()) == pytest.approx([1.0, 2.0])
    assert [t - start for t in ticks] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert (cpu.calls, cpu.cache_hits, cpu.in_use) == (2, 1, 0)


async def test_blocking_work_stops_the_world(autojump_clock: MockClock) -> None:
    cpu = SimCpuRunner(
        cores=4, costs={}, default_cost=CpuCost(per_mb_s=2.0), clock=autojump_clock, blocking=True
    )
    start = trio.current_time()
    assert await cpu.run("parse", len, b"x" * 500_000) == 500_000
    assert trio.current_time() - start == pytest.approx(1.0)


async def test_offloaded_work_is_killed_at_the_callers_deadline(autojump_clock: MockClock) -> None:
    calls: list[bytes] = []

    def work(data: bytes) -> int:
        calls.append(data)
        return len(data)

    cpu = SimCpuRunner(cores=1, costs={}, default_cost=CpuCost(base_s=10.0), clock=autojump_clock)
    with trio.move_on_after(3.0) as scope:
        await cpu.run("analysis", work, b"abc")
    assert scope.cancelled_caught
    assert calls == [] and cpu.busy_s == 0.0 and cpu.in_use == 0


async def test_failures_are_not_cached(autojump_clock: MockClock) -> None:
    attempts: list[int] = []

    def flaky(data: bytes) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first time")
        return 7

    cpu = SimCpuRunner(cores=1, costs={}, default_cost=CpuCost(), clock=autojump_clock)
    with pytest.raises(ValueError):
        await cpu.run("k", flaky, b"d")
    assert await cpu.run("k", flaky, b"d") == 7
    assert await cpu.run("k", flaky, b"d") == 7
    assert len(attempts) == 2


async def test_sim_services_puts_every_port_behind_its_fault_proxy(autojump_clock: MockClock) -> None:
    scenario = parse_scenario(
        {
            "scenario": {"name": "x"},
            "services": {
                "repo": {"session_limit": 2, "model": "none", "latency": {"dist": "constant", "value_s": 0.5}}
            },
        }
    )
    services = sim_services(BotApiWorld(SIM_TOKEN), scenario, RngStreams(1), autojump_clock)
    for port in (services.telegram, services.repo, services.state, services.blobs, services.queue):
        assert isinstance(port, FaultProxy)
    raw = unwrap(services.repo)
    assert isinstance(raw, MemoryRepository) and raw.session_limit == 2
    start = trio.current_time()
    await services.repo.upsert_user(1, "ru")
    assert trio.current_time() - start == pytest.approx(0.5)
    assert await raw.get_user_language(1) == "ru"
