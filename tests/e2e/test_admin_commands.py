"""Admin commands on the real stack: Postgres, Redis's shared send bucket, the Bot API
emulator over HTTP."""

from __future__ import annotations

import pytest
from tests.e2e.stack import fast_settings, real_stack

from bot.domain import TgUser

pytestmark = pytest.mark.e2e

ADMIN = 900


async def test_broadcast_stats_and_ban_on_the_real_stack(tmp_path):
    settings = fast_settings().model_copy(update={"admin_ids": frozenset({ADMIN})})
    async with real_stack(tmp_path, settings) as stack:
        world = stack.world
        users = [TgUser(id=910 + n, language_code="en") for n in range(5)]
        for user in users:
            seq = world.last_seq
            world.user_sends_text(user, user.id, "/start")
            await world.wait_for_bot_message(user.id, after_seq=seq, timeout=20)
        world.set_blocked(users[0].id)
        admin = TgUser(id=ADMIN, language_code="en")

        seq = world.last_seq
        world.user_sends_text(admin, ADMIN, "/broadcast Hello from the real stack")
        done = await world.wait_for_bot_message(
            ADMIN, lambda r: r.kind == "edit" and ": done." in (r.text or ""), after_seq=seq, timeout=60
        )
        assert done.text == "Broadcast #1: done. Sent 4 of 5; blocked the bot: 1; failed: 0."
        for user in users[1:]:
            got = [r for r in world.sent_to(user.id) if r.text == "Hello from the real stack"]
            assert len(got) == 1

        seq = world.last_seq
        world.user_sends_text(admin, ADMIN, "/ban 911")
        assert "banned" in ((await world.wait_for_bot_message(ADMIN, after_seq=seq, timeout=20)).text or "")
        seq = world.last_seq
        world.user_sends_text(admin, ADMIN, "/stats")
        stats = await world.wait_for_bot_message(ADMIN, after_seq=seq, timeout=20)
        assert "all users: 5" in (stats.text or "")
        actions = [a.action for a in await stack.services.repo.admin_actions(10)]
        assert actions == ["stats", "ban", "broadcast"]
