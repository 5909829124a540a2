"""``slow_log``: each log write costs ``cost_s`` during the window (on the loop if the handler is sync)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import trio

from sim.simulator.faults.kind import SystemFault
from sim.simulator.faults.system import SystemUnderFault
from sim.simulator.toml_table import ScenarioError, Table


@dataclass(frozen=True, kw_only=True)
class SlowLogFault(SystemFault):
    kind = "slow_log"
    targets = ("log",)

    cost_s: float = 0.0

    @classmethod
    def parse_own(cls, t: Table) -> dict[str, Any]:
        return {"cost_s": t.number("cost_s", 0.0)}

    def check(self, where: str) -> None:
        if self.cost_s <= 0:
            raise ScenarioError(f"{where}: a slow_log fault needs cost_s > 0")

    def moments(self) -> tuple[tuple[float, bool], ...]:
        return ((self.at_s, True), (self.end_s, False)) if math.isfinite(self.end_s) else ((self.at_s, True),)

    def begin(self, system: SystemUnderFault, nursery: trio.Nursery) -> None:
        system.stack.log.set_write_cost_override(self.cost_s)

    def end(self, system: SystemUnderFault) -> None:
        system.stack.log.set_write_cost_override(None)
