"""Everything that stands in for the outside world, in three rooms by audience.

- :mod:`sim.simulator`: the deterministic simulator (``python -m sim``): kernel,
  scenario model, runner, fault kinds, invariants, workload, report, capacity sweep.
- :mod:`sim.fakes`: in-process stand-ins for every port (memory repository, queue,
  state and blobs, CPU, clock, log sink, the in-process Telegram), for the simulator
  and for fast tests.
- :mod:`sim.emulators`: the same services over HTTP for real adapters: the Bot API
  and Supabase Storage servers, their control client, and the terminal chat
  (``just chat``).

Nothing here imports :mod:`adapters`, and :mod:`adapters` imports nothing here.
"""
