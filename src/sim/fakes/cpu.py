"""The simulated CpuRunner: real results, modelled durations.

The pure function runs synchronously (the analysis really happens), then its
duration is modelled from the scenario's cost model (base + seconds per MB of
input). Offloaded work (worker processes, the production setup) sleeps that long
under a CapacityLimiter of ``cores``: only the caller waits. ``blocking=True``
models the work done on the event loop instead: the MockClock jumps, everybody
waits. A cache of results keyed by the inputs themselves keeps a launch day of 2000 uploads of a
handful of distinct files fast in real time; the modelled cost is paid on every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import trio

from sim.simulator.kernel.blocking import permitted
from sim.simulator.kernel.clock import JumpingClock, sim_sleep
from sim.simulator.kernel.trace import Trace


@dataclass(frozen=True, slots=True)
class CpuCost:
    base_s: float = 0.0
    per_mb_s: float = 0.0

    def seconds(self, input_bytes: int) -> float:
        return self.base_s + self.per_mb_s * input_bytes / 1_000_000


def _input_size(args: tuple[Any, ...]) -> int:
    return sum(len(arg) for arg in args if isinstance(arg, bytes | bytearray | str))


_KEYABLE = (bytes, str, int, float, bool, type(None))


def _cache_key(kind: str, fn: Any, args: tuple[Any, ...]) -> tuple[object, ...] | None:
    """The function's name and its arguments themselves; None unless each is immutable.
    A dict compares keys in full, so equal inputs share a result and nothing else does;
    a bytes object keeps its hash, so a file analysed again costs no digest of it."""
    if not all(type(arg) in _KEYABLE for arg in args):
        return None
    return (kind, f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}", *args)


class SimCpuRunner:
    """Implements ``bot.ports.CpuRunner``."""

    def __init__(
        self,
        *,
        cores: int,
        costs: Mapping[str, CpuCost],
        default_cost: CpuCost,
        clock: JumpingClock,
        blocking: bool = False,
        trace: Trace | None = None,
        cache: dict[tuple[object, ...], Any] | None = None,
    ) -> None:
        if cores < 1:
            raise ValueError("cores must be >= 1")
        self._limiter = trio.CapacityLimiter(cores)
        self._costs = dict(costs)
        self._default = default_cost
        self._clock = clock
        self.blocking = blocking
        self._trace = trace
        self._cache: dict[tuple[object, ...], Any] = {} if cache is None else cache
        self.calls = 0
        self.cache_hits = 0
        self.busy_s = 0.0  # modelled CPU seconds actually spent (cancelled work excluded)
        self.peak_waiting = 0
        self.peak_in_use = 0

    @property
    def in_use(self) -> int:
        """Cores busy right now (0 after the run: a leaked slot is a bug)."""
        return int(self._limiter.borrowed_tokens)

    def cost_of(self, kind: str, args: tuple[Any, ...]) -> float:
        return self._costs.get(kind, self._default).seconds(_input_size(args))

    def _compute(self, kind: str, fn: Any, args: tuple[Any, ...]) -> Any:
        key = _cache_key(kind, fn, args)
        if key is not None and key in self._cache:
            self.cache_hits += 1
            return self._cache[key]
        with permitted():  # this is the worker process's work, not the event loop's
            result = fn(*args)  # exceptions are not cached: they re-run and re-raise
        if key is not None:
            self._cache[key] = result
        return result

    async def run(self, kind: str, fn: Any, *args: Any) -> Any:
        self.calls += 1
        cost = self.cost_of(kind, args)
        if self._trace is not None:
            self._trace.record("cpu", f"{kind} {cost:.6f}")
        if self.blocking:
            # Work on the event loop: nobody runs while it computes.
            self._clock.jump(cost)
            self.busy_s += cost
            result = self._compute(kind, fn, args)
            await trio.lowlevel.checkpoint()
            return result
        self.peak_waiting = max(self.peak_waiting, self._limiter.statistics().tasks_waiting + 1)
        async with self._limiter:
            self.peak_in_use = max(self.peak_in_use, self.in_use)
            await sim_sleep(cost)  # cancellable: the caller's deadline kills the "process"
            self.busy_s += cost
        return self._compute(kind, fn, args)
