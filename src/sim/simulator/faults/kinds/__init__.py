"""One module per fault kind; :func:`sim.simulator.faults.registry.fault_kinds` imports them all."""
