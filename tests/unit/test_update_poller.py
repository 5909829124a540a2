"""The poller against the in-process Bot API world, on a virtual clock."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest
import trio

from bot.domain import TgUser, Update
from bot.errors import ServiceUnavailable, TelegramRetryAfter
from bot.guard import Guard
from bot.log import Logger
from bot.messenger import Messenger
from bot.metrics import MetricsRecorder
from bot.ratelimit import SendRateLimiter
from bot.settings import Settings
from bot.updates import ParkUpdate, RetryUpdate, UpdatePoller
from sim.fakes.repository import MemoryRepository
from sim.fakes.state import MemoryConversationStore
from sim.fakes.telegram.api import SimTelegramApi
from sim.fakes.telegram.world import BotApiWorld

TOKEN = "777:POLLER-TEST-TOKEN-xxxxxxxxxxxxxxxxxxxxxxxx"


class Clock:
    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128))

    def random(self) -> float:
        return self.rng.random()


class ListSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def emit(self, level: int, event: str, fields: dict[str, object]) -> None:
        self.events.append((event, fields))


def make_poller(
    world: BotApiWorld,
    handle,
    *,
    max_in_flight: int = 8,
    sink: ListSink | None = None,
    api: SimTelegramApi | None = None,
    pauses: MemoryRepository | None = None,
    keeper: MemoryConversationStore | None = None,
) -> UpdatePoller:
    metrics = MetricsRecorder()
    settings = Settings()
    log = Logger(sink or ListSink())
    messenger = Messenger(
        api or SimTelegramApi(world, TOKEN), Guard(settings, metrics, log), SendRateLimiter(30, 1), log
    )
    return UpdatePoller(
        messenger,
        handle,
        poll_timeout_s=5,
        max_in_flight=max_in_flight,
        log=log,
        metrics=metrics,
        pauses=pauses,
        keeper=keeper,
    )


def user(n: int) -> TgUser:
    return TgUser(id=n, language_code="en")


async def test_one_chat_in_order_different_chats_concurrently(autojump_clock):
    world = BotApiWorld(TOKEN)
    seen: dict[int, list[str]] = {}
    rng = random.Random(5)
    delays = {}

    async def handle(update: Update) -> None:
        assert update.message is not None
        await trio.sleep(delays[update.update_id])
        seen.setdefault(update.message.chat_id, []).append(update.message.text or "")

    for chat in (1, 2, 3):
        for i in range(5):
            action = world.user_sends_text(user(chat), chat, f"m{i}")
            delays[action.update_id] = rng.uniform(0.1, 1.0)

    poller = make_poller(world, handle)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        while poller.handled < 15:
            await trio.sleep(0.05)
        elapsed = trio.current_time() - start
        poller.stop_polling()
    assert all(seen[chat] == [f"m{i}" for i in range(5)] for chat in (1, 2, 3))
    # chats ran side by side: far less than the sum of all handler times
    assert elapsed < sum(delays.values()) / 2


async def test_offset_is_confirmed_only_after_handling(autojump_clock):
    world = BotApiWorld(TOKEN)
    release = trio.Event()
    handled: list[int] = []

    async def handle(update: Update) -> None:
        if update.update_id == first:
            await release.wait()
        handled.append(update.update_id)

    first = world.user_sends_text(user(1), 1, "slow").update_id
    world.user_sends_text(user(2), 2, "fast")
    poller = make_poller(world, handle)
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        await trio.sleep(10)  # several polls happen meanwhile
        assert handled == [first + 1]
        assert world.pending_updates == 2, "the unfinished update stays unconfirmed"
        assert poller.next_offset() == first
        release.set()
        await trio.sleep(1)
        await trio.sleep(6)  # the next poll confirms both
        assert world.pending_updates == 0
        poller.stop_polling()
    assert sorted(handled) == [first, first + 1]


async def test_back_pressure_caps_updates_in_flight(autojump_clock):
    world = BotApiWorld(TOKEN)
    peak = 0
    current = 0

    async def handle(update: Update) -> None:
        nonlocal peak, current
        current += 1
        peak = max(peak, current)
        await trio.sleep(1.0)
        current -= 1

    for chat in range(30):
        world.user_sends_text(user(chat), chat, "hi")
    poller = make_poller(world, handle, max_in_flight=4)
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        while poller.handled < 30:
            await trio.sleep(0.1)
        poller.stop_polling()
    assert peak == 4


async def test_polling_stops_while_the_buffer_of_updates_is_full(autojump_clock):
    # Handlers that cannot finish (every service hangs) and a backlog of 300 chats: the
    # poller holds at most its buffer in memory and polls for no more until some finish.
    # (A regression replay, swarm-797, was the only check that saw this bound broken.)
    world = BotApiWorld(TOKEN)
    release = trio.Event()

    async def handle(update: Update) -> None:
        await release.wait()

    for chat in range(300):
        world.user_sends_text(user(chat), chat, "hi")
    poller = make_poller(world, handle, max_in_flight=4)
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        await trio.sleep(120)
        assert len(poller._in_flight) == poller.max_buffered < 300
        release.set()
        while poller.handled < 300:
            await trio.sleep(0.1)
        poller.stop_polling()


async def test_stop_polling_lets_in_flight_handlers_finish(autojump_clock):
    world = BotApiWorld(TOKEN)
    finished: list[int] = []

    async def handle(update: Update) -> None:
        await trio.sleep(3.0)
        finished.append(update.update_id)

    for chat in range(3):
        world.user_sends_text(user(chat), chat, "work")
    poller = make_poller(world, handle)
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        await trio.sleep(0.5)
        poller.stop_polling()
    assert len(finished) == 3


async def test_conflict_backs_off_with_a_clear_log_line(autojump_clock):
    world = BotApiWorld(TOKEN)
    world.set_webhook_conflict(True)
    sink = ListSink()

    async def handle(update: Update) -> None:  # pragma: no cover - no updates here
        raise AssertionError

    poller = make_poller(world, handle, sink=sink)
    with trio.move_on_after(120):
        await poller.run()
    conflicts = [fields for event, fields in sink.events if event == "poll.conflict"]
    assert conflicts and "a webhook is set for this token" in str(conflicts[0]["detail"])
    # exponential backoff capped at 60 s: a handful of calls in two minutes, not a spin
    assert 3 <= world.calls["getUpdates"] <= 10


async def test_a_second_instance_at_start_is_reported_not_looped_on_silently(autojump_clock):
    """Two bots on one token: Telegram answers 409 to whichever poll the other cut short."""
    world = BotApiWorld(TOKEN)
    sinks = [ListSink(), ListSink()]

    async def handle(update: Update) -> None:  # pragma: no cover - no updates here
        raise AssertionError

    with trio.move_on_after(120):
        async with trio.open_nursery() as nursery:
            for sink in sinks:
                nursery.start_soon(make_poller(world, handle, sink=sink).run)
    conflicts = [fields for sink in sinks for event, fields in sink.events if event == "poll.conflict"]
    assert conflicts
    assert all("another instance of the bot is polling" in str(c["detail"]) for c in conflicts)
    assert all("terminated by other getUpdates request" in str(c["telegram"]) for c in conflicts)
    # Each backs off after its 409 (capped at 60 s): no tight loop of polls cutting each other.
    assert world.calls["getUpdates"] <= 60


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_crash_redelivers_what_was_not_handled(autojump_clock, seed):
    """Kill the poller mid-batch; a new poller sees every unhandled update again."""
    world = BotApiWorld(TOKEN)
    rng = random.Random(seed)
    ids = [world.user_sends_text(user(c % 4), c % 4, str(c)).update_id for c in range(12)]
    handled: set[int] = set()

    async def slow(update: Update) -> None:
        await trio.sleep(rng.uniform(0.5, 3.0))
        handled.add(update.update_id)

    with trio.move_on_after(rng.uniform(1.0, 4.0)):
        await make_poller(world, slow).run()
    first_round = set(handled)

    async def fast(update: Update) -> None:
        handled.add(update.update_id)

    second = make_poller(world, fast)
    async with trio.open_nursery() as nursery:
        await nursery.start(second.run)
        await trio.sleep(10)
        second.stop_polling()
    assert first_round < set(ids), "the first poller was stopped with updates unhandled"
    assert handled == set(ids), "the next poller got every one of them again"


async def test_an_unanswered_update_stays_unconfirmed_and_is_handled_again(autojump_clock):
    world = BotApiWorld(TOKEN)
    attempts: list[float] = []

    async def handle(update: Update) -> None:
        attempts.append(trio.current_time())
        if len(attempts) < 3:
            raise RetryUpdate  # the user heard nothing: Telegram was unreachable

    world.user_sends_text(user(1), 1, "/start")
    poller = make_poller(world, handle)
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        while len(attempts) < 2:
            await trio.sleep(0.1)
        assert world.pending_updates == 1, "not confirmed while its answer is missing"
        while poller.handled < 1:
            await trio.sleep(0.1)
        await trio.sleep(6)
        assert world.pending_updates == 0
        poller.stop_polling()
    assert len(attempts) == 3
    assert attempts[1] - attempts[0] >= 1.0  # backed off between attempts


async def test_retries_of_an_unanswered_update_are_bounded(autojump_clock):
    world = BotApiWorld(TOKEN)
    sink = ListSink()
    calls = 0

    async def handle(update: Update) -> None:
        nonlocal calls
        calls += 1
        raise RetryUpdate

    world.user_sends_text(user(1), 1, "/start")
    poller = make_poller(world, handle, sink=sink)
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        while poller.handled < 1:
            await trio.sleep(1)
        poller.stop_polling()
    assert calls == Settings().retries["update.redeliver"].attempts
    assert any(event == "update.unanswered" for event, _ in sink.events)


async def test_one_chats_flood_does_not_starve_another_chat(autojump_clock):
    """300 messages from one chat, then /help from another: the /help is answered
    within 2 s; the flooding chat keeps its order, loses its excess, is told once."""
    world = BotApiWorld(TOKEN)
    answered_at: dict[int, list[float]] = {}
    notices: list[int] = []
    poller: UpdatePoller

    async def handle(update: Update) -> None:
        assert update.message is not None
        chat = update.message.chat_id
        await poller.messenger.send_text(chat, "ok: " + (update.message.text or ""))
        answered_at.setdefault(chat, []).append(trio.current_time())

    async def on_flood(update: Update) -> None:
        assert update.message is not None
        notices.append(update.message.chat_id)
        await poller.messenger.send_text(update.message.chat_id, "slow down: " + (update.message.text or ""))

    poller = make_poller(world, handle, max_in_flight=64)
    poller.on_flood = on_flood
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        for i in range(300):
            world.user_sends_text(user(1), 1, f"spam {i}")
            await trio.sleep(0.02)
        asked = trio.current_time()
        world.user_sends_text(user(2), 2, "/help")
        while 2 not in answered_at:
            await trio.sleep(0.05)
        waited = answered_at[2][0] - asked
        while poller.in_flight:
            await trio.sleep(0.5)
        poller.stop_polling()
    assert waited < 2.0, f"/help waited {waited:.1f} s behind another chat's flood"
    assert notices == [1]
    assert 300 - poller.dropped == len(answered_at[1])
    assert poller.metrics.snapshot().counter("updates", "dropped") == poller.dropped > 0
    # every reply (answers and the notice) in the order of the messages it answers
    replied_to = [int((record.text or "").split()[-1]) for record in world.sent_to(1)]
    assert replied_to == sorted(replied_to)
    assert len(replied_to) == len(answered_at[1]) + 1
    assert trio.current_time() - start < 120


async def test_files_sent_at_once_are_not_taken_for_a_flood(autojump_clock):
    world = BotApiWorld(TOKEN)
    handled: list[int] = []
    poller: UpdatePoller

    async def handle(update: Update) -> None:
        await poller.messenger.send_text(1, "got it")
        handled.append(update.update_id)

    ids = [world.user_sends_document(user(1), 1, f"f{i}.csv", b"a,b\n1,2\n").update_id for i in range(15)]
    spam = [world.user_sends_text(user(1), 1, "hey").update_id for _ in range(40)]
    poller = make_poller(world, handle)
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        while poller.handled + poller.dropped < 55:
            await trio.sleep(0.5)
        poller.stop_polling()
    assert handled[:15] == ids, "every file is handled, in order"
    assert poller.dropped > 0 and set(handled[15:]) < set(spam)


async def test_a_settled_update_is_not_fetched_again_while_it_is_handled(autojump_clock):
    """Once its claim is in the database, an update in flight no longer holds the offset
    back: Telegram forgets it and later polls do not bring it back."""
    world = BotApiWorld(TOKEN)
    release = trio.Event()
    handled: list[int] = []
    poller: UpdatePoller

    async def handle(update: Update) -> None:
        if update.update_id == slow:
            poller.settled(update.update_id)  # what the router does after its claim
            await release.wait()
        handled.append(update.update_id)

    slow = world.user_sends_text(user(1), 1, "slow").update_id
    poller = make_poller(world, handle)
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        await trio.sleep(1)
        for n in range(5):  # new updates keep the poller polling while the slow one runs
            world.user_sends_text(user(2), 2, f"m{n}")
            await trio.sleep(2)
        assert world.pending_updates == 0, "the settled update was confirmed"
        assert poller.next_offset() == slow + 6
        assert poller.in_flight == 1
        release.set()
        while poller.in_flight:
            await trio.sleep(0.1)
        poller.stop_polling()
    assert sorted(handled) == [slow, *range(slow + 1, slow + 6)]


async def test_an_unsettled_update_in_flight_is_fetched_again(autojump_clock):
    """The counterpart: without a claim the offset waits for it (at-least-once), and
    polls bring it back."""
    world = BotApiWorld(TOKEN)
    release = trio.Event()

    async def handle(update: Update) -> None:
        if update.update_id == slow:
            await release.wait()

    slow = world.user_sends_text(user(1), 1, "slow").update_id
    poller = make_poller(world, handle)
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        await trio.sleep(1)
        for n in range(3):
            world.user_sends_text(user(2), 2, f"m{n}")
            await trio.sleep(2)
        assert world.pending_updates >= 1
        assert poller.next_offset() == slow
        assert poller.refetched >= 1
        release.set()
        while poller.in_flight:
            await trio.sleep(0.1)
        poller.stop_polling()


async def test_a_parked_update_stays_unconfirmed_and_holds_up_no_one(autojump_clock):
    world = BotApiWorld(TOKEN)
    database_back = trio.Event()
    handled: list[str] = []
    tries = 0

    async def handle(update: Update) -> None:
        nonlocal tries
        assert update.message is not None
        text = update.message.text or ""
        if text == "file":
            tries += 1
            if not database_back.is_set():
                raise ParkUpdate
        handled.append(text)

    parked = world.user_sends_text(user(1), 1, "file").update_id
    poller = make_poller(world, handle, max_in_flight=1)  # one slot: a parked update must not hold it
    async with trio.open_nursery() as nursery:
        await nursery.start(poller.run)
        await trio.sleep(1)
        world.user_sends_text(user(1), 1, "/help")  # the same chat goes on
        world.user_sends_text(user(2), 2, "/start")  # and so do the others
        await trio.sleep(5)
        assert sorted(handled) == ["/help", "/start"]
        assert poller.next_offset() == parked, "Telegram keeps the parked update"
        assert world.pending_updates == 3
        assert 2 <= tries <= 6, "tried again with back-off, not in a tight loop"
        database_back.set()
        await trio.sleep(10)
        assert handled[-1] == "file"
        assert world.pending_updates == 0 or poller.next_offset() > parked
        poller.stop_polling()


async def test_a_poller_after_a_crash_waits_out_the_429_its_predecessor_met(autojump_clock):
    # scenarios/regressions/swarm-982-poll-pause-across-restart.toml: a 429 on getUpdates
    # holds the token; the poller that starts after a crash must not poll inside it.
    world, board = BotApiWorld(TOKEN), MemoryRepository()
    polls: list[float] = []

    class RefusesOnce(SimTelegramApi):
        refused = False

        async def get_updates(self, offset: int | None, timeout_s: int, limit: int = 100) -> list[Update]:
            polls.append(trio.current_time())
            if not RefusesOnce.refused:
                RefusesOnce.refused = True
                raise TelegramRetryAfter("Too Many Requests: retry after 30", 30)
            return await super().get_updates(offset, timeout_s, limit)

    async def handle(update: Update) -> None:
        pass

    for _ in range(2):  # the poller, then the one started after it crashed
        poller = make_poller(world, handle, api=RefusesOnce(world, TOKEN), pauses=board)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poller.run)
            await trio.sleep(2.0)
            nursery.cancel_scope.cancel()  # a crash, 2 s after the 429
    assert len(polls) == 1  # the second poller is still waiting
    await trio.sleep(30)
    poller = make_poller(world, handle, api=RefusesOnce(world, TOKEN), pauses=board)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
    assert len(polls) == 2 and polls[1] >= polls[0] + 30  # once the pause is over, it polls


class _Keeper(MemoryConversationStore):
    """The fake Redis, which can refuse to keep."""

    refuse = False

    async def keep_updates(self, updates, ttl_s):
        if self.refuse:
            raise ServiceUnavailable("redis", "connection refused")
        await super().keep_updates(updates, ttl_s)


async def test_updates_confirmed_before_they_are_handled_are_resumed_by_the_next_process(autojump_clock):
    # scenarios/regressions/held-uploads-confirmed-early.toml: 100 held files filled the
    # window, the offset moved past them, and a restart lost them.
    world, keeper = BotApiWorld(TOKEN), _Keeper()
    sent = [world.user_sends_text(user(n), n, f"file {n}").update_id for n in range(1, 121)]
    database_back = False
    handled: list[int] = []

    async def handle(update: Update) -> None:
        if not database_back:
            raise ParkUpdate  # held: the database is away
        handled.append(update.update_id)

    for back in (False, True):  # a process that crashes, then the one after it
        database_back = back
        poller = make_poller(world, handle, keeper=keeper)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poller.run)
            await trio.sleep(30)
            if not back:
                kept = await keeper.kept_updates()
                assert len(kept) >= 100 and world.pending_updates < 120  # confirmed to Telegram
            nursery.cancel_scope.cancel()
    assert sorted(set(handled)) == sorted(sent)
    assert await keeper.kept_updates() == {}  # handled: dropped


async def test_updates_redis_cannot_keep_are_not_confirmed_before_they_are_handled(autojump_clock):
    world, keeper = BotApiWorld(TOKEN), _Keeper()
    keeper.refuse = True
    for n in range(1, 121):
        world.user_sends_text(user(n), n, f"file {n}")

    async def handle(update: Update) -> None:
        raise ParkUpdate

    sink = ListSink()
    poller = make_poller(world, handle, keeper=keeper, sink=sink)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert world.pending_updates == 120  # Telegram keeps them all
    assert any(event == "poll.keep_failed" for event, _ in sink.events)
