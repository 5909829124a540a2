"""The fault proxy: latency and faults at the adapter boundary, on exact virtual time."""

from __future__ import annotations

import math

import pytest
import trio
from trio.testing import MockClock

from bot.errors import DeadlineExceeded, ServiceUnavailable, TelegramRetryAfter
from bot.guard import Guard
from bot.metrics import MetricsRecorder
from bot.settings import Settings
from sim.fakes.blobs import MemoryBlobStore
from sim.fakes.repository import MemoryRepository
from sim.simulator.faults.kind import CallFault
from sim.simulator.faults.kinds.disconnect import DisconnectFault
from sim.simulator.faults.kinds.error import ErrorFault
from sim.simulator.faults.kinds.hang import HangFault
from sim.simulator.faults.kinds.latency import LatencyFault
from sim.simulator.faults.kinds.rate_limit import RateLimitFault
from sim.simulator.faults.proxy import FaultStats, ServiceFaults, session_hook, unwrap, wrap_port
from sim.simulator.kernel import RngStreams, Trace
from sim.simulator.scenario import Latency, ServiceModel


def _faults(service: str, *faults: CallFault, latency: Latency | None = None, seed: int = 1) -> ServiceFaults:
    model = ServiceModel(latency=latency or Latency())
    return ServiceFaults(service, model, faults, RngStreams(seed), trace=Trace(keep_events=True))


async def test_latency_is_added_exactly_and_the_call_goes_through(autojump_clock: MockClock) -> None:
    store = MemoryBlobStore()
    blobs = wrap_port(store, _faults("blobs", latency=Latency("constant", value_s=0.25)))
    start = trio.current_time()
    await blobs.put("1/a.csv", b"data")
    assert trio.current_time() - start == pytest.approx(0.25)
    assert await store.get("1/a.csv") == b"data"
    assert unwrap(blobs) is store


async def test_a_hang_is_cut_by_the_cores_deadline(autojump_clock: MockClock) -> None:
    hang = HangFault(target="blobs", at_s=0.0, duration_s=60.0, methods=("put",))
    store = MemoryBlobStore()
    blobs = wrap_port(store, _faults("blobs", hang))
    metrics = MetricsRecorder()
    guard = Guard(Settings(), metrics)
    start = trio.current_time()
    with pytest.raises(DeadlineExceeded) as info:
        await guard.call("storage.upload", blobs.put, "1/a.csv", b"data")
    # The seed's 15 s storage deadline, to the virtual microsecond; nothing was stored.
    assert trio.current_time() - start == pytest.approx(15.0)
    assert info.value.name == "storage.upload"
    assert metrics.outcomes["storage.upload"] == {"timeout": 1}
    assert await store.list_keys("1/") == []
    # Other methods, and the same method after the window, are untouched.
    assert await blobs.list_keys("1/") == []
    await trio.sleep_until(60.0)
    await guard.call("storage.upload", blobs.put, "1/a.csv", b"data")
    assert await store.get("1/a.csv") == b"data"


async def test_an_error_after_the_call_keeps_its_effect(autojump_clock: MockClock) -> None:
    lost_reply = ErrorFault(target="blobs", at_s=0.0, phase="after")
    store = MemoryBlobStore()
    blobs = wrap_port(store, _faults("blobs", lost_reply))
    with pytest.raises(ServiceUnavailable) as info:
        await blobs.put("k", b"v")
    assert info.value.service == "blobs"
    assert await store.get("k") == b"v"


async def test_an_error_before_the_call_has_no_effect(autojump_clock: MockClock) -> None:
    store = MemoryBlobStore()
    blobs = wrap_port(store, _faults("blobs", DisconnectFault(target="blobs", at_s=0.0, phase="before")))
    with pytest.raises(ServiceUnavailable):
        await blobs.put("k", b"v")
    assert await store.list_keys("") == []


async def test_rate_limit_raises_retry_after(autojump_clock: MockClock) -> None:
    class Api:
        async def send_message(self, chat_id: int, text: str) -> int:
            return chat_id

    limited = RateLimitFault(target="telegram", at_s=0.0, retry_after_s=3.0)
    api = wrap_port(Api(), _faults("telegram", limited))
    with pytest.raises(TelegramRetryAfter) as info:
        await api.send_message(1, "hi")
    assert info.value.retry_after == 3.0


async def test_probabilistic_faults_follow_the_seed(autojump_clock: MockClock) -> None:
    flaky = ErrorFault(target="blobs", at_s=0.0, probability=0.3)

    async def pattern(seed: int) -> list[bool]:
        blobs = wrap_port(MemoryBlobStore(), _faults("blobs", flaky, seed=seed))
        out = []
        for i in range(40):
            try:
                await blobs.put(f"k{i}", b"v")
                out.append(True)
            except ServiceUnavailable:
                out.append(False)
        return out

    first, again, other = await pattern(5), await pattern(5), await pattern(6)
    assert first == again
    assert first != other
    assert 0 < first.count(False) < 40


async def test_extra_latency_faults_stack_on_the_base_latency(autojump_clock: MockClock) -> None:
    slow = LatencyFault(target="blobs", at_s=0.0, extra=Latency("constant", value_s=2.0))
    stats = FaultStats()
    sf = ServiceFaults(
        "blobs", ServiceModel(latency=Latency("constant", value_s=0.5)), (slow,), RngStreams(1), stats=stats
    )
    blobs = wrap_port(MemoryBlobStore(), sf)
    start = trio.current_time()
    await blobs.put("k", b"v")
    assert trio.current_time() - start == pytest.approx(2.5)
    assert stats.injected == {"blobs.latency": 1}
    assert stats.calls == {"blobs.put": 1}


async def test_database_latency_is_spent_holding_a_session(autojump_clock: MockClock) -> None:
    sf = _faults("repo", latency=Latency("constant", value_s=1.0))
    raw = MemoryRepository(2, in_session=session_hook(sf))
    repo = wrap_port(raw, sf, inside=True)
    seen: list[int] = []

    async def watch() -> None:
        await trio.sleep(0.5)
        seen.append(raw.sessions_in_use)

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        for user in range(3):
            nursery.start_soon(repo.upsert_user, user, "en")
    # Two sessions: two queries in the first second, the third one after them.
    assert seen == [2]
    assert trio.current_time() - start == pytest.approx(2.0)
    assert raw.sessions_in_use == 0
    # Straight calls on the raw repository (invariant checks) carry no latency.
    before = trio.current_time()
    assert await raw.get_user_language(1) == "en"
    assert trio.current_time() == before


async def test_a_hung_query_holds_its_session_until_the_deadline(autojump_clock: MockClock) -> None:
    hang = HangFault(target="repo", at_s=0.0, duration_s=math.inf, methods=("upsert_user",))
    sf = _faults("repo", hang)
    raw = MemoryRepository(1, in_session=session_hook(sf))
    repo = wrap_port(raw, sf, inside=True)
    guard = Guard(Settings(), MetricsRecorder())
    held: list[int] = []

    async def observe() -> None:
        await trio.sleep(5.0)
        held.append(raw.sessions_in_use)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(observe)
        with pytest.raises(DeadlineExceeded):
            await guard.call("db.statement", repo.upsert_user, 1, "en")
    assert held == [1]
    assert raw.sessions_in_use == 0 and raw.free_permits == 1
    trace = sf.trace
    assert trace is not None
    assert any(" cancel repo.upsert_user" in line for line in trace.events)
