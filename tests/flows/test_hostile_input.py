"""Input no client of ours sends: forged buttons and file names with control characters."""

from __future__ import annotations

import trio
from tests.flows.harness import chat, simulated_bot
from tests.flows.test_button_paths import profile_of

from sim.simulator.faults.kinds.botapi_delay import BotApiDelayFault

DATA = b"city,amount\nMoscow,10\nKazan,20\nOmsk,30\n"


async def test_a_forged_column_button_is_refused_politely(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9201)
        profile = await profile_of(c)
        upload_id = profile.button_data[0].split(":")[1]
        seq = world.last_seq
        world.user_presses_button(c.user, c.chat_id, profile.message_id, f"hc:{upload_id}:abc", forged=True)
        answer = await c.next(seq, lambda r: r.kind == "message")
        assert "does not work any more" in (answer.text or "")


async def test_a_nul_in_a_file_name_is_dropped_not_taken_for_an_outage(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9202)
        seq = c.upload("sa\x00les\x07.csv", DATA)
        profile = await c.with_buttons(seq, "h:")
        texts = [r.text or "" for r in world.records_after(seq, c.chat_id)]
        assert texts[0].startswith("Got <b>sales.csv</b>"), texts[0]
        assert not any("\x00" in text for text in texts)
        assert profile is not None


async def test_uploads_past_the_hourly_limit_are_refused_with_a_reason(autojump_clock):
    async with simulated_bot(max_uploads_per_hour=2) as world:
        c = chat(world, 9203)
        for n in range(2):
            await c.with_buttons(c.upload(f"part{n}.csv", DATA), "h:")
        seq = c.upload("third.csv", DATA)
        refusal = await c.next(seq, lambda r: r.kind == "message")
        assert "2 files in the last hour" in (refusal.text or "")
        await trio.sleep(3601)  # an hour on, the same file is taken
        await c.with_buttons(c.upload("third.csv", DATA), "h:")


async def test_a_file_that_cannot_be_read_is_not_kept(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9204)
        seq = c.upload("noise.csv", bytes(range(256)) * 40)
        refusal = await c.next(seq, lambda r: r.kind == "message" and not (r.text or "").startswith("Got"))
        assert "does not look like a text file" in (refusal.text or ""), refusal.text
        stack = world.stack  # type: ignore[attr-defined]
        with trio.fail_after(10):
            while await stack.blobs.list_keys("9204/"):
                await trio.sleep(0.1)
        (upload,) = await stack.repo.list_uploads(9204, 10)
        assert upload.blob_key is None


async def test_while_the_queue_is_down_a_new_upload_is_run_within_a_minute(autojump_clock):
    queue_down = {"kind": "error", "target": "queue", "at_s": 0, "duration_s": 3600}
    async with simulated_bot(faults=[queue_down]) as world:
        c = chat(world, 9205)
        seq = c.upload("sales.csv", DATA)
        started = trio.current_time()
        await c.with_buttons(seq, "h:", timeout=600)
        assert trio.current_time() - started <= 65  # two passes of 30 s, then the job (90 s before)


async def test_files_past_the_in_flight_limit_wait_for_their_turn(autojump_clock):
    async with simulated_bot(max_uploads_in_flight=1) as world:
        c = chat(world, 9206)
        world.inject("getFile", BotApiDelayFault(seconds=20.0))  # the first job is still fetching
        first = c.upload("one.csv", DATA)
        await c.next(first, lambda r: (r.text or "").startswith("Got"))
        seq = c.upload("two.csv", DATA)
        refusal = await c.next(seq, lambda r: r.kind == "message")
        assert "still working on 1 of your files" in (refusal.text or ""), refusal.text
        await c.with_buttons(first, "h:", timeout=120)
        # A person reads the profile first: by then its job is recorded as done (the
        # record follows the last part by one database write).
        await trio.sleep(1)
        await c.with_buttons(c.upload("two.csv", DATA), "h:")
