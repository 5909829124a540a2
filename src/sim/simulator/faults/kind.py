"""What a fault kind is: one class that parses its table, names its targets and applies itself.

Three families. A :class:`CallFault` acts at the adapter boundary on every matching
call inside its window (see :mod:`sim.simulator.faults.proxy`); a :class:`BotApiFault`
acts inside the emulated Telegram, on the Bot API's wire, so the Telegram adapter in
front of it must make sense of it (see :mod:`sim.simulator.faults.wire`; the
emulator's control API queues the same kinds for the next calls); a
:class:`SystemFault` acts on the whole simulated system at moments of its window (see
:mod:`sim.simulator.faults.schedule`). Each concrete kind lives in its own module under
``sim/simulator/faults/kinds/`` and registers itself by subclassing; the applying
methods are abstract, so a kind that forgets one cannot be instantiated, let alone
fall into another kind's code.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Self

from sim.simulator.toml_table import REQUIRED, ScenarioError, Table

if TYPE_CHECKING:
    import trio

    from sim.simulator.faults.system import SystemUnderFault

SERVICES = ("telegram", "repo", "state", "blobs", "queue")
PHASES = ("before", "after", "random")

_KINDS: dict[str, type[Fault]] = {}


@dataclass(frozen=True, kw_only=True)
class Fault(ABC):
    """One entry of a scenario's ``[[faults]]``: a kind, a target and a window in virtual time."""

    kind: ClassVar[str] = ""  # the TOML name; a class that sets it is registered under it
    targets: ClassVar[tuple[str, ...]] = SERVICES
    default_target: ClassVar[str | None] = None  # None: required unless there is one target

    target: str
    at_s: float = 0.0
    duration_s: float = math.inf

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("kind")
        if name:
            if name in _KINDS and _KINDS[name] is not cls:
                twice = f"{_KINDS[name].__name__} and {cls.__name__}"
                raise TypeError(f"fault kind {name!r} is defined twice: {twice}")
            _KINDS[name] = cls

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s

    def active(self, now: float) -> bool:
        return self.at_s <= now < self.end_s

    @classmethod
    def parse(cls, t: Table) -> Self:
        """This kind from its table (``kind`` already read); errors name the table and key."""
        default = cls.default_target or (cls.targets[0] if len(cls.targets) == 1 else REQUIRED)
        target = t.string("target", default, choices=cls.targets)
        common: dict[str, Any] = {
            "target": target,
            "at_s": t.number("at_s", 0.0),
            "duration_s": t.number("duration_s", math.inf),
        }
        fault = cls(**common, **cls.parse_own(t))
        fault.check(t.where)
        return fault

    @classmethod
    def parse_own(cls, t: Table) -> dict[str, Any]:
        """The keys of this kind beyond target and window."""
        return {}

    def check(self, where: str) -> None:  # noqa: B027 (an optional hook: most kinds have no such rule)
        """Rules across keys; raise :class:`ScenarioError` naming ``where``."""


@dataclass(frozen=True, kw_only=True)
class CallPlan:
    """What happens to one call: a delay, then maybe a failure before or after it."""

    delay: float
    failure: FailingCallFault | None = None
    after: bool = False


def _call_keys(t: Table) -> dict[str, Any]:
    """The keys of every fault that picks calls: ``methods`` and ``probability``."""
    probability = t.number("probability", 1.0)
    if probability > 1:
        raise ScenarioError(f"{t.where}.probability: must be <= 1")
    return {"methods": t.strings("methods"), "probability": probability}


@dataclass(frozen=True, kw_only=True)
class CallFault(Fault, ABC):
    """Acts on each matching call of its target service while active."""

    methods: tuple[str, ...] = ()  # empty: every method of the target
    probability: float = 1.0  # chance per call while active

    @classmethod
    def parse_own(cls, t: Table) -> dict[str, Any]:
        return _call_keys(t)

    def applies_to(self, method: str) -> bool:
        return not self.methods or method in self.methods

    @abstractmethod
    def shape(self, plan: CallPlan, rng: random.Random) -> CallPlan:
        """The call's plan with this fault applied (draws only from ``rng``)."""


@dataclass(frozen=True, kw_only=True)
class FailingCallFault(CallFault, ABC):
    """A call fault that makes the call fail; the first one active on a call wins."""

    default_phase: ClassVar[str] = "before"
    phase: str = "before"  # "after": the call takes effect, then the reply is lost

    @classmethod
    def parse_own(cls, t: Table) -> dict[str, Any]:
        own = super().parse_own(t)
        return {**own, "phase": t.string("phase", cls.default_phase, choices=PHASES)}

    def shape(self, plan: CallPlan, rng: random.Random) -> CallPlan:
        if plan.failure is not None:
            return plan
        after = self.phase == "after" or (self.phase == "random" and rng.random() < 0.5)
        return CallPlan(delay=plan.delay, failure=self, after=after)

    @abstractmethod
    async def strike(self, service: str) -> NoReturn:
        """Fail the call (raise, or never return)."""


@dataclass(frozen=True, kw_only=True)
class BotApiFault(Fault, ABC):
    """Acts inside the emulated Telegram on a Bot API call (``sendMessage``, ``getUpdates``,
    ``downloadFile``...), before it takes effect or after (the answer is then lost or late)."""

    targets: ClassVar[tuple[str, ...]] = ("telegram",)

    target: str = "telegram"
    methods: tuple[str, ...] = ()  # Bot API method names, any case; empty: every method
    probability: float = 1.0
    phase: str = "before"

    @classmethod
    def parse_own(cls, t: Table) -> dict[str, Any]:
        return {**_call_keys(t), "phase": t.string("phase", "before", choices=("before", "after"))}

    def applies_to(self, method: str) -> bool:
        return not self.methods or method.lower() in (m.lower() for m in self.methods)

    @abstractmethod
    async def strike(self, method: str) -> None:
        """Act on the call: raise the Bot API's answer, or delay it and return."""


@dataclass(frozen=True, kw_only=True)
class SystemFault(Fault, ABC):
    """Acts on the whole simulated system at the start (and maybe the end) of its window."""

    targets: ClassVar[tuple[str, ...]] = ()

    def moments(self) -> tuple[tuple[float, bool], ...]:
        """(virtual time, starting) pairs at which :meth:`begin` / :meth:`end` run."""
        return ((self.at_s, True),)

    @abstractmethod
    def begin(self, system: SystemUnderFault, nursery: trio.Nursery) -> None:
        """Apply the fault; long-running effects start in ``nursery``."""

    def end(self, system: SystemUnderFault) -> None:
        """Undo the fault, for kinds whose :meth:`moments` include an end."""


def registered_kinds() -> dict[str, type[Fault]]:
    """Every kind defined so far, by TOML name (see :func:`sim.simulator.faults.registry.fault_kinds`)."""
    return dict(_KINDS)
