"""One root seed, split into named, independent random streams.

Each stream's seed is a hash of (root seed, name), so a stream does not depend on
which other streams exist or in what order they were created: adding a fault to
one service leaves the latency draws of every other service unchanged.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(root_seed: int, name: str) -> int:
    digest = hashlib.sha256(f"{root_seed}\x00{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class RngStreams:
    __slots__ = ("_streams", "root_seed")

    def __init__(self, root_seed: int) -> None:
        self.root_seed = root_seed
        self._streams: dict[str, random.Random] = {}

    def seed_for(self, name: str) -> int:
        return derive_seed(self.root_seed, name)

    def stream(self, name: str) -> random.Random:
        """The stream called ``name``; the same object on every call."""
        rng = self._streams.get(name)
        if rng is None:
            rng = random.Random(self.seed_for(name))
            self._streams[name] = rng
        return rng
