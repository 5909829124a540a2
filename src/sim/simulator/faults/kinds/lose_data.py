"""``lose_data``: a Redis-backed store (``queue`` or ``state``) restarts without persistence."""

from __future__ import annotations

import trio

from sim.simulator.faults.kind import SystemFault
from sim.simulator.faults.system import SystemUnderFault


class LoseDataFault(SystemFault):
    kind = "lose_data"
    targets = ("queue", "state")

    def begin(self, system: SystemUnderFault, nursery: trio.Nursery) -> None:
        (system.stack.queue if self.target == "queue" else system.stack.state).lose_everything()
