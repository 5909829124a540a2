"""A rejected upload's file (not a readable table) is kept only as long as configured:
by default it goes as soon as the user has the answer; with ``rejected_retention_h``
the retention sweep deletes it once due. Either way the refusal is logged with its reason."""

from __future__ import annotations

import trio
from tests.flows.harness import chat, simulated_bot

from bot.guard import Guard
from bot.i18n import t
from bot.log import Logger
from bot.retention import Keeper, sweep_once
from bot.settings import Settings
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.compose import SimStack


async def refuse_empty_file(world: BotApiWorld, user_id: int) -> SimStack:
    stack: SimStack = world.stack  # type: ignore[attr-defined]
    c = chat(world, user_id)
    seq = c.upload("empty.csv", b"\n")
    await c.next(seq, lambda r: r.kind == "message" and "empty" in (r.text or "").lower())
    with trio.fail_after(30):  # the answer is out; the job records its end just after
        while not [r for r in stack.log.last if r.event == "job.rejected"]:
            await trio.sleep(0.1)
    await trio.sleep(1)
    (rejected,) = [r for r in stack.log.last if r.event == "job.rejected"]
    assert rejected.fields["reason"] == "empty" and rejected.fields["user_id"] == user_id
    return stack


async def test_by_default_the_file_goes_at_once(autojump_clock: object) -> None:
    async with simulated_bot() as world:
        stack = await refuse_empty_file(world, 9101)
        assert stack.blobs.keys() == []
        (upload,) = await stack.repo.list_uploads(9101, 10)
        assert upload.blob_key is None


async def test_kept_for_its_retention_then_swept(autojump_clock: object) -> None:
    async with simulated_bot(rejected_retention_h=2.0) as world:
        stack = await refuse_empty_file(world, 9102)
        (key,) = stack.blobs.keys()
        (upload,) = await stack.repo.list_uploads(9102, 10)
        assert upload.blob_key == key
        services = stack.services  # the sweep works on the bot's own services
        settings = Settings()
        guard = Guard(settings, services.metrics)
        keeper = Keeper(services.repo, services.blobs, guard, services.clock, Logger(services.log), settings)

        await trio.sleep(3600)
        assert (await sweep_once(keeper)).rejected_blobs_deleted == 0
        assert stack.blobs.keys() == [key]
        await trio.sleep(3601)
        assert (await sweep_once(keeper)).rejected_blobs_deleted == 1
        assert stack.blobs.keys() == []
        (upload,) = await stack.repo.list_uploads(9102, 10)
        assert upload.blob_key is None  # the row stays for the upload's own retention


async def test_refusals_before_recording_are_logged_with_their_reason(autojump_clock: object) -> None:
    async with simulated_bot(max_file_bytes=1000) as world:
        stack: SimStack = world.stack  # type: ignore[attr-defined]
        c = chat(world, 9103)
        seq = c.upload("report.pdf", b"%PDF-1.4\n", mime="application/pdf")
        await c.next(seq)
        seq = c.upload("big.csv", b"a,b\n" + b"1,2\n" * 400)
        await c.next(seq)
        refused = [
            (r.fields["reason"], r.fields["user_id"]) for r in stack.log.last if r.event == "upload.refused"
        ]
        assert refused == [("not_csv", 9103), ("too_big", 9103)]


async def test_a_refusal_slower_than_the_handlers_budget_is_still_the_answer(autojump_clock: object) -> None:
    # Every call to Telegram takes 9 s, past the handler's 8 s: the refusal of a file that
    # is not a CSV must still reach the user, and the file must not be "held" as if the
    # database had not answered (scenarios/regressions/model-810-upload-never-concluded.toml).
    slow = {"dist": "constant", "value_s": 9.0}
    faults = [{"kind": "latency", "target": "telegram", "at_s": 0, "duration_s": 120, "extra": slow}]
    async with simulated_bot(faults=faults) as world:
        c = chat(world, 9104)
        seq = c.upload("report.pdf", b"%PDF-1.4\n", mime="application/pdf")
        await trio.sleep(300)
        texts = [r.text or "" for r in world.records_after(seq, c.chat_id) if r.kind == "message"]
    assert texts == [t("en", "not_csv", name="report.pdf")], texts


async def test_a_refusal_is_still_told_after_telegram_refused_replies_for_minutes(
    autojump_clock: object,
) -> None:
    # Telegram answers every sendMessage with 502 for two and a half minutes: the refusal of
    # a PDF sent meanwhile is handled again until it gets out, not given up after a minute
    # (scenarios/regressions/swarm-279-shared-429.toml lost such an upload that way).
    down = {
        "kind": "botapi_error",
        "methods": ["sendMessage"],
        "error_code": 502,
        "description": "Bad Gateway",
    }
    async with simulated_bot(faults=[{**down, "at_s": 0, "duration_s": 150}]) as world:
        c = chat(world, 9105)
        seq = c.upload("report.pdf", b"%PDF-1.4\n", mime="application/pdf")
        await trio.sleep(600)
        texts = [r.text or "" for r in world.records_after(seq, c.chat_id) if r.kind == "message"]
    assert texts == [t("en", "not_csv", name="report.pdf")], texts
