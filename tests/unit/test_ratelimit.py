import itertools
import socket

import pytest
import trio

from adapters.redis_client import RedisClient
from adapters.redis_send_bucket import RedisSendBucket
from bot.errors import ServiceUnavailable
from bot.guard import Guard
from bot.log import Logger
from bot.metrics import MetricsRecorder
from bot.ports import SendBucket, SendRates
from bot.ratelimit import GLOBAL_BURST, SHARED_RETRY_AFTER_S, SendRateLimiter, SharedSendLimiter
from bot.settings import Settings
from sim.fakes.repository import MemoryRepository
from sim.fakes.send_bucket import MemorySendBucket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_one_chat_gets_a_short_burst_then_one_per_second(autojump_clock):
    limiter = SendRateLimiter(global_per_s=30, chat_per_s=1, chat_burst=3)
    start = trio.current_time()
    sent_at = []
    for _ in range(6):
        await limiter.acquire(42)
        sent_at.append(trio.current_time() - start)
    assert sent_at == pytest.approx([0, 0, 0, 1, 2, 3])


async def test_global_rate_caps_many_chats(autojump_clock):
    limiter = SendRateLimiter(global_per_s=30, chat_per_s=1, global_burst=1)
    start = trio.current_time()
    times = []

    async def send(chat: int) -> None:
        await limiter.acquire(chat)
        times.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        for chat in range(90):
            nursery.start_soon(send, chat)
    # 90 sends at 30/s need 3 s; none of them may come earlier than its slot.
    assert max(times) == pytest.approx(89 / 30)
    assert sorted(times) == pytest.approx([i / 30 for i in range(90)])


async def test_pause_all_delays_every_chat(autojump_clock):
    limiter = SendRateLimiter(global_per_s=30, chat_per_s=1)
    start = trio.current_time()
    await limiter.pause_all(5.0)
    await limiter.acquire(1)
    await limiter.acquire(2)
    assert trio.current_time() - start >= 5.0


class _Sends:
    """Each send's time since the start, as the limiter lets it go."""

    def __init__(self, limiter: SendRateLimiter | SharedSendLimiter) -> None:
        self.limiter = limiter
        self.start = trio.current_time()
        self.times: list[float] = []

    async def send(self, chat: int) -> None:
        await self.limiter.acquire(chat)
        self.times.append(trio.current_time() - self.start)


async def test_sends_already_waiting_for_a_slot_wait_out_a_pause(autojump_clock):
    # 60 sends queue at 30/s; a 429 pauses everything 0.5 s in. The sends whose slots
    # fell inside the pause must not go out before it ends, nor all at once after it.
    limiter = SendRateLimiter(global_per_s=30, chat_per_s=1, global_burst=1)
    sends = _Sends(limiter)
    async with trio.open_nursery() as nursery:
        for chat in range(60):
            nursery.start_soon(sends.send, chat)
        await trio.sleep(0.5)
        await limiter.pause_all(5.0)
    times = sends.times
    during = [t for t in times if 0.5 < t < 5.5]
    assert during == []
    after = sorted(t for t in times if t >= 5.5)
    assert len(after) == 60 - sum(1 for t in times if t <= 0.5)
    gaps = [b - a for a, b in itertools.pairwise(after)]
    assert min(gaps) == pytest.approx(1 / 30)  # paced again, not a burst


async def test_idle_chats_are_forgotten(autojump_clock):
    limiter = SendRateLimiter(global_per_s=10_000, chat_per_s=1000, global_burst=1000)
    for chat in range(1100):
        await limiter.acquire(chat)
    await trio.sleep(1.0)
    await limiter.acquire(99_999)
    assert limiter.tracked_chats < 1024


# ---------------------------------------------------------------- one limit for the deployment


class _Sink:
    def __init__(self) -> None:
        self.events: list[str] = []

    def emit(self, level: int, event: str, fields: dict[str, object]) -> None:
        self.events.append(event)


class _BrokenBucket:
    """A shared bucket whose store is down (the twin's arithmetic, never reached)."""

    fallback_share = 2

    def __init__(self) -> None:
        self.calls = 0  # reservations
        self.reads = 0  # pauses read

    async def reserve(self, chat_id: int | None, rates: SendRates, pause_s: float = 0.0) -> float:
        self.calls += 1
        raise ServiceUnavailable("redis", "connection refused")

    async def paused_for(self) -> float:
        self.reads += 1
        raise ServiceUnavailable("redis", "connection refused")


def _shared(bucket: SendBucket, sink: _Sink | None = None) -> SharedSendLimiter:
    guard = Guard(Settings(), MetricsRecorder())
    return SharedSendLimiter(bucket, guard, Logger(sink or _Sink()), global_per_s=30, chat_per_s=1)


async def _send_all(limiters: list[SharedSendLimiter], sends: int) -> list[float]:
    start = trio.current_time()
    times: list[float] = []

    async def send(i: int) -> None:
        await limiters[i % len(limiters)].acquire(i)
        times.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        for i in range(sends):
            nursery.start_soon(send, i)
    return sorted(times)


async def test_processes_sharing_a_bucket_stay_within_one_global_rate(autojump_clock):
    bucket = MemorySendBucket()
    times = await _send_all([_shared(bucket), _shared(bucket), _shared(bucket)], 90)
    # Three processes, one allowance: a burst of 5, then 30/s in total.
    assert times == pytest.approx([max(0.0, (i - 4) / 30) for i in range(90)])


async def test_without_the_shared_bucket_each_process_takes_its_share_locally(autojump_clock):
    bucket, sink = _BrokenBucket(), _Sink()
    limiter = _shared(bucket, sink)
    times = await _send_all([limiter], 30)
    # fallback_share 2: this process alone sends at 15/s.
    assert times == pytest.approx([max(0.0, (i - 4) / 15) for i in range(30)])
    assert "send_limit.local" in sink.events
    assert bucket.calls == 1  # not one failed round trip per message
    await trio.sleep(SHARED_RETRY_AFTER_S)
    await limiter.acquire(1)
    assert bucket.calls == 2  # tried again after the interval


async def test_a_429_seen_by_one_process_pauses_the_others(autojump_clock):
    bucket = MemorySendBucket()
    one, two = _shared(bucket), _shared(bucket)
    start = trio.current_time()
    await one.pause_all(5.0)
    await one.acquire(1)  # tells the shared bucket
    await two.acquire(2)
    assert trio.current_time() - start >= 5.0


async def test_redis_down_falls_back_to_the_local_limit():
    closed_port = free_port()
    client = RedisClient(f"redis://127.0.0.1:{closed_port}/0")
    sink = _Sink()
    limiter = _shared(RedisSendBucket(client, "down:"), sink)
    try:
        with trio.fail_after(10):
            await limiter.acquire(1)
    finally:
        await client.aclose()
    assert sink.events == ["send_limit.local"]


async def test_a_429_is_told_to_the_other_processes_at_once(autojump_clock):
    bucket = MemorySendBucket()
    one, two = _shared(bucket), _shared(bucket)
    start = trio.current_time()
    await one.pause_all(5.0)  # one does not send again for a while
    await two.acquire(2)
    assert trio.current_time() - start >= 5.0


async def test_a_send_reserved_before_another_process_429_waits_it_out(autojump_clock):
    bucket = MemorySendBucket()
    one, two = _shared(bucket), _shared(bucket)
    sent: list[float] = []

    async def chat_burst() -> None:
        for _ in range(5):  # chat burst 3, then 1/s: the last two wait for their slots
            await two.acquire(1)
            sent.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(chat_burst)
        await trio.sleep(0.2)
        await one.pause_all(5.0)  # another process meets a 429 meanwhile
    assert sent[:3] == [0.0, 0.0, 0.0]
    assert all(t >= 5.2 for t in sent[3:])


class _FlakyBucket:
    """The twin bucket behind a store whose calls can fail or stall, one switch per call."""

    fallback_share = 2

    def __init__(self, inner: MemorySendBucket) -> None:
        self.inner = inner
        self.reserve_down = False
        self.read_down = False
        self.read_delay_s = 0.0
        self.reserve_delay_s = 0.0

    async def reserve(self, chat_id: int | None, rates: SendRates, pause_s: float = 0.0) -> float:
        await trio.sleep(self.reserve_delay_s)
        if self.reserve_down:
            raise ServiceUnavailable("redis", "connection refused")
        return await self.inner.reserve(chat_id, rates, pause_s)

    async def paused_for(self) -> float:
        await trio.sleep(self.read_delay_s)
        if self.read_down:
            raise ServiceUnavailable("redis", "connection refused")
        return await self.inner.paused_for()


async def test_a_429_met_on_the_local_limit_is_told_to_the_bucket_at_once(autojump_clock):
    shared = MemorySendBucket()
    flaky = _FlakyBucket(shared)
    one = _shared(flaky)
    flaky.reserve_down = True
    await one.acquire(1)  # the bucket failed: this process is on its local limit
    flaky.reserve_down = False
    await one.pause_all(5.0)
    assert await shared.paused_for() == pytest.approx(5.0)


async def test_a_429_met_by_a_send_out_of_time_is_still_told_to_the_bucket(autojump_clock):
    shared = MemorySendBucket()
    flaky = _FlakyBucket(shared)
    one = _shared(flaky)
    flaky.reserve_delay_s = 0.1  # a slow store, within the pause post's deadline
    with trio.move_on_after(0.05):  # the send that met the 429 runs out of budget meanwhile
        await one.pause_all(5.0)
    await trio.sleep(0.1)
    assert await shared.paused_for() > 4.5  # told, though its sender was cancelled


async def test_a_send_on_the_local_limit_honours_a_pause_the_bucket_holds(autojump_clock):
    shared = MemorySendBucket()
    flaky = _FlakyBucket(shared)
    one, two = _shared(flaky), _shared(shared)
    flaky.reserve_down = True
    await one.acquire(1)  # on its local limit from here on
    start = trio.current_time()
    await two.pause_all(5.0)
    await one.acquire(2)
    assert trio.current_time() - start >= 5.0


async def test_a_429_met_while_a_send_reads_the_bucket_holds_that_send(autojump_clock):
    flaky = _FlakyBucket(MemorySendBucket())
    one = _shared(flaky)
    flaky.reserve_down = True
    await one.acquire(1)
    flaky.read_delay_s = 0.2  # the next send's read of the pause is slow
    sent: list[float] = []

    async def send() -> None:
        await one.acquire(2)
        sent.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        await trio.sleep(0.1)
        start = trio.current_time()
        await one.pause_all(5.0)  # this process's own 429, while the send was reading
    assert sent[0] - start >= 5.0


async def test_a_429_that_could_not_reach_the_bucket_reaches_the_other_processes_through_the_board(
    autojump_clock,
):
    # scenarios/regressions/swarm-461-pause-not-shared.toml: the process that met the 429
    # cannot post it to Redis, while another, on its local limit, reads the bucket's pause
    # (0: nobody told it). The database's board is what carries the pause between them.
    shared, board = MemorySendBucket(), MemoryRepository()
    met, other = _FlakyBucket(shared), _FlakyBucket(shared)
    guard = Guard(Settings(), MetricsRecorder())
    sink = _Sink()
    worker = SharedSendLimiter(met, guard, Logger(sink), 30, 1, board=board, sends_blind=False)
    poller = SharedSendLimiter(other, guard, Logger(_Sink()), 30, 1, board=board)
    met.reserve_down = other.reserve_down = True
    await poller.acquire(1)  # on its local limit from here on
    pause_ends = trio.current_time() + 5.0
    await worker.pause_all(5.0)
    assert sink.events.count("send_limit.pause_not_shared") == 1  # Redis never took it
    assert await shared.paused_for() == 0.0
    await poller.acquire(2)
    assert trio.current_time() >= pause_ends


async def test_only_a_process_that_may_send_blind_sends_while_the_bucket_is_unread(autojump_clock):
    flaky = _FlakyBucket(MemorySendBucket())
    guard = Guard(Settings(), MetricsRecorder())
    # The board answers: it tells of pauses, not of the rate the other processes take.
    board = MemoryRepository()
    worker = SharedSendLimiter(flaky, guard, Logger(_Sink()), 30, 1, board=board, sends_blind=False)
    poller = _shared(flaky)
    flaky.reserve_down = flaky.read_down = True
    with trio.move_on_after(60):
        await worker.acquire(1)
        pytest.fail("a process that may not send blind sent while the bucket was out of reach")
    await poller.acquire(2)  # the poller goes on, on its local limit
    flaky.reserve_down = flaky.read_down = False
    with trio.fail_after(10):
        await worker.acquire(1)  # the bucket back: the held send goes


async def test_sends_that_fall_back_to_the_local_limit_queue_after_the_slots_already_booked(autojump_clock):
    # 40 sends book slots in the bucket (1.3 s ahead at 30/s); then the bucket stops
    # answering reservations and 40 more fall back to the local limit. The two together
    # must still keep to the rate: the local ones go after the last booked slot.
    shared = MemorySendBucket()
    flaky = _FlakyBucket(shared)
    flaky.fallback_share = 1
    sends = _Sends(_shared(flaky))
    async with trio.open_nursery() as nursery:
        for chat in range(40):
            nursery.start_soon(sends.send, chat)
        await trio.sleep(0.1)
        flaky.reserve_down = True
        for chat in range(40, 80):
            nursery.start_soon(sends.send, 1000 + chat)
    times = sorted(sends.times)
    busiest = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    assert busiest <= 30 + GLOBAL_BURST


async def test_sends_after_the_bucket_is_back_queue_after_the_local_slots_still_waiting(autojump_clock):
    # The mirror of the test above. The bucket stops answering and 200 sends queue on the
    # local limit (6.7 s of slots at 30/s). The bucket is back long before they are out, and
    # 60 more sends come once the fallback interval is over: the bucket knows nothing of
    # the local slots, so these stay local until those are spent, or the two rates together
    # would pass the limit (scenarios/regressions/model-779-flood-limit.toml).
    shared = MemorySendBucket()
    flaky = _FlakyBucket(shared)
    flaky.fallback_share = 1
    sends = _Sends(_shared(flaky))
    flaky.reserve_down = True
    async with trio.open_nursery() as nursery:
        for chat in range(200):
            nursery.start_soon(sends.send, chat)
        await trio.sleep(1.0)
        flaky.reserve_down = False
        await trio.sleep(SHARED_RETRY_AFTER_S)
        for chat in range(200, 260):
            nursery.start_soon(sends.send, chat)
    times = sorted(sends.times)
    assert len(times) == 260
    busiest = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    assert busiest <= 30 + GLOBAL_BURST


class _QueuedBoard:
    """A pause board whose reads wait for one moment, as reads queued behind busy database
    sessions do, and then all answer together."""

    def __init__(self, answers_at: float) -> None:
        self.answers_at = answers_at

    async def post_pause(self, kind: str, seconds: float) -> None:
        await trio.lowlevel.checkpoint()

    async def pause_left(self, kind: str) -> float:
        await trio.sleep_until(self.answers_at)
        return 0.0


async def test_local_sends_leave_at_the_rate_however_long_their_pause_reads_take(autojump_clock):
    # On the local limit, each send reads the pauses after its slot. The board's reads
    # queued behind busy database sessions and answered together, so sends whose slots
    # were spaced left at once: 15 within 150 ms
    # (scenarios/regressions/model-779-flood-limit.toml, on a moved schedule).
    flaky = _FlakyBucket(MemorySendBucket())
    flaky.fallback_share, flaky.reserve_down = 1, True
    board = _QueuedBoard(answers_at=trio.current_time() + 0.45)  # within the read's deadline
    guard = Guard(Settings(), MetricsRecorder())
    sends = _Sends(SharedSendLimiter(flaky, guard, Logger(_Sink()), 30, 1, board=board))  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        for chat in range(60):
            nursery.start_soon(sends.send, chat)
    times = sorted(sends.times)
    assert len(times) == 60
    for window in (0.1, 0.25, 1.0):
        busiest = max(sum(1 for t in times if s <= t < s + window) for s in times)
        assert busiest <= GLOBAL_BURST + 30 * window, (window, busiest)
