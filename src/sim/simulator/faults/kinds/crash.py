"""``crash``: ``kill -9`` of a process (or every worker process); it restarts after ``duration_s``.

Every task of the process stops at once, shielded or not; nothing it was doing
reaches a service afterwards, and it comes back with fresh memory. ``target``:
"bot", "worker" (every worker process) or "worker<N>". For SIGTERM see ``stop``.
"""

from __future__ import annotations

import math
from typing import Self

import trio
from pydantic import model_validator

from sim.simulator.faults.kind import ProcessFault
from sim.simulator.faults.system import SystemUnderFault
from sim.simulator.schema import rule


class CrashFault(ProcessFault):
    kind = "crash"

    @model_validator(mode="after")
    def _has_downtime(self) -> Self:
        if not math.isfinite(self.duration_s):
            raise rule("a crash needs duration_s (the downtime before the restart)")
        return self

    def begin(self, system: SystemUnderFault, nursery: trio.Nursery) -> None:
        by_name = system.by_name
        for name in self.processes(system):
            by_name[name].crash(self.duration_s)
