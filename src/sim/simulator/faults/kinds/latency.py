"""``latency``: each hit call takes an extra latency drawn from the fault's ``extra`` table."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sim.simulator.faults.kind import CallFault, CallPlan
from sim.simulator.scenario.latency import NO_LATENCY, Latency, parse_latency
from sim.simulator.toml_table import ScenarioError, Table


@dataclass(frozen=True, kw_only=True)
class LatencyFault(CallFault):
    kind = "latency"

    extra: Latency = NO_LATENCY

    @classmethod
    def parse_own(cls, t: Table) -> dict[str, Any]:
        own = super().parse_own(t)
        if "extra" not in t.data:
            raise ScenarioError(f"{t.where}: a latency fault needs an 'extra' latency table")
        t.used.add("extra")
        return {**own, "extra": parse_latency(t.data["extra"], f"{t.where}.extra")}

    def shape(self, plan: CallPlan, rng: random.Random) -> CallPlan:
        return CallPlan(delay=plan.delay + self.extra.sample(rng), failure=plan.failure, after=plan.after)
