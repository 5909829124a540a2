"""``crash``: the bot process (or the worker processes) die hard and restart after ``duration_s``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import trio

from sim.simulator.faults.kind import SystemFault
from sim.simulator.faults.system import SystemUnderFault
from sim.simulator.toml_table import ScenarioError


@dataclass(frozen=True, kw_only=True)
class CrashFault(SystemFault):
    kind = "crash"
    targets = ("bot", "worker")
    default_target = "bot"

    def check(self, where: str) -> None:
        if not math.isfinite(self.duration_s):
            raise ScenarioError(f"{where}: a crash needs duration_s (the downtime before the restart)")

    def begin(self, system: SystemUnderFault, nursery: trio.Nursery) -> None:
        for process in system.processes[self.target]:
            process.crash(self.duration_s)
