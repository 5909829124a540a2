"""``stop``: SIGTERM to a process (a deploy, a scale-down); it restarts ``duration_s`` after it exits.

The bot winds down on its own: it stops taking work, lets what runs finish within
its shutdown budget and hands the rest back. A process still running ``grace_s``
after the signal is killed (as systemd's TimeoutStopSec, then SIGKILL).
"""

from __future__ import annotations

import math
from typing import Self

import trio
from pydantic import model_validator

from sim.simulator.faults.kind import ProcessFault
from sim.simulator.faults.system import SystemUnderFault
from sim.simulator.schema import PositiveSeconds, rule


class StopFault(ProcessFault):
    kind = "stop"
    grace_s: PositiveSeconds = 90.0  # systemd's default TimeoutStopSec

    @model_validator(mode="after")
    def _has_downtime(self) -> Self:
        if not math.isfinite(self.duration_s):
            raise rule("a stop needs duration_s (the downtime before the restart)")
        return self

    def begin(self, system: SystemUnderFault, nursery: trio.Nursery) -> None:
        by_name = system.by_name
        for name in self.processes(system):
            by_name[name].terminate(self.duration_s, self.grace_s)
