"""Update claims in groups: one transaction for the claims that queue up while one runs.

Every update is claimed in Postgres when its handler reaches the point where it takes
effect (at most once, across restarts and processes). Under load dozens of handlers
claim at once, and one transaction each (a thread hand-off and two round trips) was
most of the database work of a command. Here a claim that finds no transaction running
runs one for itself and for every claim queued meanwhile; claims that arrive while it
runs queue for the next one (group commit). A claim is still made when its handler
reaches it, never earlier, so a crash leaves no more updates claimed and unanswered
than one transaction per claim did.

Cancellation: a transaction that claims for several handlers runs shielded from the
cancellation of the one that runs it, bounded by its own ``db.statement`` deadline
(the others are waiting for it); a transaction for one claim stays interruptible. A
claim cancelled while queued leaves the queue. One cancelled while its transaction
runs may be recorded without its update being handled, as a cancellation during COMMIT
could do before: its handler ran out of time and answered so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import trio

ClaimMany = Callable[[Sequence[int]], Awaitable[set[int]]]


class _Claim:
    __slots__ = ("error", "queued", "result", "update_id", "wake")

    def __init__(self, update_id: int) -> None:
        self.update_id = update_id
        self.result: bool | None = None
        self.error: Exception | None = None
        self.queued = False
        self.wake = trio.Event()  # set when decided, or when it is this claim's turn to run

    @property
    def decided(self) -> bool:
        return self.result is not None or self.error is not None


class ClaimBatcher:
    """``await claims.claim(update_id)``: True if this call recorded the claim."""

    def __init__(self, claim_many: ClaimMany) -> None:
        self._claim_many = claim_many
        self._queue: list[_Claim] = []
        self._running = False

    async def claim(self, update_id: int) -> bool:
        mine = _Claim(update_id)
        try:
            while not mine.decided:
                if not mine.queued:  # new, or its transaction ended without deciding it
                    mine.queued = True
                    self._queue.append(mine)
                if self._running:
                    await mine.wake.wait()
                    mine.wake = trio.Event()
                else:
                    await self._run_queued()
        except BaseException:
            if mine.queued and mine in self._queue:  # cancelled while queued: leave, pass the turn on
                self._queue.remove(mine)
                if not self._running and self._queue:
                    self._queue[0].wake.set()
            raise
        if mine.error is not None:
            raise mine.error
        return bool(mine.result)

    async def _run_queued(self) -> None:
        batch, self._queue = self._queue, []
        self._running = True
        try:
            # Others wait on this transaction: the cancellation of the task that runs it
            # must not cut theirs (the claim's own deadline still bounds it).
            with trio.CancelScope(shield=len(batch) > 1):
                try:
                    claimed = await self._claim_many([c.update_id for c in batch])
                except Exception as exc:  # each claimer handles it as its own failure
                    for c in batch:
                        c.error = exc
                else:
                    seen: set[int] = set()
                    for c in batch:  # the same id twice: the first claimer has it
                        c.result = c.update_id in claimed and c.update_id not in seen
                        seen.add(c.update_id)
        finally:
            self._running = False
            for c in batch:
                c.queued = False  # undecided (the transaction was cut): it queues again
                c.wake.set()
            if self._queue:
                self._queue[0].wake.set()  # the next transaction is the first waiter's to run


__all__ = ["ClaimBatcher", "ClaimMany"]
