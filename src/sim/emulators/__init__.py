"""The outside services over HTTP, for the real adapters: ``just chat``, contract and e2e tests.

- :mod:`~sim.emulators.botapi_server`: the Bot API world served over HTTP, plus a
  control API (``/_emu/``) to act as users and inject Bot API faults;
- :mod:`~sim.emulators.control`: a client of that control API;
- :mod:`~sim.emulators.chat`: a person chats with the bot from a terminal;
- :mod:`~sim.emulators.storage`: a Supabase Storage emulator.
"""
