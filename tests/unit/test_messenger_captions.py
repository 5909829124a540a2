"""The bot never sends a caption Telegram would refuse as too long."""

from __future__ import annotations

from bot.domain import TgUser
from bot.guard import Guard
from bot.log import Logger
from bot.messenger import CAPTION_LIMIT, Messenger, fit_caption
from bot.metrics import MetricsRecorder
from bot.ratelimit import SendRateLimiter
from bot.settings import Settings
from sim.fakes.telegram.api import SimTelegramApi
from sim.fakes.telegram.entities import utf16_len
from sim.fakes.telegram.world import BotApiWorld

TOKEN = "778:CAPTION-TEST-TOKEN-xxxxxxxxxxxxxxxxxxxxxxx"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (64).to_bytes(4, "big") + (48).to_bytes(4, "big") + b"\x08\x02"


class NullSink:
    def emit(self, level: int, event: str, fields: dict[str, object]) -> None:
        pass


def test_a_caption_within_the_limit_is_kept_whole() -> None:
    assert fit_caption(None) is None
    assert fit_caption("c" * CAPTION_LIMIT) == "c" * CAPTION_LIMIT


async def test_long_captions_are_cut_to_what_telegram_accepts(autojump_clock: object) -> None:
    world = BotApiWorld(TOKEN)
    world.user_sends_text(TgUser(id=5, first_name="u"), 5, "/start")
    log = Logger(NullSink())
    settings, metrics = Settings(), MetricsRecorder()
    messenger = Messenger(
        SimTelegramApi(world, TOKEN), Guard(settings, metrics, log), SendRateLimiter(30, 1), log
    )
    await messenger.send_document(5, "r.csv", b"a\n1", caption="c" * 5000)
    await messenger.send_photo(5, "chart.png", PNG, caption="😀" * 600)  # 1200 UTF-16 code units
    captions = [record.caption or "" for record in world.sent_to(5)]
    assert len(captions) == 2
    assert all(caption.endswith("…") and utf16_len(caption) <= CAPTION_LIMIT for caption in captions)
