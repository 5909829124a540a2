"""Runs the whole-system faults of a scenario at their moments in virtual time."""

from __future__ import annotations

from collections.abc import Sequence

import trio

from sim.simulator.faults.kind import Fault, SystemFault
from sim.simulator.faults.system import SystemUnderFault
from sim.simulator.kernel.trace import Trace


async def run_schedule(faults: Sequence[Fault], system: SystemUnderFault, trace: Trace) -> None:
    """Begin (and end) every :class:`SystemFault` in time order; ties in scenario order."""
    moments = sorted(
        (at, index, starting)
        for index, fault in enumerate(faults)
        if isinstance(fault, SystemFault)
        for at, starting in fault.moments()
    )
    async with trio.open_nursery() as nursery:
        for at, index, starting in moments:
            await trio.sleep_until(at)
            fault = faults[index]
            assert isinstance(fault, SystemFault)
            trace.record("fault", f"{fault.target} {fault.kind} {'start' if starting else 'end'}")
            if starting:
                fault.begin(system, nursery)
            else:
                fault.end(system)
