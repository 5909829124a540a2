"""A scenario's Bot API faults, applied inside the emulated Telegram while their windows are open."""

from __future__ import annotations

import random
from collections.abc import Sequence

import trio

from sim.simulator.faults.kind import BotApiFault
from sim.simulator.faults.proxy import FaultStats
from sim.simulator.kernel.trace import Trace


class WindowedBotApiFaults:
    """A fault source for :meth:`BotApiWorld.add_fault_source`: the first active fault that
    matches the call's method (and wins its probability draw) acts on it."""

    def __init__(
        self, faults: Sequence[BotApiFault], rng: random.Random, stats: FaultStats, trace: Trace | None
    ) -> None:
        self.faults = tuple(faults)
        self.rng = rng
        self.stats = stats
        self.trace = trace

    def take(self, method: str) -> BotApiFault | None:
        now = trio.current_time()
        for fault in self.faults:
            if not (fault.active(now) and fault.applies_to(method)):
                continue
            if fault.probability < 1.0 and self.rng.random() >= fault.probability:
                continue
            self.stats.count(f"telegram.{fault.kind}")
            if self.trace is not None:
                self.trace.record("fault", f"botapi.{method} {fault.kind}")
            return fault
        return None
