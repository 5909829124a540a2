"""Real timestamps and ids (ports.WallClock)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime


class SystemClock:
    def __init__(self) -> None:
        self._random = random.SystemRandom()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def new_id(self) -> uuid.UUID:
        return uuid.uuid4()

    def random(self) -> float:
        return self._random.random()
