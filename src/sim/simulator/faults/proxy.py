"""Call faults at the adapter boundary: a proxy that wraps any port object.

For every async method of the wrapped object, each call draws the scenario's
latency for that service and method, then lets every :class:`CallFault` active at
that moment in virtual time shape the call (see the kinds in
:mod:`sim.simulator.faults.kinds`): add latency, or make it fail. The phase of a
failing fault decides whether the real call happens: an "after" fault is the
interesting one, the effect is applied but the caller never hears about it.

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
from typing import Any, NoReturn, TypeVar, cast

import trio

from sim.fakes.telegram.limits import PACED, SENT_AT
from sim.simulator.calltimes import CallBound, CallTimes
from sim.simulator.faults.kind import CallFault, CallPlan, FailingCallFault, Fault
from sim.simulator.kernel.clock import sim_sleep
from sim.simulator.kernel.handles import Handles
from sim.simulator.kernel.rng import RngStreams
from sim.simulator.kernel.trace import Trace
from sim.simulator.scenario.latency import Latency
from sim.simulator.scenario.model import ServiceModel

T = TypeVar("T")


def _describe_arg(arg: Any) -> str:
    if isinstance(arg, bool | int | float) or arg is None:
        return repr(arg)
    if isinstance(arg, str):
        return repr(arg[:40])
    if isinstance(arg, bytes | bytearray):
        return f"<{len(arg)}B>"
    return type(arg).__name__


# The common argument types by exact type (subclasses such as enums take the long way).
_DESCRIBE_EXACT: dict[type, Callable[[Any], str]] = {
    int: repr,
    float: repr,
    bool: repr,
    type(None): repr,
    str: lambda arg: repr(arg[:40]),
    bytes: lambda arg: f"<{len(arg)}B>",
}


def _describe_args(args: tuple[Any, ...]) -> str:
    """Cheap, address-free argument summary for the trace (bytes by length only)."""
    exact = _DESCRIBE_EXACT
    return ",".join([exact.get(type(arg), _describe_arg)(arg) for arg in args])


class FaultStats:
    """Calls per "service.method" and injected faults per "service.kind" (for the report)."""

    def __init__(self) -> None:
        self.injected: dict[str, int] = {}
        self.calls: dict[str, int] = {}

    def count(self, key: str) -> None:
        self.injected[key] = self.injected.get(key, 0) + 1


# The plan of the call in progress in this task, for a latency spent inside the service.
_PLAN: ContextVar[CallPlan | None] = ContextVar("sim_fault_plan", default=None)


class ServiceFaults:
    """The latency model and fault schedule of one service as one process sees it (the
    faults aimed at that process, or at every process), and the service's random
    streams (shared by every process, so adding a process does not move the draws)."""

    def __init__(
        self,
        service: str,
        model: ServiceModel,
        faults: tuple[Fault, ...],
        rngs: RngStreams,
        *,
        trace: Trace | None = None,
        stats: FaultStats | None = None,
        process: str = "bot",
        now: Callable[[], float] = trio.current_time,
    ) -> None:
        self.service = service
        self.now = now  # the virtual clock's own reading (trio.current_time is three calls deep)
        self.process = process
        self.model = model
        self.faults = tuple(
            f for f in faults if isinstance(f, CallFault) and f.target == service and f.reaches(process)
        )
        self.latency_rng = rngs.stream(f"service.{service}.latency")
        self.fault_rng = rngs.stream(f"service.{service}.faults")
        self.trace = trace
        self.stats = stats if stats is not None else FaultStats()
        # Told of every 429 a fault gives (method, retry_after, the file or query the call
        # names), so the simulated Telegram can hold a request repeated too soon.
        self.on_retry_after: Callable[[str, float, str], None] | None = None
        # Told as each call leaves (method, args, kwargs), before the delay on the way: the
        # simulated Telegram judges a send on the bot's pacing then (None: nothing to judge).
        self.on_depart: Callable[[str, tuple[Any, ...], dict[str, Any]], bool | None] | None = None

    def plan(self, label: str, latency: Latency, faults: tuple[CallFault, ...]) -> CallPlan | None:
        """Draw one call's fate; None when nothing at all happens to it (the fast path)."""
        delay = latency.sample(self.latency_rng)
        if not faults:  # most services have no fault scheduled for this method
            return CallPlan(delay=delay) if delay > 0 else None
        plan = CallPlan(delay=delay)
        if faults:
            now = self.now()
            rng = self.fault_rng
            for fault in faults:
                if not fault.active(now):
                    continue
                if fault.probability < 1.0 and rng.random() >= fault.probability:
                    continue
                self.stats.count(f"{self.service}.{fault.kind}")
                if self.trace is not None:
                    self.trace.record("fault", f"{label} {fault.kind}")
                plan = fault.shape(plan, rng)
        if plan.delay <= 0 and plan.failure is None:
            return None
        return plan

    async def before(self, plan: CallPlan, method: str, args: tuple[Any, ...] = ()) -> None:
        if plan.delay > 0:
            await sim_sleep(plan.delay)
        if plan.failure is not None and not plan.after:
            await self.strike(plan.failure, method, args)

    async def strike(self, failure: FailingCallFault, method: str, args: tuple[Any, ...]) -> NoReturn:
        try:
            await failure.strike(self.service)
        except Exception as exc:
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None and self.on_retry_after is not None:
                named = args[0] if args and isinstance(args[0], str) else ""  # a file, a query
                self.on_retry_after(method, float(retry_after), named)
            raise


def session_hook(faults: ServiceFaults) -> Callable[[str], Awaitable[None]]:
    """An ``in_session`` callable for the memory repository: spends the current call's
    latency (and "before" fault) while the session is held."""

    async def in_session(method: str) -> None:
        plan = _PLAN.get()
        if plan is not None:
            _PLAN.set(None)  # one session per call: spend it once
            await faults.before(plan, method)

    return in_session


class FaultProxy:
    """Wraps one port object; attribute access returns fault-injecting wrappers.

    Wrappers are built on first access and cached on the instance, so the per-call
    overhead is one closure call, one latency draw and a scan of this service's
    (usually empty) fault list for that method. The same wrapper also does the process's
    two other jobs at this boundary, to spare every call two more layers: it refuses calls
    once the process is killed (``handles``, see :mod:`sim.simulator.kernel.handles`)
    and times each call against its service's bound (``times``, see
    :mod:`sim.simulator.calltimes`).
    """

    def __init__(
        self,
        target: object,
        faults: ServiceFaults,
        *,
        inside: bool = False,
        handles: Handles | None = None,
        times: CallTimes | None = None,
        timed_as: str | None = None,
    ) -> None:
        self._target = target
        self._faults = faults
        self._inside = inside  # the target spends the latency itself (see session_hook)
        self._handles = handles
        self._times = times
        self._timed_as = timed_as or faults.service  # the service whose bound its calls have

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
        faults = tuple(f for f in sf.faults if f.applies_to(method))
        label = f"{sf.service}.{method}"
        trace = sf.trace
        calls = sf.stats.calls
        inside = self._inside
        handles, times, timed_as, now = self._handles, self._times, self._timed_as, sf.now
        bound = CallBound.of(timed_as, method, fn) if times is not None else None
        timed_label = f"{timed_as}.{method}"

        @functools.wraps(fn)
        async def call(*args: Any, **kwargs: Any) -> Any:
            if handles is not None and handles.revoked:
                await handles.refuse()
            started = now()
            calls[label] = calls.get(label, 0) + 1
            if trace is not None:
                trace.record("call", f"{label}({_describe_args(args)})")
            plan = sf.plan(label, latency, faults)
            token = sent = paced = None
            try:
                if plan is not None:
                    if sf.on_depart is not None:
                        paced = PACED.set(sf.on_depart(method, args, kwargs))
                    if inside:
                        token = _PLAN.set(plan)
                    else:
                        await sf.before(plan, method, args)
                    sent = SENT_AT.set(started)  # when it left (Telegram's flood model asks)
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
                    if sent is not None:
                        SENT_AT.reset(sent)
                    if paced is not None:
                        PACED.reset(paced)
                if plan is not None and plan.failure is not None and plan.after:
                    await sf.strike(plan.failure, method, args)  # the effect happened; the reply is lost
                if trace is not None:
                    trace.record("return", label)
                return result
            finally:
                if times is not None:
                    assert bound is not None
                    took = now() - started
                    times.record(timed_label, timed_as, took, bound.for_call(took, args, kwargs))

        return call


def wrap_port(
    target: T,
    faults: ServiceFaults,
    *,
    inside: bool = False,
    handles: Handles | None = None,
    times: CallTimes | None = None,
    timed_as: str | None = None,
) -> T:
    """``target`` behind a :class:`FaultProxy`, typed as the port it implements."""
    return cast(T, FaultProxy(target, faults, inside=inside, handles=handles, times=times, timed_as=timed_as))


def unwrap(port: object) -> object:
    return port.wrapped if isinstance(port, FaultProxy) else port
