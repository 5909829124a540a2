"""An update whose claim is already taken is dropped, and says so at debug level; an
upload's copy is not refused by the quota its first copy fills."""

from __future__ import annotations

import logging
from typing import Any

from adapters.system_clock import SystemClock
from bot.context import BotContext
from bot.domain import TgDocument, TgMessage, TgUser
from bot.handlers import Router
from bot.metrics import MetricsRecorder
from bot.ports import Services
from bot.settings import Settings
from bot.uploads import accept_document
from sim.fakes.repository import MemoryRepository
from sim.fakes.telegram.world import BotApiWorld
from sim.simulator.compose import SIM_TOKEN, build_stack
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.scenario import parse_scenario


class CapturingSink:
    def __init__(self) -> None:
        self.records: list[tuple[int, str, dict[str, object]]] = []

    def emit(self, level: int, event: str, fields: dict[str, object]) -> None:
        self.records.append((level, event, fields))


async def test_a_dropped_duplicate_is_logged_at_debug_with_its_id() -> None:
    repo, sink, clock = MemoryRepository(), CapturingSink(), SystemClock()
    unused: Any = None
    services = Services(unused, repo, unused, unused, unused, clock, sink, unused, MetricsRecorder())
    router = Router(BotContext.build(services, Settings()))
    assert await repo.claim_update(77, clock.now()) is True  # another process handled it
    assert await router._claim(77) is False
    assert (logging.DEBUG, "update.duplicate_dropped", {"update_id": 77}) in sink.records
    assert await router._claim(78) is True
    assert [r for r in sink.records if r[2].get("update_id") == 78] == []


async def test_an_accepted_upload_handled_again_is_not_refused_by_its_own_quota(
    autojump_clock: object,
) -> None:
    """A copy of an upload's update handed again after it was recorded (a restart before the
    poller confirmed it) is a duplicate, not a file over the quota: the quota is checked in
    the transaction that sees the claim, so the user hears no refusal of an accepted file."""
    scenario = parse_scenario({"scenario": {"name": "duplicate-upload", "seed": 1}})
    stack = build_stack(BotApiWorld(SIM_TOKEN), scenario, RngStreams(1), autojump_clock)  # type: ignore[arg-type]
    ctx = BotContext.build(stack.services, Settings(max_uploads_in_flight=1))
    user = TgUser(id=7, language_code="en")
    document = TgDocument(file_id="f", file_unique_id="u", file_name="data.csv", file_size=10)
    message = TgMessage(message_id=1, chat_id=7, date=0, from_user=user, document=document)
    assert await accept_document(ctx, 501, message, "en") is None  # recorded: the receipt went out
    assert await accept_document(ctx, 501, message, "en") is None  # the same update: no refusal
    other = TgMessage(message_id=2, chat_id=7, date=0, from_user=user, document=document)
    refusal = await accept_document(ctx, 502, other, "en")  # a second file while the first is in flight
    assert refusal is not None and "still working on 1 of your files" in refusal
