"""A Telegram Bot API emulator: the in-memory world, its HTTP server, a simulated adapter.

- :mod:`sim.botapi.world`: :class:`BotApiWorld`, the deterministic core;
- :mod:`sim.botapi.sim_adapter`: ``SimTelegramApi``, the port on a world in-process;
- :mod:`sim.botapi.server`: ``serve_emulator``, the world over HTTP (plus a control API);
- :mod:`sim.botapi.control` and :mod:`sim.botapi.chat`: acting as a user over HTTP.
"""

from sim.botapi.records import SentRecord, StoredFile, UserAction
from sim.botapi.world import BotApiError, BotApiUnavailable, BotApiWorld

__all__ = ["BotApiError", "BotApiUnavailable", "BotApiWorld", "SentRecord", "StoredFile", "UserAction"]
