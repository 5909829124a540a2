"""What the whole-system fault kinds act on: the simulated processes and stores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.fakes.clock import SimWallClock
    from sim.simulator.compose import SimStack
    from sim.simulator.kernel.supervisor import BotSupervisor


@dataclass(frozen=True, slots=True)
class SystemUnderFault:
    """The simulated processes by group (``bot``, ``worker``) and by name (``bot``,
    ``worker0``...), each process's wall clock, and the service stack."""

    processes: Mapping[str, Sequence[BotSupervisor]]
    stack: SimStack
    clocks: Mapping[str, SimWallClock] = field(default_factory=dict)

    @property
    def by_name(self) -> dict[str, BotSupervisor]:
        return {p.name: p for group in self.processes.values() for p in group}
