"""Contract of bot.ports.JobQueue: the Redis Stream queue and the in-memory twin.

Waits are short real sleeps for Redis and virtual ones for the twin (``kv_clock``);
they only order events (idle long enough or not), nothing asserts on durations.
"""

from __future__ import annotations

import trio

from bot.domain import Delivery

from .kv_fixtures import QueueHarness, kv_clock, kv_kind, queue

__all__ = ["kv_clock", "kv_kind", "queue"]  # fixtures, imported for pytest

MIN_IDLE = 0.3


async def test_enqueue_claim_ack(queue: QueueHarness, kv_clock: object) -> None:
    q = queue.queue
    await q.enqueue("job-1")
    delivery = await q.claim("w1", block_s=1.0)
    assert delivery is not None
    assert delivery.job_id == "job-1"
    assert delivery.deliveries == 1
    assert delivery.delivery_id
    await q.ack(delivery)
    assert await q.claim("w1", block_s=0.1) is None


async def test_claim_on_empty_queue_times_out_with_none(queue: QueueHarness, kv_clock: object) -> None:
    assert await queue.queue.claim("w1", block_s=0.2) is None
    assert await queue.queue.claim("w1", block_s=0) is None


async def test_jobs_come_out_in_the_order_they_went_in(queue: QueueHarness, kv_clock: object) -> None:
    q = queue.queue
    for job in ("a", "b", "c"):
        await q.enqueue(job)
    claimed = []
    for _ in range(3):
        d = await q.claim("w1", block_s=1.0)
        assert d is not None
        claimed.append(d.job_id)
    assert claimed == ["a", "b", "c"]


async def test_blocked_claim_wakes_when_a_job_arrives(queue: QueueHarness, kv_clock: object) -> None:
    q = queue.queue
    got: list[Delivery | None] = []

    async def consumer() -> None:
        got.append(await q.claim("w1", block_s=5.0))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        await trio.sleep(0.2)  # let the consumer block first
        await q.enqueue("late-job")
    assert len(got) == 1 and got[0] is not None
    assert got[0].job_id == "late-job"


async def test_two_consumers_never_get_the_same_entry(queue: QueueHarness, kv_clock: object) -> None:
    q = queue.queue
    jobs = [f"job-{i}" for i in range(6)]
    for job in jobs:
        await q.enqueue(job)
    seen: dict[str, list[str]] = {"w1": [], "w2": []}

    async def consume(name: str) -> None:
        while (d := await q.claim(name, block_s=0.2)) is not None:
            seen[name].append(d.job_id)
            await q.ack(d)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume, "w1")
        nursery.start_soon(consume, "w2")
    assert sorted(seen["w1"] + seen["w2"]) == sorted(jobs)
    assert not set(seen["w1"]) & set(seen["w2"])


async def test_unacked_delivery_is_reclaimed_by_another_consumer_after_min_idle(
    queue: QueueHarness, kv_clock: object
) -> None:
    q = queue.queue
    await q.enqueue("job-1")
    first = await q.claim("crashed", block_s=1.0)
    assert first is not None
    # Not idle long enough yet: nothing to take over, and no new job for anyone.
    assert await q.reclaim("rescuer", min_idle_s=30.0, count=10) == []
    assert await q.claim("rescuer", block_s=0.1) is None

    await trio.sleep(MIN_IDLE + 0.2)
    taken = await q.reclaim("rescuer", min_idle_s=MIN_IDLE, count=10)
    assert [(d.job_id, d.delivery_id) for d in taken] == [("job-1", first.delivery_id)]
    assert taken[0].deliveries == 2


async def test_delivery_count_grows_with_each_reclaim(queue: QueueHarness, kv_clock: object) -> None:
    q = queue.queue
    await q.enqueue("job-1")
    assert await q.claim("w1", block_s=1.0) is not None
    counts = []
    for rescuer in ("w2", "w3", "w2"):
        await trio.sleep(MIN_IDLE + 0.2)
        taken = await q.reclaim(rescuer, min_idle_s=MIN_IDLE, count=10)
        assert len(taken) == 1
        counts.append(taken[0].deliveries)
    assert counts == [2, 3, 4]


async def test_reclaim_resets_idle_time(queue: QueueHarness, kv_clock: object) -> None:
    q = queue.queue
    await q.enqueue("job-1")
    assert await q.claim("w1", block_s=1.0) is not None
    await trio.sleep(MIN_IDLE + 0.2)
    assert len(await q.reclaim("w2", min_idle_s=MIN_IDLE, count=10)) == 1
    # w2 just took it: a third consumer must wait for it to go idle again.
    assert await q.reclaim("w3", min_idle_s=30.0, count=10) == []


async def test_acked_delivery_is_never_redelivered(queue: QueueHarness, kv_clock: object) -> None:
    q = queue.queue
    await q.enqueue("job-1")
    d = await q.claim("w1", block_s=1.0)
    assert d is not None
    await q.ack(d)
    await q.ack(d)  # acknowledging twice is harmless
    await trio.sleep(MIN_IDLE + 0.2)
    assert await q.reclaim("w2", min_idle_s=MIN_IDLE, count=10) == []
    assert await q.claim("w2", block_s=0.1) is None


async def test_reclaimed_delivery_can_be_acked_by_its_new_owner(
    queue: QueueHarness, kv_clock: object
) -> None:
    q = queue.queue
    await q.enqueue("job-1")
    assert await q.claim("w1", block_s=1.0) is not None
    await trio.sleep(MIN_IDLE + 0.2)
    (taken,) = await q.reclaim("w2", min_idle_s=MIN_IDLE, count=10)
    await q.ack(taken)
    await trio.sleep(MIN_IDLE + 0.2)
    assert await q.reclaim("w3", min_idle_s=MIN_IDLE, count=10) == []


async def test_reclaim_takes_at_most_count_oldest_first(queue: QueueHarness, kv_clock: object) -> None:
    q = queue.queue
    for job in ("a", "b", "c"):
        await q.enqueue(job)
        assert await q.claim("w1", block_s=1.0) is not None
    await trio.sleep(MIN_IDLE + 0.2)
    first = await q.reclaim("w2", min_idle_s=MIN_IDLE, count=2)
    assert [d.job_id for d in first] == ["a", "b"]
    rest = await q.reclaim("w2", min_idle_s=MIN_IDLE, count=2)
    assert [d.job_id for d in rest] == ["c"]


async def test_queue_works_again_after_losing_everything(queue: QueueHarness, kv_clock: object) -> None:
    q = queue.queue
    await q.enqueue("before")
    assert await q.claim("w1", block_s=1.0) is not None
    await queue.lose_everything()
    # The lost job is gone (the reconciler re-enqueues it from Postgres)...
    assert await q.reclaim("w2", min_idle_s=0, count=10) == []
    assert await q.claim("w1", block_s=0.1) is None
    # ...and new jobs flow again.
    await q.enqueue("after")
    d = await q.claim("w1", block_s=1.0)
    assert d is not None and d.job_id == "after"
    await q.ack(d)


async def test_job_enqueued_after_loss_before_any_claim_is_delivered(
    queue: QueueHarness, kv_clock: object
) -> None:
    q = queue.queue
    await q.enqueue("warmup")
    warm = await q.claim("w1", block_s=1.0)
    assert warm is not None
    await queue.lose_everything()
    await q.enqueue("after-restart")  # the stream exists again, its group does not yet
    d = await q.claim("w1", block_s=1.0)
    assert d is not None and d.job_id == "after-restart"
    await q.ack(warm)  # an ack for a delivery lost with the group is a no-op
