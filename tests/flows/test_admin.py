"""The admin commands through the whole bot core (simulated services, virtual clock):
/stats, /job, /retry, /ban, /unban and /broadcast, for ADMIN_IDS only, audited,
answered in the admin's language."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import trio
from tests.flows.harness import Chat, chat, simulated_bot

from bot.admin.records import BroadcastStatus
from bot.app import BotHandle, Roles, run_bot
from bot.domain import JobStatus, JobStep
from bot.settings import Settings
from sim.fakes.telegram.records import SentRecord
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.compose import SIM_TOKEN, SimStack, build_stack
from sim.simulator.faults.kinds.botapi_error import BotApiErrorFault
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.scenario import parse_scenario

ADMIN = 9100
SALES = (
    "region;amount;units;date;comment\n"
    "North;1 200,50;3;01.01.2024;ok\n"
    "South;300,00;1;15.01.2024;ok\n"
    "North;80,00;2;03.02.2024;ok\n"
    "East;450,25;5;20.02.2024;late\n"
).encode("cp1251")
HELLO = "Maintenance tonight at 23:00 <UTC>"


def job_ids(world: BotApiWorld) -> list[str]:
    """Every job's id, oldest first (read around the port: the bot gives users no job ids)."""
    return [str(key) for key in world.stack.repo._jobs]  # type: ignore[attr-defined]


async def started(world: BotApiWorld, first: int, count: int) -> list[Chat]:
    """``count`` users who said /start (so they are the bot's users, with a chat)."""
    chats = [chat(world, first + n) for n in range(count)]
    for c in chats:
        seq = c.say("/start")
        await c.next(seq)
    return chats


def broadcast_messages(world: BotApiWorld, chat_id: int, text: str = HELLO) -> list[SentRecord]:
    return [r for r in world.sent_to(chat_id) if r.kind == "message" and r.text == text]


async def progress(admin: Chat, after: int, status: str, timeout: float = 600) -> SentRecord:
    """The admin's progress message once it says ``status``."""
    return await admin.next(
        after, lambda r: r.kind == "edit" and f": {status}." in (r.text or ""), timeout=timeout
    )


# ---------------------------------------------------------------- refusals


COMMANDS = (
    "/stats",
    "/job abc",
    "/retry abc",
    "/ban 8002",
    "/unban 8002",
    "/broadcast hi",
    "/broadcast cancel",
)


@pytest.mark.parametrize("text", COMMANDS)
async def test_every_admin_command_refuses_a_non_admin_and_is_audited(autojump_clock, text):
    async with simulated_bot(admin_ids=frozenset({ADMIN})) as world:
        repo = world.stack.repo
        intruder = chat(world, 8001, "ru")
        await started(world, 8002, 1)
        seq = intruder.say(text)
        reply = await intruder.next(seq)
        assert "только для администраторов" in (reply.text or "")
        command = text.split()[0]
        assert [(a.admin_id, a.action, a.detail) for a in await repo.admin_actions(10)] == [
            (8001, "denied", command)
        ]
        await trio.sleep(30)
        assert await repo.banned_user_ids() == frozenset()
        assert await repo.current_broadcast() is None
        assert broadcast_messages(world, 8002, "hi") == []


# ---------------------------------------------------------------- /stats


async def test_stats_reads_the_database_and_this_process_metrics(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({ADMIN, ADMIN + 1})) as world:
        user = chat(world, 8010)
        seq = user.upload("sales.csv", SALES)
        await user.with_buttons(seq, "h:")
        seq = user.upload("photo.jpg", b"\xff\xd8", mime="image/jpeg")  # refused at the door
        await user.next(seq)
        admin = chat(world, ADMIN, "en")
        seq = admin.say("/stats")
        text = (await admin.next(seq)).text or ""
        assert "users with uploads: today 1, 7 days 1; all users: 1" in text
        assert "uploads: last hour 1, last day 1" in text
        assert "failed jobs, last hour: none" in text
        assert "uploads accepted: 1, analysed: 1, rejected: 1, failed: 0 (rejected: not_csv 1)" in text
        assert "queue: 0 open jobs" in text and "oldest open job none" in text
        reply_p95 = text.split("answer time p95: reply ")[1].split(" s,")[0]
        assert 0 < float(reply_p95) < 8
        russian = chat(world, ADMIN + 1, "ru")
        seq = russian.say("/stats")
        assert "пользователей с загрузками: сегодня 1" in ((await russian.next(seq)).text or "")
        actions = [(a.admin_id, a.action) for a in await world.stack.repo.admin_actions(10)]
        assert actions == [(ADMIN + 1, "stats"), (ADMIN, "stats")]


async def test_stats_counts_failed_jobs_by_reason(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({ADMIN})) as world:
        user = chat(world, 8011)
        seq = user.upload("noise.csv", bytes(range(256)) * 8)  # the analysis refuses it
        receipt = await user.next(seq)
        await user.next(receipt.seq)
        await trio.sleep(5)
        admin = chat(world, ADMIN)
        seq = admin.say("/stats")
        text = (await admin.next(seq)).text or ""
        [detail] = [await world.stack.repo.job_detail(j) for j in job_ids(world)]
        assert detail is not None and detail.job.status == JobStatus.FAILED and detail.job.error
        assert f"failed jobs, last hour: {detail.job.error} 1" in text


# ---------------------------------------------------------------- /job and /retry


async def test_job_shows_its_steps_attempts_and_error(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({ADMIN})) as world:
        user = chat(world, 8020)
        seq = user.upload("sales.csv", SALES)
        await user.with_buttons(seq, "h:")
        [job_id] = job_ids(world)
        admin = chat(world, ADMIN)
        seq = admin.say(f"/job {job_id}")
        text = (await admin.next(seq)).text or ""
        assert job_id in text and "sales.csv" in text and "user 8020" in text
        assert "status: done, attempts: 1" in text
        assert "✓ stored → ✓ analysed → ✓ delivered; answer parts sent: 2" in text
        assert "error: none" in text
        seq = admin.say("/job 00000000-0000-0000-0000-000000000000")
        assert "No job" in ((await admin.next(seq)).text or "")
        seq = admin.say("/job")
        assert "Usage: /job" in ((await admin.next(seq)).text or "")
        actions = [(a.action, a.detail) for a in await world.stack.repo.admin_actions(10)]
        assert actions[-1] == ("job", job_id)


async def test_retry_resumes_a_failed_job_and_resends_no_part_already_sent(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({ADMIN}), job_max_attempts=1) as world:
        repo = world.stack.repo
        user = chat(world, 8030)
        seq = user.upload("sales.csv", SALES)
        receipt = await user.next(seq)
        first = await user.next(receipt.seq, lambda r: r.kind == "message")
        # The answer's second part is refused once: with one attempt allowed, the job fails.
        world.inject("sendMessage", BotApiErrorFault(error_code=400, description="Bad Request: injected"))
        failure = await user.next(first.seq, lambda r: "could not finish" in (r.text or ""))
        [job_id] = job_ids(world)
        with trio.move_on_after(30):  # the failure is recorded right after it is told
            while (job := await repo.get_job(job_id)) is not None and job.status != JobStatus.FAILED:
                await trio.sleep(0.1)
        assert job is not None and (job.status, job.step, job.parts_sent) == (
            JobStatus.FAILED,
            JobStep.ANALYSED,
            1,
        )

        admin = chat(world, ADMIN)
        seq = admin.say(f"/job {job_id}")
        text = (await admin.next(seq)).text or ""
        assert "status: failed" in text and "error: TelegramError" in text and "parts sent: 1" in text
        seq = admin.say(f"/retry {job_id}")
        assert "queued again" in ((await admin.next(seq)).text or "")
        last = await user.next(failure.seq, lambda r: bool(r.reply_markup))
        await trio.sleep(60)
        job = await repo.get_job(job_id)
        assert job is not None and (job.status, job.attempts) == (JobStatus.DONE, 1)
        texts = [r.text for r in world.sent_to(user.chat_id) if r.kind == "message"]
        assert texts.count(first.text) == 1, "the part sent before the failure is not sent again"
        assert texts.count(last.text) == 1
        seq = admin.say(f"/retry {job_id}")  # answered now: a second retry changes nothing
        assert "already has its answer" in ((await admin.next(seq)).text or "")
        await trio.sleep(60)
        assert [r.text for r in world.sent_to(user.chat_id) if r.kind == "message"] == texts
        actions = [(a.action, a.detail) for a in await repo.admin_actions(10)]
        assert actions[:2] == [("retry", job_id), ("retry", job_id)]


async def test_retry_leaves_a_job_a_live_worker_holds(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({ADMIN})) as world:
        repo = world.stack.repo
        user = chat(world, 8031)
        # The file's download hangs: the job stays running, its worker alive.
        from sim.simulator.faults.kinds.botapi_delay import BotApiDelayFault

        world.inject("getFile", BotApiDelayFault(seconds=15.0))
        seq = user.upload("sales.csv", SALES)
        await user.next(seq)
        await trio.sleep(2)
        [job_id] = job_ids(world)
        admin = chat(world, ADMIN)
        seq = admin.say(f"/retry {job_id}")
        assert "running on a live worker" in ((await admin.next(seq)).text or "")
        await user.with_buttons(seq, "h:")
        await trio.sleep(60)
        profiles = [r for r in world.sent_to(user.chat_id) if r.reply_markup]
        assert len(profiles) == 1
        assert (await repo.get_job(job_id)).attempts == 1  # type: ignore[union-attr]


# ---------------------------------------------------------------- /ban and /unban


async def test_a_banned_users_updates_are_confirmed_and_ignored_until_unbanned(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({ADMIN})) as world:
        repo = world.stack.repo
        [user] = await started(world, 8040, 1)
        admin = chat(world, ADMIN, "ru")
        seq = admin.say("/ban 8040")
        assert "8040 заблокирован" in ((await admin.next(seq)).text or "")
        seq = world.last_seq
        said = world.user_sends_text(user.user, user.chat_id, "/help")
        for _ in range(15):  # a flood: not even the flood notice
            world.user_sends_text(user.user, user.chat_id, "hello?")
        sent = world.user_sends_document(user.user, user.chat_id, "sales.csv", SALES)
        await trio.sleep(60)
        assert world.records_after(seq, user.chat_id) == []  # no answer, no receipt
        assert await repo.list_uploads(user.chat_id, 10) == []
        assert world.pending_updates == 0  # confirmed to Telegram
        for action in (said, sent):
            assert await repo.claim_update(action.update_id, world.stack.services.clock.now()) is False

        seq = admin.say(f"/ban {ADMIN}")
        assert "нельзя" in ((await admin.next(seq)).text or "")
        seq = admin.say("/ban someone")
        assert "Использование: /ban" in ((await admin.next(seq)).text or "")
        seq = admin.say("/unban 8040")
        assert "8040 разблокирован" in ((await admin.next(seq)).text or "")
        seq = user.say("/help")
        assert "How to use" in ((await user.next(seq)).text or "")
        actions = [(a.action, a.detail) for a in await repo.admin_actions(10)]
        assert actions == [
            ("unban", "8040"),
            ("ban", "someone"),
            ("ban", str(ADMIN)),
            ("ban", "8040"),
        ]


async def test_a_ban_written_by_another_process_applies_within_the_refresh(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({ADMIN})) as world:
        [user] = await started(world, 8041, 1)
        await world.stack.repo.ban_user(8041, ADMIN, world.stack.services.clock.now())
        await trio.sleep(31)  # bans are re-read every 30 s
        seq = user.say("/help")
        await trio.sleep(30)
        assert world.records_after(seq, user.chat_id) == []


# ---------------------------------------------------------------- /broadcast


async def test_broadcast_reaches_every_user_once_and_shows_its_progress(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({ADMIN})) as world:
        users = await started(world, 8100, 12)
        admin = chat(world, ADMIN)
        seq = admin.say(f"/broadcast {HELLO}")
        done = await progress(admin, seq, "done")
        assert done.text == "Broadcast #1: done. Sent 12 of 12; blocked the bot: 0; failed: 0."
        for c in users:
            [message] = broadcast_messages(world, c.chat_id)
            assert message.parse_mode is None  # the admin's text as typed
        assert broadcast_messages(world, ADMIN) == []  # the admin is no user of the bot
        seq = admin.say("/broadcast status")
        assert "done. Sent 12 of 12" in ((await admin.next(seq)).text or "")
        actions = [(a.action, a.detail) for a in await world.stack.repo.admin_actions(10)]
        assert actions == [("broadcast_status", "status"), ("broadcast", HELLO)]


async def test_a_user_who_blocked_the_bot_is_marked_and_skipped_next_time(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({ADMIN})) as world:
        users = await started(world, 8200, 5)
        world.set_blocked(users[2].chat_id)
        admin = chat(world, ADMIN)
        seq = admin.say(f"/broadcast {HELLO}")
        first = await progress(admin, seq, "done")
        assert "Sent 4 of 5; blocked the bot: 1; failed: 0." in (first.text or "")
        calls = world.calls["sendMessage"]
        seq = admin.say("/broadcast Second")
        second = await progress(admin, seq, "done")
        assert second.text == "Broadcast #2: done. Sent 4 of 4; blocked the bot: 0; failed: 0."
        # The 4 users and the admin's progress message: no call at all to the blocked user.
        assert world.calls["sendMessage"] - calls == 5
        assert all(len(broadcast_messages(world, c.chat_id, "Second")) == 1 for c in users if c != users[2])


async def test_cancel_stops_the_broadcast(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({ADMIN}), broadcast_sends_per_s=2.0) as world:
        users = await started(world, 8300, 40)
        admin = chat(world, ADMIN)
        seq = admin.say(f"/broadcast {HELLO}")
        await world.wait_for_bot_message(users[4].chat_id, lambda r: r.text == HELLO, 60, after_seq=seq)
        seq = admin.say("/broadcast cancel")
        reply = await admin.next(seq, lambda r: r.kind == "message")
        assert "Broadcast #1: cancelled." in (reply.text or "")
        await trio.sleep(120)
        after = [r for c in users for r in broadcast_messages(world, c.chat_id) if r.seq > reply.seq]
        assert after == []
        delivered = sum(len(broadcast_messages(world, c.chat_id)) for c in users)
        assert 5 <= delivered < 40
        current = await world.stack.repo.current_broadcast()
        assert current is not None and current.status == BroadcastStatus.CANCELLED
        assert current.sent == delivered
        seq = admin.say("/broadcast cancel")
        assert "No broadcast is running" in ((await admin.next(seq)).text or "")
        seq = admin.say("/broadcast Again")  # a new one may start
        await progress(admin, seq, "done", timeout=120)


# ---------------------------------------------------------------- restarts


@dataclass
class Deployment:
    world: BotApiWorld
    stack: SimStack
    settings: Settings


def deployment(admin_ids: frozenset[int], **settings: object) -> Deployment:
    scenario = parse_scenario({"scenario": {"name": "admin", "seed": 1}})
    world = BotApiWorld(SIM_TOKEN)
    stack = build_stack(world, scenario, RngStreams(1), trio.lowlevel.current_clock())  # type: ignore[arg-type]
    world.stack = stack  # type: ignore[attr-defined]
    built = scenario.bot.build_settings().model_copy(update={"admin_ids": admin_ids, **settings})
    return Deployment(world, stack, built)


@asynccontextmanager
async def bot_process(d: Deployment, name: str) -> AsyncIterator[tuple[BotHandle, trio.CancelScope]]:
    """One bot process; stop it with the handle (graceful) or the scope (killed)."""
    with trio.CancelScope() as killed:
        async with trio.open_nursery() as nursery:
            handle = await nursery.start(
                functools.partial(run_bot, d.stack.services, d.settings, roles=Roles(name=name))
            )
            yield handle, killed
            handle.stop()


async def test_broadcast_resumes_after_a_restart_without_resending(autojump_clock):
    d = deployment(frozenset({ADMIN}), broadcast_sends_per_s=2.0)
    async with bot_process(d, "first") as (handle, _):
        users = await started(d.world, 8400, 30)
        admin = chat(d.world, ADMIN)
        seq = admin.say(f"/broadcast {HELLO}")
        await d.world.wait_for_bot_message(users[9].chat_id, lambda r: r.text == HELLO, 60, after_seq=seq)
        handle.stop()
    before = sum(len(broadcast_messages(d.world, c.chat_id)) for c in users)
    assert 10 <= before < 30, before
    state = await d.stack.repo.current_broadcast()
    assert state is not None and state.status == BroadcastStatus.RUNNING and state.sent == before

    async with bot_process(d, "second"):
        done = await progress(admin, seq, "done")
    assert "Sent 30 of 30" in (done.text or "")
    for c in users:
        assert len(broadcast_messages(d.world, c.chat_id)) == 1, c.chat_id


async def test_a_killed_process_repeats_at_most_the_message_in_flight(autojump_clock):
    d = deployment(frozenset({ADMIN}), broadcast_sends_per_s=2.0)
    async with bot_process(d, "first") as (_, killed):
        users = await started(d.world, 8500, 30)
        admin = chat(d.world, ADMIN)
        seq = admin.say(f"/broadcast {HELLO}")
        await d.world.wait_for_bot_message(users[9].chat_id, lambda r: r.text == HELLO, 60, after_seq=seq)
        await trio.sleep(0.3)  # somewhere between two messages, or inside one
        killed.cancel()
    async with bot_process(d, "second"):
        await progress(admin, seq, "done")
    counts = [len(broadcast_messages(d.world, c.chat_id)) for c in users]
    assert all(n >= 1 for n in counts)
    assert sum(counts) <= len(users) + 1, counts


# ---------------------------------------------------------------- the bulk lane


async def test_replies_go_before_broadcast_sends(autojump_clock):
    """A steady stream of questions while a broadcast runs, on a tight send limit: the
    answers keep their pace (each within a second), the broadcast takes what is left."""
    async with simulated_bot(
        admin_ids=frozenset({ADMIN}), global_sends_per_s=5.0, broadcast_sends_per_s=5.0
    ) as world:
        recipients = await started(world, 8600, 60)
        admin = chat(world, ADMIN)
        seq = admin.say(f"/broadcast {HELLO}")
        await world.wait_for_bot_message(recipients[1].chat_id, lambda r: r.text == HELLO, 60, after_seq=seq)
        latencies: list[float] = []

        async def ask(n: int) -> None:
            await trio.sleep(n * 0.2)  # 5 questions a second: the whole send limit
            c = chat(world, 8700 + n)
            asked = trio.current_time()
            mark = c.say("/help")
            await c.next(mark)
            latencies.append(trio.current_time() - asked)

        window_start = world.last_seq
        async with trio.open_nursery() as nursery:
            for n in range(40):
                nursery.start_soon(ask, n)
        during = sum(
            1 for c in recipients for r in broadcast_messages(world, c.chat_id) if r.seq > window_start
        )
        assert max(latencies) < 1.0, sorted(latencies)[-5:]
        assert during >= 1, "the broadcast still moves in the gaps"
        await progress(admin, seq, "done")
