"""The run's trace: ordered events stamped with virtual time, hashed with sha256.

The same seed must give the same trace byte for byte; its hash is printed in the
report so anyone can check a replay. Events carry no addresses and no wall time.
Recording is one f-string per event; lines are hashed in batches (sha256 of the
concatenation is the same, one update per event is what it saves). The lines
themselves are kept only when a determinism check needs to find the first divergence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import trio


class Trace:
    __slots__ = ("_hasher", "_keep", "_now", "_pending", "count", "events")

    _BATCH = 512  # lines hashed per update

    def __init__(self, *, keep_events: bool = False, now: Callable[[], float] = trio.current_time) -> None:
        self._hasher = hashlib.sha256()
        self._now = now  # the virtual clock's own reading, when the run's clock is known
        self._keep = keep_events
        self._pending: list[str] = []
        self.events: list[str] = []
        self.count = 0

    def record(self, kind: str, detail: str = "") -> None:
        """Append one event at the current virtual time (call inside ``trio.run``)."""
        line = f"{self._now():.6f} {kind} {detail}\n"
        pending = self._pending
        pending.append(line)
        if len(pending) >= self._BATCH:
            self._flush()
        self.count += 1
        if self._keep:
            self.events.append(line)

    def _flush(self) -> None:
        self._hasher.update("".join(self._pending).encode())
        self._pending.clear()

    def hexdigest(self) -> str:
        self._flush()
        return self._hasher.hexdigest()


@dataclass(frozen=True, slots=True)
class Divergence:
    index: int  # 0-based position of the first differing event
    first: str | None  # that event in the first run (None: the run had ended)
    second: str | None
    context: tuple[str, ...]  # the events both runs agreed on just before it

    def describe(self) -> str:
        lines = [f"first divergent event is #{self.index}"]
        lines += [f"    both: {line.rstrip()}" for line in self.context]
        lines.append(f"  run 1: {self.first.rstrip() if self.first is not None else '<run ended>'}")
        lines.append(f"  run 2: {self.second.rstrip() if self.second is not None else '<run ended>'}")
        return "\n".join(lines)


def first_divergence(first: Sequence[str], second: Sequence[str], context: int = 5) -> Divergence | None:
    """Where two recorded traces part ways, or None if they are identical."""
    shorter = min(len(first), len(second))
    index = next((i for i in range(shorter) if first[i] != second[i]), shorter)
    if index == len(first) == len(second):
        return None
    return Divergence(
        index=index,
        first=first[index] if index < len(first) else None,
        second=second[index] if index < len(second) else None,
        context=tuple(first[max(0, index - context) : index]),
    )
