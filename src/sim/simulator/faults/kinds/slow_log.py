"""``slow_log``: each log write costs ``cost_s`` during the window (on the loop if the handler is sync)."""

from __future__ import annotations

import math

import trio

from sim.simulator.faults.kind import SystemFault
from sim.simulator.faults.system import SystemUnderFault
from sim.simulator.schema import PositiveSeconds


class SlowLogFault(SystemFault):
    kind = "slow_log"
    targets = ("log",)

    cost_s: PositiveSeconds

    def moments(self) -> tuple[tuple[float, bool], ...]:
        return ((self.at_s, True), (self.end_s, False)) if math.isfinite(self.end_s) else ((self.at_s, True),)

    def begin(self, system: SystemUnderFault, nursery: trio.Nursery) -> None:
        system.stack.log.set_write_cost_override(self.cost_s)

    def end(self, system: SystemUnderFault) -> None:
        system.stack.log.set_write_cost_override(None)
