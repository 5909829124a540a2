"""An update whose claim is already taken is dropped, and says so at debug level."""

from __future__ import annotations

import logging
from typing import Any

from adapters.system_clock import SystemClock
from bot.context import BotContext
from bot.handlers import Router
from bot.metrics import MetricsRecorder
from bot.ports import Services
from bot.settings import Settings
from sim.fakes.repository import MemoryRepository


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
