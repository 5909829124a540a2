"""The simulated WallClock: timestamps from a fixed epoch plus virtual time, seeded ids.

Durations in the bot come from ``trio.current_time()`` (the MockClock); this port
only supplies what would otherwise read the real world: datetimes, uuids, jitter.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import trio

# The audit's date: any fixed instant works, it only has to be the same every run.
SIM_EPOCH = datetime(2024, 11, 13, 9, 0, tzinfo=UTC)


def database_now() -> datetime:
    """The simulated world's true time, which no process's clock skew moves: the
    database's clock (Postgres' ``now()``), on which job leases are judged."""
    return SIM_EPOCH + timedelta(seconds=trio.current_time())


class SimWallClock:
    """Implements ``bot.ports.WallClock``.

    Ids and jitter draw from separate streams so that one more id (say, a retried
    upload) does not shift every later backoff. Each simulated process has its own
    clock (sharing the streams), so one host's clock can be skewed.
    """

    __slots__ = ("_epoch", "_ids", "_jitter", "skew_s")

    def __init__(self, ids: random.Random, jitter: random.Random, epoch: datetime = SIM_EPOCH) -> None:
        if epoch.tzinfo is None:
            raise ValueError("the simulation epoch must be timezone-aware")
        self._ids = ids
        self._jitter = jitter
        self._epoch = epoch
        self.skew_s = 0.0  # how far this process's clock is off (a clock_skew fault)

    def now(self) -> datetime:
        return self._epoch + timedelta(seconds=trio.current_time() + self.skew_s)

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=self._ids.getrandbits(128), version=4)

    def random(self) -> float:
        return self._jitter.random()
