"""How long each call to another service lasted, measured where the bot makes it.

"Every outside call has a deadline" is a promise of the bot's, so the simulator holds
it to bounds of its own, not to the bot's policy table (a wrong entry there is exactly
what must be caught): a call to Postgres, Redis, storage or Telegram that lasts past
its service's bound was not cut by any deadline. The bounds are twice the design's
deadlines (DESIGN.md: statements 10 s, storage 15 s, Redis 1-2 s, Telegram calls 10 s,
files 30 s), with the waits a call asks for on purpose added (a long poll's timeout, a
blocking queue read's block).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import trio

from bot.ports import Services

T = TypeVar("T")

BOUND_S: dict[str, float] = {
    "repo": 20.0,
    "blobs": 30.0,
    "state": 4.0,
    "queue": 4.0,
    "send_bucket": 4.0,
    "telegram": 60.0,
}
# Arguments that are a wait the caller asked for (seconds), by method.
_ASKED_WAIT = {"get_updates": "timeout_s", "claim": "block_s"}
_KEPT = 20


@dataclass(slots=True)
class CallTimes:
    """The longest call per service, and the calls past their bound."""

    longest: dict[str, float] = field(default_factory=dict)
    over: list[str] = field(default_factory=list)
    over_total: int = 0

    def record(self, label: str, service: str, seconds: float, bound: float) -> None:
        if seconds > self.longest.get(service, 0.0):
            self.longest[service] = round(seconds, 3)
        if seconds > bound:
            self.over_total += 1
            if len(self.over) < _KEPT:
                at = trio.current_time() - seconds
                self.over.append(f"{label} took {seconds:.1f} s (bound {bound:g} s), from t={at:.1f} s")


class _Timed:
    def __init__(self, target: object, service: str, times: CallTimes) -> None:
        self._target = target
        self._service = service
        self._times = times

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attribute):
            return attribute
        wrapper = self._wrap(name, attribute)
        self.__dict__[name] = wrapper
        return wrapper

    def _wrap(self, method: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        service, times = self._service, self._times
        label = f"{service}.{method}"
        base = BOUND_S[service]
        waited = _ASKED_WAIT.get(method)
        position = list(inspect.signature(fn).parameters).index(waited) if waited else -1

        @functools.wraps(fn)
        async def call(*args: Any, **kwargs: Any) -> Any:
            bound = base
            if waited is not None:
                asked = kwargs.get(waited, args[position] if len(args) > position else 0)
                bound += float(asked or 0)
            start = trio.current_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                times.record(label, service, trio.current_time() - start, bound)

        return call


def timed_services(services: Services, times: CallTimes) -> Services:
    """``services`` with every outside port timed (the clock, log, CPU and metrics are the process's own)."""

    def timed(port: T, service: str) -> T:
        return cast(T, _Timed(port, service, times))

    bucket = services.send_bucket
    return dataclasses.replace(
        services,
        telegram=timed(services.telegram, "telegram"),
        repo=timed(services.repo, "repo"),
        state=timed(services.state, "state"),
        blobs=timed(services.blobs, "blobs"),
        queue=timed(services.queue, "queue"),
        send_bucket=None if bucket is None else timed(bucket, "send_bucket"),
    )
