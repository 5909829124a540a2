"""Fault injection at the adapter boundary: a proxy that wraps any port object.

For every async method of the wrapped object, each call draws the scenario's
latency for that service and method, then applies the faults active at that moment
in virtual time: extra latency, an error (``ServiceUnavailable``), a hang (sleep
forever: the core's deadline must cut it), a disconnect (an error either before the
request reached the service or after it took effect), or a Telegram 429. The phase
decides whether the real call happens: an "after" fault is the interesting one, the
effect is applied but the caller never hears about it.

Where the latency is spent matters for the database: a query's time is spent
*holding a session*. :func:`session_hook` gives the memory repository an
``in_session`` callable, and the proxy hands each call's latency and "before"
fault to it through a context variable, so slow queries exhaust the session pool as
they would in production, and a hung query holds its connection until cancelled.

Randomness comes from the service's own streams: latency draws from
``service.<name>.latency``, fault draws from ``service.<name>.faults``, so adding a
fault never shifts the latencies.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import trio

from bot.errors import ServiceUnavailable, TelegramRetryAfter
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.kernel.trace import Trace
from sim.simulator.scenario import PER_CALL_FAULTS, Fault, Latency, ServiceModel

T = TypeVar("T")


def _describe_args(args: tuple[Any, ...]) -> str:
    """Cheap, address-free argument summary for the trace (bytes by length only)."""
    parts = []
    for arg in args:
        if isinstance(arg, bool | int | float) or arg is None:
            parts.append(repr(arg))
        elif isinstance(arg, str):
            parts.append(repr(arg[:40]))
        elif isinstance(arg, bytes | bytearray):
            parts.append(f"<{len(arg)}B>")
        else:
            parts.append(type(arg).__name__)
    return ",".join(parts)


class FaultStats:
    """Calls per "service.method" and injected faults per "service.kind" (for the report)."""

    def __init__(self) -> None:
        self.injected: dict[str, int] = {}
        self.calls: dict[str, int] = {}

    def count(self, key: str) -> None:
        self.injected[key] = self.injected.get(key, 0) + 1


@dataclass(slots=True)
class _Plan:
    """What happens to one call: a delay, then maybe a fault before or after it."""

    delay: float
    fault: Fault | None
    after: bool


# The plan of the call in progress in this task, for a latency spent inside the service.
_PLAN: ContextVar[_Plan | None] = ContextVar("sim_fault_plan", default=None)


class ServiceFaults:
    """The latency model and fault schedule of one service, and its random streams."""

    def __init__(
        self,
        service: str,
        model: ServiceModel,
        faults: tuple[Fault, ...],
        rngs: RngStreams,
        *,
        trace: Trace | None = None,
        stats: FaultStats | None = None,
    ) -> None:
        self.service = service
        self.model = model
        self.faults = tuple(f for f in faults if f.target == service and f.kind in PER_CALL_FAULTS)
        self.latency_rng = rngs.stream(f"service.{service}.latency")
        self.fault_rng = rngs.stream(f"service.{service}.faults")
        self.trace = trace
        self.stats = stats if stats is not None else FaultStats()

    def plan(self, label: str, latency: Latency, faults: tuple[Fault, ...]) -> _Plan | None:
        """Draw one call's fate; None when nothing at all happens to it (the fast path)."""
        delay = latency.sample(self.latency_rng)
        chosen: Fault | None = None
        after = False
        if faults:
            now = trio.current_time()
            rng = self.fault_rng
            for fault in faults:
                if not (fault.at_s <= now < fault.end_s):
                    continue
                if fault.probability < 1.0 and rng.random() >= fault.probability:
                    continue
                self.stats.count(f"{self.service}.{fault.kind}")
                if self.trace is not None:
                    self.trace.record("fault", f"{label} {fault.kind}")
                if fault.kind == "latency":
                    delay += fault.extra.sample(rng)
                elif chosen is None:
                    chosen = fault
                    after = fault.phase == "after" or (fault.phase == "random" and rng.random() < 0.5)
        if delay <= 0 and chosen is None:
            return None
        return _Plan(delay, chosen, after)

    async def before(self, plan: _Plan) -> None:
        if plan.delay > 0:
            await trio.sleep(plan.delay)
        if plan.fault is not None and not plan.after:
            await self.strike(plan.fault)

    async def strike(self, fault: Fault) -> None:
        kind = fault.kind
        if kind == "hang":
            await trio.sleep_forever()
        if kind == "rate_limit":
            raise TelegramRetryAfter(
                f"Too Many Requests: retry after {fault.retry_after_s:g}", retry_after=fault.retry_after_s
            )
        detail = "connection lost (simulated)" if kind == "disconnect" else "injected error (simulated)"
        raise ServiceUnavailable(self.service, detail)


def session_hook(faults: ServiceFaults) -> Callable[[str], Awaitable[None]]:
    """An ``in_session`` callable for the memory repository: spends the current call's
    latency (and "before" fault) while the session is held."""

    async def in_session(method: str) -> None:
        plan = _PLAN.get()
        if plan is not None:
            _PLAN.set(None)  # one session per call: spend it once
            await faults.before(plan)

    return in_session


class FaultProxy:
    """Wraps one port object; attribute access returns fault-injecting wrappers.

    Wrappers are built on first access and cached on the instance, so the per-call
    overhead is one closure call, one latency draw and a scan of this service's
    (usually empty) fault list for that method.
    """

    def __init__(self, target: object, faults: ServiceFaults, *, inside: bool = False) -> None:
        self._target = target
        self._faults = faults
        self._inside = inside  # the target spends the latency itself (see session_hook)

    @property
    def wrapped(self) -> object:
        """The real (simulated) adapter, for invariant checks that must bypass faults."""
        return self._target

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attribute):
            return attribute
        wrapper = self._wrap(name, attribute)
        self.__dict__[name] = wrapper
        return wrapper

    def _wrap(self, method: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        sf = self._faults
        latency = sf.model.latency_of(method)
        faults = tuple(f for f in sf.faults if not f.methods or method in f.methods)
        label = f"{sf.service}.{method}"
        trace = sf.trace
        calls = sf.stats.calls
        inside = self._inside

        @functools.wraps(fn)
        async def call(*args: Any, **kwargs: Any) -> Any:
            calls[label] = calls.get(label, 0) + 1
            if trace is not None:
                trace.record("call", f"{label}({_describe_args(args)})")
            plan = sf.plan(label, latency, faults)
            token = None
            if plan is not None:
                if inside:
                    token = _PLAN.set(plan)
                else:
                    await sf.before(plan)
            try:
                result = await fn(*args, **kwargs)
            except trio.Cancelled:
                if trace is not None:
                    trace.record("cancel", label)
                raise
            except Exception as exc:
                if trace is not None:
                    trace.record("error", f"{label} {type(exc).__name__}")
                raise
            finally:
                if token is not None:
                    _PLAN.reset(token)
            if plan is not None and plan.fault is not None and plan.after:
                await sf.strike(plan.fault)  # the effect happened; the reply is lost
            if trace is not None:
                trace.record("return", label)
            return result

        return call


def wrap_port(target: T, faults: ServiceFaults, *, inside: bool = False) -> T:
    """``target`` behind a :class:`FaultProxy`, typed as the port it implements."""
    return cast(T, FaultProxy(target, faults, inside=inside))


def unwrap(port: object) -> object:
    return port.wrapped if isinstance(port, FaultProxy) else port
