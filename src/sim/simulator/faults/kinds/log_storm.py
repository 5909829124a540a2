"""``log_storm``: error records at ``rate_per_s`` through the bot's log sink (a dependency failing)."""

from __future__ import annotations

import logging
import math
from typing import Self

import trio
from pydantic import model_validator

from sim.fakes.log_sink import SimLogSink
from sim.simulator.faults.kind import SystemFault
from sim.simulator.faults.system import SystemUnderFault
from sim.simulator.schema import PositiveSeconds, rule


class LogStormFault(SystemFault):
    kind = "log_storm"
    targets = ("log",)

    rate_per_s: PositiveSeconds  # records per second

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if not math.isfinite(self.duration_s):
            raise rule("a log_storm needs a finite duration_s")
        return self

    def begin(self, system: SystemUnderFault, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._storm, system.stack.log)

    async def _storm(self, log: SimLogSink) -> None:
        """The errors keep arriving while synchronous writes block the loop, and they queue
        ahead of whatever became ready after them: each turn writes every record that was
        due when the turn began, then yields. A loop that cannot keep up (rate x write cost
        above one) falls further behind with every turn, as a real one does."""
        interval = 1.0 / self.rate_per_s
        number = 0
        while (at := self.at_s + number * interval) < self.end_s:
            await trio.sleep_until(at)
            due = trio.current_time()
            while (at := self.at_s + number * interval) <= due and at < self.end_s:
                log.emit(logging.ERROR, "dependency.error", {"source": "storm", "n": number})
                number += 1
