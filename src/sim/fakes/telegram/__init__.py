"""The in-process Telegram: an emulated Bot API world and the Telegram port on it.

- :mod:`sim.fakes.telegram.world`: :class:`BotApiWorld`, the deterministic core;
- :mod:`sim.fakes.telegram.api`: ``SimTelegramApi``, the port on a world in-process;
- served over HTTP by :mod:`sim.emulators.botapi_server`.
"""

from sim.fakes.telegram.records import SentRecord, StoredFile, UserAction
from sim.fakes.telegram.world import BotApiError, BotApiUnavailable, BotApiWorld

__all__ = ["BotApiError", "BotApiUnavailable", "BotApiWorld", "SentRecord", "StoredFile", "UserAction"]
