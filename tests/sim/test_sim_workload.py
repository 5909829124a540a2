"""Simulated users: files, arrivals, and how they read the bot's replies."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from bot import analysis
from bot.i18n import t
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.kernel import RngStreams
from sim.simulator.replies import ReplyClassifier
from sim.simulator.scenario import Files, Users
from sim.simulator.workload import ANALYSED, FAILED, LOST, Workload, make_file

TOKEN = "7000000001:test-token"
KEYBOARD = {"inline_keyboard": [[{"text": "Histogram", "callback_data": "h:1"}]]}


def test_classifier_knows_the_bots_texts_in_both_languages() -> None:
    c = ReplyClassifier()
    assert c.classify(t("ru", "received", name="<b>orders.csv</b>")) == "received"
    assert c.classify(t("en", "received", name="a.csv")) == "received"
    assert c.classify(t("en", "job_failed", name="a.csv", reason="timeout: job")) == "terminal"
    assert c.classify(t("ru", "not_csv", name="report.pdf")) == "terminal"
    assert c.classify(t("en", "timeout")) == "notice"
    assert c.classify(t("ru", "start")) == "greeting"
    assert c.classify(t("en", "still_trying", name="a.csv")) == "chatter"
    assert c.classify("<b>orders.csv</b>: 200 rows, 7 columns") == "other"


@pytest.mark.parametrize("kind", ["good", "empty", "binary", "not_csv", "ragged"])
def test_generated_files_are_deterministic_and_non_empty(kind: str) -> None:
    first = make_file(kind, RngStreams(1).stream("f"), 50)
    assert first == make_file(kind, RngStreams(1).stream("f"), 50)
    assert first[1]
    if kind == "binary":  # no text in it: the analysis refuses it, as it would an image
        outcome = analysis.analyse_csv(first[1], first[0])
        assert isinstance(outcome, analysis.CsvRejected) and outcome.code == "binary", outcome


def test_arrivals_follow_the_seed_and_users_get_their_own_streams() -> None:
    spec = Users(count=30, arrival="poisson", rate_per_s=2.0, languages={"en": 1, "ru": 1})
    world = BotApiWorld(TOKEN)
    a = Workload(world, spec, RngStreams(9))
    b = Workload(world, spec, RngStreams(9))
    c = Workload(world, spec, RngStreams(10))
    assert [u.arrives_at for u in a.users] == [u.arrives_at for u in b.users]
    assert [u.arrives_at for u in a.users] != [u.arrives_at for u in c.users]
    times = [u.arrives_at for u in a.users]
    assert times == sorted(times) and 5 < times[-1] < 30
    assert {u.user.language_code for u in a.users} == {"en", "ru"}
    # Adding users does not change who the first ones are.
    more = Workload(
        world, Users(count=31, arrival="poisson", rate_per_s=2.0, languages={"en": 1, "ru": 1}), RngStreams(9)
    )
    assert [(u.file_name, u.data, u.user) for u in more.users[:30]] == [
        (u.file_name, u.data, u.user) for u in a.users
    ]


async def test_users_record_what_they_saw(autojump_clock: MockClock) -> None:
    """The test plays the bot by hand through the world's bot-side API."""
    world = BotApiWorld(TOKEN)
    spec = Users(
        count=3,
        arrival="uniform",
        spread_s=3.0,
        files=Files(rows=10, variants=1, mix={"good": 1.0}),
    )
    workload = Workload(world, spec, RngStreams(1))
    analysed, failed, lost = workload.users

    async def bot() -> None:
        offset = 0
        started: set[int] = set()
        while True:
            for update in await world.get_updates(offset=offset, timeout=30):
                offset = update["update_id"] + 1
                message = update["message"]
                chat = message["chat"]["id"]
                if "text" in message:
                    await world.send_message(chat_id=chat, text=t("en", "start"))
                    started.add(chat)
                    continue
                await world.send_message(chat_id=chat, text=t("en", "received", name="orders.csv"))
                await trio.sleep(2.0)
                if chat == analysed.chat_id:
                    await world.send_message(chat_id=chat, text="orders.csv: 10 rows")
                    await world.send_message(chat_id=chat, text="columns ...", reply_markup=KEYBOARD)
                elif chat == failed.chat_id:
                    await world.send_message(chat_id=chat, text=t("en", "timeout"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(bot)
        nursery.start_soon(workload.run)
        await trio.sleep(60)
        nursery.cancel_scope.cancel()

    assert [u.start_replied for u in workload.users] == [True, True, True]
    assert analysed.final_outcome() == ANALYSED and analysed.latency() == pytest.approx(2.0)
    assert analysed.others == 1 and analysed.profiles == 1 and analysed.receipts == 1
    assert failed.final_outcome() == FAILED and failed.notices == 1
    assert lost.final_outcome() == LOST and lost.acked_at is not None
    assert not workload.all_done.is_set()  # the timeout notice is not final: the work may still end


async def test_all_done_fires_when_the_last_user_has_a_final_answer(autojump_clock: MockClock) -> None:
    world = BotApiWorld(TOKEN)
    spec = Users(count=2, send_start=False, files=Files(rows=5, variants=1, mix={"not_csv": 1.0}))
    workload = Workload(world, spec, RngStreams(2))

    async def bot() -> None:
        offset = 0
        while True:
            for update in await world.get_updates(offset=offset, timeout=30):
                offset = update["update_id"] + 1
                chat = update["message"]["chat"]["id"]
                await world.send_message(chat_id=chat, text=t("ru", "not_csv", name="report.pdf"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(bot)
        nursery.start_soon(workload.run)
        await workload.all_done.wait()
        nursery.cancel_scope.cancel()
    assert [u.final_outcome() for u in workload.users] == [FAILED, FAILED]
    assert all(u.terminal_failures == 1 for u in workload.users)


def test_a_notice_after_the_final_answer_is_out_of_order() -> None:
    user = Workload(BotApiWorld(TOKEN), Users(count=1, files=Files(rows=5, variants=1)), RngStreams(1)).users[
        0
    ]
    user.saw_notice()  # "took too long" before any answer: a fair warning
    user.saw_step("receipt")
    user.saw_notice()
    assert user.out_of_order == []
    user.saw_step("final")
    user.saw_notice()  # after the profile: it contradicts it
    assert user.out_of_order == [("final", "notice")]


def test_a_flood_and_its_probes_are_their_own_chats() -> None:
    spec = Users(count=2, flood={"messages": 30, "at_s": 1, "over_s": 3, "probes": 2})
    workload = Workload(BotApiWorld(TOKEN), spec, RngStreams(1))
    assert workload.flooder is not None
    chats = {workload.flooder.id} | {p.chat_id for p in workload.probes} | {u.chat_id for u in workload.users}
    assert len(chats) == 5
    assert [p.at for p in workload.probes] == [2.0, 3.0]  # evenly inside the flood
    assert not workload.all_done.is_set()  # the probes wait for their replies too
