"""The job queue on a Redis Stream with one consumer group.

- enqueue: XADD with an approximate MAXLEN cap (a safety bound, not a retention policy);
- claim:   XREADGROUP ``>`` with BLOCK on a connection for blocking reads, kept shorter than
           its socket read timeout;
- ack:     XACK and XDEL in one MULTI, so the stream holds only unfinished jobs and a
           recreated group (which starts from the stream's beginning) replays nothing done;
- reclaim: XAUTOCLAIM entries idle for ``min_idle_s``, delivery counts from XPENDING.

Postgres stays the truth: if Redis restarts without its data, the group is recreated
on the next NOGROUP reply and the reconciler re-enqueues what was lost.
"""

from __future__ import annotations

from typing import Any

from adapters.redis_client import RedisClient, RedisReplyError
from bot.domain import Delivery

_JOB_FIELD = "job"
# XAUTOCLAIM's cursor when the whole pending list has been scanned.
_SCAN_DONE = "0-0"


def _is_nogroup(exc: RedisReplyError) -> bool:
    return exc.reply.startswith("NOGROUP")


class RedisJobQueue:
    """Implements :class:`bot.ports.JobQueue`."""

    def __init__(
        self,
        client: RedisClient,
        stream: str = "csvbot:jobs",
        group: str = "workers",
        maxlen: int = 100_000,
    ) -> None:
        self._client = client
        self._stream = stream
        self._group = group
        self._maxlen = maxlen
        self._group_ready = False
        # Leave a second between the server's BLOCK and the client's read timeout.
        self._max_block_s = max(0.1, client.options.blocking_read_timeout_s - 1.0)

    @property
    def stream(self) -> str:
        return self._stream

    async def ensure_group(self) -> None:
        """Create the stream and its group if missing (idempotent)."""
        r = self._client.raw
        try:
            # From "0": jobs enqueued before the group existed are delivered too.
            await self._client.call(r.xgroup_create, self._stream, self._group, id="0", mkstream=True)
        except RedisReplyError as exc:
            if not exc.reply.startswith("BUSYGROUP"):
                raise
        self._group_ready = True

    async def enqueue(self, job_id: str) -> None:
        await self._client.call(
            self._client.raw.xadd,
            self._stream,
            {_JOB_FIELD: job_id},
            maxlen=self._maxlen,
            approximate=True,
        )

    async def claim(self, consumer: str, block_s: float) -> Delivery | None:
        if not self._group_ready:
            await self.ensure_group()
        try:
            return await self._read_new(consumer, block_s)
        except RedisReplyError as exc:
            if not _is_nogroup(exc):
                raise
        # Redis lost the group (restart without persistence): recreate it and wait again.
        await self.ensure_group()
        return await self._read_new(consumer, block_s)

    async def _read_new(self, consumer: str, block_s: float) -> Delivery | None:
        streams = {self._stream: ">"}
        if block_s > 0:
            # BLOCK 0 would mean "forever"; at least 1 ms keeps it a bounded wait.
            block_ms = max(1, int(min(block_s, self._max_block_s) * 1000))

            def read(r: Any) -> Any:
                return r.xreadgroup(self._group, consumer, streams, count=1, block=block_ms)

            reply = await self._client.call_blocking(read)
        else:
            reply = await self._client.call(
                self._client.raw.xreadgroup, self._group, consumer, streams, count=1
            )
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                if entry_id is None or not fields:
                    continue
                return Delivery(job_id=str(fields[_JOB_FIELD]), delivery_id=str(entry_id), deliveries=1)
        return None

    async def ack(self, delivery: Delivery) -> None:
        def ack_and_delete() -> None:
            with self._client.raw.pipeline(transaction=True) as pipe:
                pipe.xack(self._stream, self._group, delivery.delivery_id)
                pipe.xdel(self._stream, delivery.delivery_id)
                pipe.execute()

        try:
            await self._client.call(ack_and_delete)
        except RedisReplyError as exc:
            # Without the group there is nothing left to acknowledge.
            if not _is_nogroup(exc):
                raise
            self._group_ready = False

    async def reclaim(self, consumer: str, min_idle_s: float, count: int) -> list[Delivery]:
        if count < 1:
            return []
        if not self._group_ready:
            await self.ensure_group()
        try:
            claimed = await self._autoclaim(consumer, min_idle_s, count)
            return await self._with_delivery_counts(consumer, claimed)
        except RedisReplyError as exc:
            if not _is_nogroup(exc):
                raise
            # Group lost with its pending list: nothing to reclaim; the reconciler
            # re-enqueues those jobs from Postgres.
            await self.ensure_group()
            return []

    async def _autoclaim(self, consumer: str, min_idle_s: float, count: int) -> list[tuple[str, str]]:
        r = self._client.raw
        min_idle_ms = max(0, int(min_idle_s * 1000))
        claimed: list[tuple[str, str]] = []
        cursor = _SCAN_DONE
        while len(claimed) < count:
            reply = await self._client.call(
                r.xautoclaim,
                self._stream,
                self._group,
                consumer,
                min_idle_ms,
                start_id=cursor,
                count=count - len(claimed),
            )
            cursor, entries = str(reply[0]), reply[1]
            for entry_id, fields in entries:
                # Entries trimmed from the stream come back without fields (Redis 6.2)
                # or only in the reply's third element (7.0+, already unpended).
                if entry_id is None or not fields:
                    continue
                claimed.append((str(entry_id), str(fields[_JOB_FIELD])))
            if cursor == _SCAN_DONE:
                break
        return claimed

    async def _with_delivery_counts(self, consumer: str, claimed: list[tuple[str, str]]) -> list[Delivery]:
        if not claimed:
            return []

        def pending_info() -> list[Any]:
            with self._client.raw.pipeline(transaction=False) as pipe:
                for entry_id, _job in claimed:
                    pipe.xpending_range(self._stream, self._group, entry_id, entry_id, 1)
                result: list[Any] = pipe.execute()
                return result

        infos = await self._client.call(pending_info)
        deliveries: list[Delivery] = []
        for (entry_id, job_id), info in zip(claimed, infos, strict=True):
            # Not pending for us any more: another consumer acknowledged it meanwhile.
            if not info or str(info[0]["consumer"]) != consumer:
                continue
            times = int(info[0]["times_delivered"])
            deliveries.append(Delivery(job_id=job_id, delivery_id=entry_id, deliveries=max(1, times)))
        return deliveries

    async def depth(self) -> int:
        """Entries in the stream: waiting plus delivered but not acknowledged."""
        return int(await self._client.call(self._client.raw.xlen, self._stream))

    async def backlog(self) -> tuple[int, float | None]:
        """(entries in the stream, enqueue time of the oldest in Unix seconds or None).

        Acknowledged entries are deleted, so the first entry is the oldest unfinished
        one; its id starts with the milliseconds at which Redis added it."""

        def length_and_first() -> list[Any]:
            with self._client.raw.pipeline(transaction=False) as pipe:
                pipe.xlen(self._stream)
                pipe.xrange(self._stream, count=1)
                result: list[Any] = pipe.execute()
                return result

        length, first = await self._client.call(length_and_first)
        oldest = float(str(first[0][0]).partition("-")[0]) / 1000.0 if first else None
        return int(length), oldest


__all__ = ["RedisJobQueue"]
