"""While Redis is away the bot still answers: its sends fall back to the local limit, which
paces them on the loop without ever blocking it (the harness fails a flow whose bot tasks
make a blocking call)."""

from __future__ import annotations

from tests.flows.harness import chat, simulated_bot

from bot.i18n import t


async def test_with_redis_away_replies_go_out_on_the_local_limit(autojump_clock: object) -> None:
    redis_down = {"kind": "error", "target": "state", "at_s": 0, "duration_s": 600}
    async with simulated_bot(faults=[redis_down]) as world:
        users = [chat(world, 9400 + n) for n in range(12)]  # more than the local burst
        seqs = [c.say("/start") for c in users]
        for c, seq in zip(users, seqs, strict=True):
            reply = await c.next(seq, lambda r: r.kind == "message", timeout=120)
            assert reply.text == t("en", "start")
