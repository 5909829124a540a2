"""In-memory twin of the Redis Streams job queue, with consumer-group semantics.

What it mirrors of :class:`adapters.redis_queue.RedisJobQueue`:
- entries wait in id order until one consumer claims them (``XREADGROUP >``);
- a claimed entry is pending for that consumer, with its delivery time and count;
- ``ack`` removes it (XACK + XDEL); acknowledging twice or after a loss is a no-op;
- ``reclaim`` hands entries idle for ``min_idle_s`` to another consumer, counting
  one more delivery (XAUTOCLAIM), oldest first;
- ``lose_everything`` is a Redis restart without persistence.

Idle times come from ``trio.current_time()``, and a blocked ``claim`` waits on a
``trio.Event``, so it runs on the virtual clock and never busy-waits.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

import trio

from bot.domain import Delivery
from sim.simulator.kernel.quiet import sim_checkpoint


@dataclass(slots=True)
class _Pending:
    consumer: str
    delivered_at: float
    deliveries: int


class MemoryJobQueue:
    """Implements :class:`bot.ports.JobQueue`."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._maxlen = maxlen
        self._seq = 0  # never reset, so an id is never reused, even after a loss
        self._entries: dict[str, str] = {}  # entry id -> job id, in id order
        self._waiting: deque[str] = deque()  # ids not yet delivered to anyone, oldest first
        self._pending: dict[str, _Pending] = {}  # ids delivered and not acknowledged
        self._arrived = trio.Event()
        self.peak_depth = 0  # most entries the stream held at once
        self.peak_entries_per_job = 0  # most entries one job had in the stream at once
        self._live: Counter[str] = Counter()  # job id -> its entries in the stream

    async def enqueue(self, job_id: str) -> None:
        await sim_checkpoint()
        self._seq += 1
        entry_id = f"{self._seq}-0"
        self._entries[entry_id] = job_id
        self._waiting.append(entry_id)
        self._live[job_id] += 1
        self._trim()
        self.peak_depth = max(self.peak_depth, len(self._entries))
        self.peak_entries_per_job = max(self.peak_entries_per_job, self._live[job_id])
        self._arrived.set()
        self._arrived = trio.Event()

    def _trim(self) -> None:
        # MAXLEN drops the oldest entries, delivered or not; a pending entry that
        # was trimmed is dropped at the next reclaim, as Redis 7 does.
        while len(self._entries) > self._maxlen:
            oldest = next(iter(self._entries))
            self._forget(self._entries.pop(oldest))
            if oldest in self._waiting:
                self._waiting.remove(oldest)

    async def claim(self, consumer: str, block_s: float) -> Delivery | None:
        await sim_checkpoint()
        deadline = trio.current_time() + max(0.0, block_s)
        while not self._waiting:
            if trio.current_time() >= deadline:
                return None
            arrived = self._arrived
            with trio.move_on_at(deadline):
                await arrived.wait()
        entry_id = self._waiting.popleft()
        self._pending[entry_id] = _Pending(consumer, trio.current_time(), 1)
        return Delivery(job_id=self._entries[entry_id], delivery_id=entry_id, deliveries=1)

    async def ack(self, delivery: Delivery) -> None:
        await sim_checkpoint()
        if self._pending.pop(delivery.delivery_id, None) is not None:
            job_id = self._entries.pop(delivery.delivery_id, None)
            if job_id is not None:
                self._forget(job_id)

    def _forget(self, job_id: str) -> None:
        self._live[job_id] -= 1
        if self._live[job_id] <= 0:
            del self._live[job_id]

    async def reclaim(self, consumer: str, min_idle_s: float, count: int) -> list[Delivery]:
        await sim_checkpoint()
        now = trio.current_time()
        claimed: list[Delivery] = []
        for entry_id in sorted(self._pending, key=_id_order):
            if len(claimed) >= count:
                break
            pending = self._pending[entry_id]
            if now - pending.delivered_at < min_idle_s:
                continue
            job_id = self._entries.get(entry_id)
            if job_id is None:  # trimmed away while pending
                del self._pending[entry_id]
                continue
            pending.consumer = consumer
            pending.delivered_at = now
            pending.deliveries += 1
            claimed.append(Delivery(job_id=job_id, delivery_id=entry_id, deliveries=pending.deliveries))
        return claimed

    def lose_everything(self) -> None:
        """Model a Redis restart without persistence: entries and pending lists vanish."""
        self._entries.clear()
        self._live.clear()
        self._waiting.clear()
        self._pending.clear()

    # ---------------------------------------------------------------- for reports

    def depth(self) -> int:
        """Entries in the stream: waiting plus delivered but not acknowledged."""
        return len(self._entries)

    def job_ids(self) -> set[str]:
        """Jobs with an entry in the stream (waiting or delivered and not acknowledged)."""
        return set(self._entries.values())

    def waiting(self) -> int:
        return len(self._waiting)

    def pending(self) -> dict[str, str]:
        """Pending entry id -> the consumer holding it."""
        return {entry_id: p.consumer for entry_id, p in self._pending.items()}


def _id_order(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


__all__ = ["MemoryJobQueue"]
