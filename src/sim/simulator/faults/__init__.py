"""Fault injection: typed fault kinds, the per-call proxy and the whole-system schedule.

- :mod:`~sim.simulator.faults.kind`: the base classes every kind implements;
- :mod:`~sim.simulator.faults.kinds`: one module per kind (``latency``, ``crash``, ...);
- :mod:`~sim.simulator.faults.registry`: kinds by name, and the ``[[faults]]`` parser;
- :mod:`~sim.simulator.faults.proxy`: call faults applied at the adapter boundary;
- :mod:`~sim.simulator.faults.schedule`: system faults applied at their moments.
"""
