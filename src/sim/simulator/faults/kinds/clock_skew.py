"""``clock_skew``: a process's wall clock runs ``offset_s`` off (ahead if positive) for the window.

What the process stamps with ``clock.now()`` shifts: upload and claim times, hourly
limits, retention cutoffs. Job leases do not: the database stamps and judges them on
its own clock (the simulated world's true time), as do the queue's idle times.
Durations measured on the monotonic clock are unaffected, as on a host whose NTP
stepped its clock.
"""

from __future__ import annotations

from typing import Annotated

import trio
from pydantic import Field, Strict

from sim.simulator.faults.kind import ProcessFault
from sim.simulator.faults.system import SystemUnderFault


class ClockSkewFault(ProcessFault):
    kind = "clock_skew"
    offset_s: Annotated[float, Strict(), Field(ge=-86_400, le=86_400, allow_inf_nan=False)]

    def moments(self) -> tuple[tuple[float, bool], ...]:
        return ((self.at_s, True), (self.end_s, False))

    def begin(self, system: SystemUnderFault, nursery: trio.Nursery) -> None:
        for name in self.processes(system):
            system.clocks[name].skew_s += self.offset_s

    def end(self, system: SystemUnderFault) -> None:
        for name in self.processes(system):
            system.clocks[name].skew_s -= self.offset_s
