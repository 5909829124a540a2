"""``crash``: the bot process (or the worker processes) die hard and restart after ``duration_s``."""

from __future__ import annotations

import math
from typing import Self

import trio
from pydantic import model_validator

from sim.simulator.faults.kind import SystemFault
from sim.simulator.faults.system import SystemUnderFault
from sim.simulator.schema import rule


class CrashFault(SystemFault):
    kind = "crash"
    targets = ("bot", "worker")
    default_target = "bot"

    @model_validator(mode="after")
    def _has_downtime(self) -> Self:
        if not math.isfinite(self.duration_s):
            raise rule("a crash needs duration_s (the downtime before the restart)")
        return self

    def begin(self, system: SystemUnderFault, nursery: trio.Nursery) -> None:
        for process in system.processes[self.target]:
            process.crash(self.duration_s)
