"""``latency``: each hit call takes an extra latency drawn from the fault's ``extra`` table."""

from __future__ import annotations

import random

from sim.simulator.faults.kind import CallFault, CallPlan
from sim.simulator.scenario.latency import LatencyTable


class LatencyFault(CallFault):
    kind = "latency"

    extra: LatencyTable

    def shape(self, plan: CallPlan, rng: random.Random) -> CallPlan:
        return CallPlan(delay=plan.delay + self.extra.sample(rng), failure=plan.failure, after=plan.after)
