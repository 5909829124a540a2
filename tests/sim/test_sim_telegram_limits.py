"""Telegram's flood limits in the in-process Bot API: 429s, growing waits, watching."""

from __future__ import annotations

import pytest
import trio

from bot.domain import TgUser
from bot.errors import TelegramRetryAfter
from sim.fakes.telegram.api import SimTelegramApi
from sim.fakes.telegram.limits import IN_FLIGHT_GRACE_S, SendLimits
from sim.fakes.telegram.world import BotApiError, BotApiWorld
from sim.simulator.faults.kinds.rate_limit import RateLimitFault
from sim.simulator.faults.proxy import ServiceFaults, wrap_port
from sim.simulator.kernel import RngStreams
from sim.simulator.scenario import ServiceModel

TOKEN = "123456:LIMITS-TEST-TOKEN"


async def test_a_send_before_retry_after_is_refused_longer_and_counted(autojump_clock: object) -> None:
    limits = SendLimits(chat_burst=1)
    assert limits.admit("sendMessage", 7) is None
    assert limits.admit("sendMessage", 7) == 1  # within the grace: a send already on the wire
    await trio.sleep(IN_FLIGHT_GRACE_S + 0.5)
    limits.note_retry_after(7, 10)
    await trio.sleep(IN_FLIGHT_GRACE_S + 1.0)
    retry_after = limits.admit("sendMessage", 7)
    assert retry_after is not None and retry_after > 10  # twice what was left
    assert limits.ignored_retry_after == 1


async def test_sends_inside_the_grace_are_not_held_against_the_sender(autojump_clock: object) -> None:
    limits = SendLimits()
    limits.note_retry_after(None, 5)
    assert limits.admit("sendMessage", 1) is None  # sent before the 429 could be seen
    assert limits.ignored_retry_after == 0


async def test_watching_lets_sends_through_and_counts_them(autojump_clock: object) -> None:
    limits = SendLimits(enabled=False)
    assert all(limits.admit("sendMessage", 7) is None for _ in range(8))
    assert limits.over_limit == 3  # a burst of five, then one a second
    assert limits.refused == 0


async def test_the_world_answers_429_with_retry_after(autojump_clock: object) -> None:
    world = BotApiWorld(TOKEN, limits=SendLimits())
    user = TgUser(id=5, first_name="u")
    world.user_sends_text(user, 5, "/start")
    for _ in range(5):
        await world.send_message(chat_id=5, text="hi")
    with pytest.raises(BotApiError) as refused:
        await world.send_message(chat_id=5, text="hi")
    assert refused.value.error_code == 429 and refused.value.retry_after == 1
    assert len(world.sent_to(5)) == 5  # the refused message never reached the chat


async def test_a_conforming_send_delayed_into_the_next_one_counts_as_jitter(autojump_clock: object) -> None:
    limits = SendLimits(chat_per_s=1.0, chat_burst=1)
    assert limits.admit("sendMessage", 7, sent_at=0.0) is None
    await trio.sleep(3.0)
    assert limits.admit("sendMessage", 7, sent_at=2.0) is None  # held 1 s on the way
    assert limits.admit("sendMessage", 7, sent_at=3.0) is not None  # arrives with it: refused
    assert (limits.over_limit, limits.jittered) == (0, 1)  # but it left on time


async def test_a_group_gets_20_messages_in_any_minute(autojump_clock: object) -> None:
    limits = SendLimits()
    for _ in range(20):  # one every 1.5 s: within the per-chat rate
        assert limits.admit("sendMessage", -100) is None
        await trio.sleep(1.5)
    retry_after = limits.admit("sendMessage", -100)  # 30 s in: the first send is 30 s from leaving the minute
    assert retry_after == 30
    assert limits.admit("sendMessage", 100) is None  # a private chat is not a group
    await trio.sleep(30.0)
    assert limits.admit("sendMessage", -100) is None
    assert limits.over_limit == 1


async def test_a_429_on_a_call_that_sends_nothing_holds_that_request_alone(autojump_clock: object) -> None:
    limits = SendLimits()
    limits.note_retry_after(None, 10, "getFile", "file-a")
    await trio.sleep(IN_FLIGHT_GRACE_S + 1.0)
    assert limits.admit_call("getFile", "file-b") is None  # another file: not held
    assert limits.admit("sendMessage", 7) is None  # nor are sends
    retry_after = limits.admit_call("getFile", "file-a")
    assert retry_after is not None and retry_after > 10 - IN_FLIGHT_GRACE_S - 1.0  # held longer
    assert limits.ignored_retry_after == 1
    await trio.sleep(2 * retry_after)
    assert limits.admit_call("getFile", "file-a") is None  # honoured: through, and forgotten
    assert limits.ignored_retry_after == 1


async def test_a_faults_429_holds_the_request_in_the_world(autojump_clock: object) -> None:
    # A scenario's rate_limit fault answers at the adapter boundary, before the world sees
    # the call: the world must still hold the request it refused, as Telegram would.
    world = BotApiWorld(TOKEN, limits=SendLimits())
    user = TgUser(id=5, first_name="u")
    file_id = world.user_sends_document(user, 5, "a.csv", b"a,b\n1,2\n").file_id or ""
    refused_once = RateLimitFault(target="telegram", at_s=0.0, duration_s=0.5, retry_after_s=5.0)
    faults = ServiceFaults("telegram", ServiceModel(), (refused_once,), RngStreams(1))
    faults.on_retry_after = world.note_refused
    api = wrap_port(SimTelegramApi(world, TOKEN), faults)
    with pytest.raises(TelegramRetryAfter):
        await api.get_file(file_id)
    await trio.sleep(IN_FLIGHT_GRACE_S + 1.0)
    with pytest.raises(TelegramRetryAfter):  # repeated before its retry_after: refused again
        await api.get_file(file_id)
    assert world.limits is not None and world.limits.ignored_retry_after == 1


async def test_paced_sends_reordered_on_the_way_are_judged_in_the_order_they_left(
    autojump_clock: object,
) -> None:
    # scenarios/regressions/swarm-135-reordered-sends.toml: a slow network delivered sends
    # in another order than the bot sent them; judging their send times in arrival order
    # called a well-paced bot a flooder.
    limits = SendLimits(enabled=False, chat_per_s=1.0, chat_burst=1)
    paced: list[bool | None] = []
    for _ in range(6):  # one a second, as the chat's limit asks
        paced.append(limits.depart("sendMessage", 7, trio.current_time()))
        await trio.sleep(1.0)
    assert limits.depart("getFile", None, trio.current_time()) is None  # sends nothing
    for sent in reversed(range(6)):  # all arrive together, newest first
        assert limits.admit("sendMessage", 7, sent_at=float(sent), paced=paced[sent]) is None
    assert paced == [True] * 6
    assert (limits.over_limit, limits.jittered) == (0, 5)
