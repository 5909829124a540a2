"""The deterministic simulator: the real bot core against the fakes, on virtual time.

- :mod:`~sim.simulator.runner`: runs one scenario and builds its report;
- :mod:`~sim.simulator.scenario`: the scenario model and its TOML files;
- :mod:`~sim.simulator.faults`: fault kinds (one class each) and where they act;
- :mod:`~sim.simulator.invariants`: the promises checked at the end of every run;
- :mod:`~sim.simulator.workload` and :mod:`~sim.simulator.replies`: simulated users
  and what the bot's replies mean to them;
- :mod:`~sim.simulator.compose`: the fakes wired into the bot's ports;
- :mod:`~sim.simulator.kernel`: seeded scheduling, random streams, trace, supervisor;
- :mod:`~sim.simulator.report`, :mod:`~sim.simulator.expect`,
  :mod:`~sim.simulator.capacity`: what a run shows, what it should, and sweeps.
"""
