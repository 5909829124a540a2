"""A file sent while Postgres is unreachable is held, not refused: the user is told once
that it waits, and gets its profile when the database is back (no "send it again")."""

from __future__ import annotations

import trio
from tests.flows.harness import chat, simulated_bot

from bot.i18n import t

DATA = b"city,amount\nMoscow,10\nKazan,20\nOmsk,30\n"


def _outage(seconds: float, kind: str = "error", phase: str = "before") -> list[dict[str, object]]:
    return [{"kind": kind, "target": "repo", "at_s": 0, "duration_s": seconds, "phase": phase}]


def _texts(world, seq: int, chat_id: int) -> list[str]:
    return [r.text or "" for r in world.records_after(seq, chat_id) if r.kind == "message"]


async def test_a_file_sent_during_an_outage_is_held_and_analysed_when_the_database_is_back(
    autojump_clock,
):
    async with simulated_bot(faults=_outage(90)) as world:
        c = chat(world, 9301)
        seq = c.upload("sales.csv", DATA)
        held = await c.next(seq, lambda r: r.kind == "message")
        assert held.text == t("en", "upload_held", name="sales.csv")
        await c.with_buttons(seq, "h:", timeout=200)
        assert trio.current_time() >= 90  # analysed after the outage, not before
        await trio.sleep(60)  # anything late would have arrived by now
        texts = _texts(world, seq, c.chat_id)
    assert texts.count(t("en", "upload_held", name="sales.csv")) == 1, texts
    assert not any(text.startswith("Got <b>sales.csv</b>. Analysing") for text in texts), texts
    assert not any("send the file again" in text for text in texts), texts


async def test_the_hold_notice_is_in_the_users_language(autojump_clock):
    async with simulated_bot(faults=_outage(30)) as world:
        c = chat(world, 9302, language="ru")
        seq = c.upload("продажи.csv", DATA)
        held = await c.next(seq, lambda r: r.kind == "message")
        assert held.text == t("ru", "upload_held", name="продажи.csv")
        assert "Присылать его ещё раз не нужно" in (held.text or "")
        await c.with_buttons(seq, "h:", timeout=120)


async def test_a_try_that_committed_but_lost_its_answer_ends_in_one_profile(autojump_clock):
    # Every call takes effect and then the connection drops: the first try records the
    # upload, the held tries find it under the same ids.
    async with simulated_bot(faults=_outage(40, kind="disconnect", phase="after")) as world:
        c = chat(world, 9303)
        seq = c.upload("sales.csv", DATA)
        await c.with_buttons(seq, "h:", timeout=200)
        await trio.sleep(120)  # the reconciler's passes: nothing runs the job twice
        records = world.records_after(seq, c.chat_id)
        stack = world.stack  # type: ignore[attr-defined]
        uploads = await stack.repo.list_uploads(9303, 10)
    profiles = [r for r in records if any(d.startswith("h:") for d in r.button_data)]
    assert len(profiles) == 1
    assert len(uploads) == 1


async def test_held_files_do_not_hold_up_other_chats_or_the_same_chats_commands(autojump_clock):
    async with simulated_bot(faults=_outage(120)) as world:
        uploaders = [chat(world, 9310 + n) for n in range(5)]
        seqs = [u.upload(f"f{n}.csv", DATA) for n, u in enumerate(uploaders)]
        for u, seq in zip(uploaders, seqs, strict=True):
            await u.next(seq, lambda r: r.kind == "message")
        other = chat(world, 9320)
        started = trio.current_time()
        await other.next(other.say("/help"), lambda r: r.kind == "message")
        assert trio.current_time() - started < 10
        started = trio.current_time()
        await uploaders[0].next(uploaders[0].say("/help"), lambda r: r.kind == "message")
        assert trio.current_time() - started < 10
        for u, seq in zip(uploaders, seqs, strict=True):
            await u.with_buttons(seq, "h:", timeout=200)


async def test_when_the_hold_ends_the_user_is_told_to_send_the_file_again_if_no_result_comes(
    autojump_clock,
):
    # Every try failed without an answer, so nobody can tell whether one was saved: the
    # message says so (the "could not confirm" text), rather than "nothing was saved".
    async with simulated_bot(faults=_outage(600), upload_hold_s=60.0) as world:
        c = chat(world, 9330)
        seq = c.upload("sales.csv", DATA)
        held = await c.next(seq, lambda r: r.kind == "message")
        assert held.text == t("en", "upload_held", name="sales.csv")
        last = await c.next(held.seq, lambda r: r.kind == "message", timeout=120)
        assert last.text == t("en", "upload_unconfirmed", name="sales.csv")
        assert 60 <= trio.current_time() < 80
        await trio.sleep(60)
        assert _texts(world, seq, c.chat_id) == [held.text, last.text]


async def test_with_holding_off_the_user_is_answered_at_once(autojump_clock):
    async with simulated_bot(faults=_outage(600), upload_hold_s=0.0) as world:
        c = chat(world, 9331)
        seq = c.upload("sales.csv", DATA)
        refusal = await c.next(seq, lambda r: r.kind == "message", timeout=30)
        assert refusal.text == t("en", "upload_unconfirmed", name="sales.csv")
        assert trio.current_time() < 15


async def test_a_receipt_leaves_the_hold_notices_marker(autojump_clock):
    # The receipt says what a hold's notice would: a copy of the update handed to a later
    # process while the database is slow must find the "told" marker and stay silent
    # (scenarios/regressions/swarm-667-receipt-then-held-notice.toml).
    async with simulated_bot() as world:
        c = chat(world, 9304)
        await c.next(c.say("/start"))  # past the first poll, whose updates may be redelivered ones
        seq = world.last_seq
        sent = world.user_sends_document(c.user, c.chat_id, "sales.csv", DATA)
        receipt = await c.next(seq, lambda r: r.kind == "message")
        assert receipt.text is not None and receipt.text.startswith("Got <b>sales.csv</b>")
        await trio.sleep(5)  # the marker follows the receipt and the enqueue
        state = world.stack.state  # type: ignore[attr-defined]
        assert await state.is_marked(f"told:{sent.update_id}")


async def test_a_command_under_a_slow_database_is_answered_within_the_handlers_budget(autojump_clock):
    # Every statement takes 9 s, each within its own 10 s deadline: a command that needs
    # three of them would keep the user waiting half a minute. The handler's 8 s budget
    # answers it with an apology instead (a regression replay stopped catching a handler
    # with no budget once its schedule moved: this is that mechanism's own test).
    slow = {"kind": "latency", "target": "repo", "at_s": 0, "duration_s": 120}
    async with simulated_bot(faults=[{**slow, "extra": {"dist": "constant", "value_s": 9.0}}]) as world:
        c = chat(world, 9310)
        seq = c.say("/lang")
        sent = trio.current_time()
        first = await c.next(seq, lambda r: r.kind == "message", timeout=60)
        assert trio.current_time() - sent <= 9.0
        assert first.text == t("en", "timeout")
