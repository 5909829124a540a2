"""A Telegram Bot API emulator: the in-memory world, its HTTP server, a simulated adapter.

- :mod:`sim.fakes.telegram.world`: :class:`BotApiWorld`, the deterministic core;
- :mod:`sim.fakes.telegram.api`: ``SimTelegramApi``, the port on a world in-process;
- :mod:`sim.emulators.botapi_server`: ``serve_emulator``, the world over HTTP (plus a control API);
- :mod:`sim.emulators.control` and :mod:`sim.emulators.chat`: acting as a user over HTTP.
"""

from sim.fakes.telegram.records import SentRecord, StoredFile, UserAction
from sim.fakes.telegram.world import BotApiError, BotApiUnavailable, BotApiWorld

__all__ = ["BotApiError", "BotApiUnavailable", "BotApiWorld", "SentRecord", "StoredFile", "UserAction"]
