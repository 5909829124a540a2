"""``log_storm``: error records at ``rate_per_s`` through the bot's log sink (a dependency failing)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import trio

from sim.fakes.log_sink import SimLogSink
from sim.simulator.faults.kind import SystemFault
from sim.simulator.faults.system import SystemUnderFault
from sim.simulator.toml_table import ScenarioError, Table


@dataclass(frozen=True, kw_only=True)
class LogStormFault(SystemFault):
    kind = "log_storm"
    targets = ("log",)

    rate_per_s: float = 0.0

    @classmethod
    def parse_own(cls, t: Table) -> dict[str, Any]:
        return {"rate_per_s": t.number("rate_per_s", 0.0)}

    def check(self, where: str) -> None:
        if self.rate_per_s <= 0 or not math.isfinite(self.duration_s):
            raise ScenarioError(f"{where}: a log_storm needs rate_per_s > 0 and a finite duration_s")

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
