"""Update claims share a transaction when they come together (bot.claims): each claimer
still gets its own answer, a failure reaches every claimer of its transaction, and the
cancellation of the claimer that runs a shared transaction does not cut the others'."""

from __future__ import annotations

from collections.abc import Sequence

import trio
import trio.testing

from bot.claims import ClaimBatcher
from bot.errors import ServiceUnavailable


class Table:
    def __init__(self, delay_s: float = 0.01) -> None:
        self.claimed: set[int] = set()
        self.batches: list[list[int]] = []
        self.delay_s = delay_s
        self.fail = False

    async def claim_many(self, ids: Sequence[int]) -> set[int]:
        self.batches.append(list(ids))
        await trio.sleep(self.delay_s)
        if self.fail:
            raise ServiceUnavailable("db", "down")
        new = {i for i in ids if i not in self.claimed}
        self.claimed |= new
        return new


async def test_claims_made_together_share_a_transaction_and_keep_their_answers() -> None:
    table = Table()
    table.claimed.add(3)  # claimed before, by another process
    claims = ClaimBatcher(table.claim_many)
    answers: dict[int, bool] = {}

    async def claim(update_id: int) -> None:
        answers[update_id] = await claims.claim(update_id)

    async with trio.open_nursery() as nursery:
        for update_id in range(10):
            nursery.start_soon(claim, update_id)
    assert answers == {i: i != 3 for i in range(10)}
    assert len(table.batches) == 2  # the first alone, the nine that queued meanwhile together
    assert sorted(table.batches[1]) == [i for i in range(10) if i != table.batches[0][0]]
    assert await claims.claim(5) is False  # a repeat is a duplicate


async def test_one_claim_alone_is_one_transaction() -> None:
    table = Table()
    claims = ClaimBatcher(table.claim_many)
    for update_id in range(3):
        assert await claims.claim(update_id) is True
    assert table.batches == [[0], [1], [2]]


async def test_a_failure_reaches_every_claimer_of_its_transaction() -> None:
    table = Table()
    claims = ClaimBatcher(table.claim_many)
    failed: list[int] = []

    async def claim(update_id: int) -> None:
        try:
            await claims.claim(update_id)
        except ServiceUnavailable:
            failed.append(update_id)

    table.fail = True
    async with trio.open_nursery() as nursery:
        for update_id in range(4):
            nursery.start_soon(claim, update_id)
    assert sorted(failed) == [0, 1, 2, 3]
    table.fail = False
    assert await claims.claim(0) is True  # nothing was recorded


async def test_a_shared_transaction_outlives_its_runners_cancellation() -> None:
    table = Table(delay_s=0.05)
    claims = ClaimBatcher(table.claim_many)
    answers: dict[int, bool] = {}

    async def claim(update_id: int) -> None:
        answers[update_id] = await claims.claim(update_id)

    async def cancellable_claim(update_id: int, scope_out: list[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            scope_out.append(scope)
            await claim(update_id)

    scopes: list[trio.CancelScope] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(claim, 0)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(cancellable_claim, 1, scopes)  # first in the queue: runs the next one
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(claim, 2)
        await trio.sleep(0.06)  # the first transaction ended; 1 runs [1, 2]
        assert table.batches[1] == [1, 2]
        scopes[0].cancel()  # its handler gave up: 2's claim must still complete
    assert answers.get(2) is True
    assert table.claimed == {0, 1, 2}  # 1's too: its handler is cancelled at its next checkpoint


async def test_a_claimer_cancelled_in_the_queue_leaves_it() -> None:
    table = Table(delay_s=0.05)
    claims = ClaimBatcher(table.claim_many)
    answers: dict[int, bool] = {}

    async def claim(update_id: int) -> None:
        answers[update_id] = await claims.claim(update_id)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(claim, 0)
        await trio.testing.wait_all_tasks_blocked()
        with trio.move_on_after(0.01):
            await claims.claim(1)  # queued behind 0's transaction, then gives up
        nursery.start_soon(claim, 2)
    assert answers == {0: True, 2: True}
    assert table.claimed == {0, 2}
