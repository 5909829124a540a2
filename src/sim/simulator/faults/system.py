"""What the whole-system fault kinds act on: the simulated processes and stores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.simulator.compose import SimStack
    from sim.simulator.kernel.supervisor import BotSupervisor


@dataclass(frozen=True, slots=True)
class SystemUnderFault:
    """The simulated processes by crash target (``bot``, ``worker``) and the service stack."""

    processes: Mapping[str, Sequence[BotSupervisor]]
    stack: SimStack
