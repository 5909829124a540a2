"""A worker that takes a job over skips the parts of its answer that the worker before it
sent but could not record in Postgres: the marker each such part left in Redis says so
(scenarios/regressions/swarm-17-part-sent-while-db-away.toml). The scenario replays that
caught a worker ignoring the marker stopped catching it once their schedules moved; this is
the mechanism's own test."""

from __future__ import annotations

from datetime import UTC, datetime

import trio

from bot.context import BotContext
from bot.domain import NewUpload, TgUser
from bot.jobs import JobRunner, analyse_and_serialise
from bot.settings import Settings
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.compose import SIM_TOKEN, build_stack
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.scenario import parse_scenario

DATA = b"city,amount\nMoscow,10\nKazan,20\nOmsk,30\n"


async def test_a_job_taken_over_does_not_send_again_a_part_its_marker_says_went_out(
    autojump_clock: object,
) -> None:
    world = BotApiWorld(SIM_TOKEN)
    scenario = parse_scenario({"scenario": {"name": "takeover", "seed": 1}})
    stack = build_stack(world, scenario, RngStreams(1), autojump_clock)  # type: ignore[arg-type]
    settings = Settings(job_lease_s=10.0)
    ctx = BotContext.build(stack.services, settings)
    world.user_sends_text(TgUser(id=7, language_code="en"), 7, "/start")  # the chat exists
    new = NewUpload(
        update_id=1, user_id=7, chat_id=7, language="en", file_id="f", file_unique_id="u",
        file_name="data.csv", file_size=len(DATA),
    )  # fmt: skip
    upload_id, job_id = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    assert await stack.repo.record_upload(new, upload_id, job_id, datetime.now(UTC)) is not None
    # The first worker analysed the file, sent the first part, could not record it, and
    # left the marker; then it was cut off for good and its lease ran out.
    analysed = analyse_and_serialise(DATA, "data.csv")
    assert await stack.repo.start_attempt(job_id, settings.job_lease_s) is not None
    await stack.repo.save_result(job_id, analysed.payload)
    await stack.state.mark(f"sent:{job_id}:1", 3600)
    await trio.sleep(60)
    seq = world.last_seq
    await JobRunner(ctx, "second-worker").run_job(job_id)
    texts = [r.text for r in world.records_after(seq, 7) if r.kind == "message"]
    first, *rest = analysed.messages_in("en")
    assert first not in texts
    assert texts == rest
    done = await stack.repo.get_job(job_id)
    assert done is not None and done.parts_sent == len(rest) + 1
