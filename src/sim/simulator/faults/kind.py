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
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn

from pydantic import field_validator, model_validator

from sim.simulator.schema import Duration, Seconds, Share, Table, rule

if TYPE_CHECKING:
    import trio

    from sim.simulator.faults.system import SystemUnderFault

SERVICES = ("telegram", "repo", "state", "blobs", "queue")
# Simulated processes: "bot", and "worker0", "worker1"... ([bot] worker_processes); a
# selector names one of them, or "worker" for every worker process.
PROCESS_GROUPS = ("bot", "worker")
_PROCESS_SELECTOR = re.compile(r"(bot|worker)(\d*)")


def valid_process_selector(selector: str) -> str:
    match = _PROCESS_SELECTOR.fullmatch(selector)
    if match is None or (match.group(1) == "bot" and match.group(2)):
        raise rule(f"{selector!r} is not a process: bot, worker (every worker process) or worker<N>")
    return selector


def process_selected(selector: str | None, process: str) -> bool:
    """Whether ``selector`` (None: every process) names ``process`` ("bot", "worker0"...)."""
    if selector is None or selector == process:
        return True
    return selector == "worker" and process.startswith("worker")


_KINDS: dict[str, type[Fault]] = {}


class Fault(Table, ABC):
    """One entry of a scenario's ``[[faults]]``: a kind, a target and a window in virtual time.

    A kind's keys are its pydantic fields; ``kind`` itself is the class, so it is not one."""

    kind: ClassVar[str] = ""  # the TOML name; a class that sets it is registered under it
    targets: ClassVar[tuple[str, ...]] = SERVICES
    default_target: ClassVar[str | None] = None  # None: required unless there is one target

    target: str
    at_s: Seconds = 0.0
    duration_s: Duration = math.inf

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__dict__.get("kind")
        if name:
            if name in _KINDS and _KINDS[name] is not cls:
                twice = f"{_KINDS[name].__name__} and {cls.__name__}"
                raise TypeError(f"fault kind {name!r} is defined twice: {twice}")
            _KINDS[name] = cls

    @model_validator(mode="before")
    @classmethod
    def _default_target(cls, data: Any) -> Any:
        if isinstance(data, dict) and "target" not in data:
            default = cls.default_target or (cls.targets[0] if len(cls.targets) == 1 else None)
            if default is not None:
                return {**data, "target": default}
        return data

    @field_validator("target")
    @classmethod
    def _known_target(cls, target: str) -> str:
        if target not in cls.targets:
            raise rule(f"{target!r} is not one of {', '.join(cls.targets)}")
        return target

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s

    def active(self, now: float) -> bool:
        return self.at_s <= now < self.end_s


@dataclass(frozen=True, slots=True, kw_only=True)
class CallPlan:
    """What happens to one call: a delay, then maybe a failure before or after it."""

    delay: float
    failure: FailingCallFault | None = None
    after: bool = False


class CallFault(Fault, ABC):
    """Acts on each matching call of its target service while active."""

    methods: tuple[str, ...] = ()  # empty: every method of the target
    probability: Share = 1.0  # chance per call while active
    process: str | None = None  # only calls made by this process (see PROCESS_GROUPS); None: all

    @field_validator("process")
    @classmethod
    def _known_process(cls, process: str | None) -> str | None:
        return None if process is None else valid_process_selector(process)

    def applies_to(self, method: str) -> bool:
        return not self.methods or method in self.methods

    def reaches(self, process: str) -> bool:
        return process_selected(self.process, process)

    @abstractmethod
    def shape(self, plan: CallPlan, rng: random.Random) -> CallPlan:
        """The call's plan with this fault applied (draws only from ``rng``)."""


class FailingCallFault(CallFault, ABC):
    """A call fault that makes the call fail; the first one active on a call wins."""

    phase: Literal["before", "after", "random"] = "before"  # "after": the effect, then no reply

    def shape(self, plan: CallPlan, rng: random.Random) -> CallPlan:
        if plan.failure is not None:
            return plan
        after = self.phase == "after" or (self.phase == "random" and rng.random() < 0.5)
        return CallPlan(delay=plan.delay, failure=self, after=after)

    @abstractmethod
    async def strike(self, service: str) -> NoReturn:
        """Fail the call (raise, or never return)."""


class BotApiFault(Fault, ABC):
    """Acts inside the emulated Telegram on a Bot API call (``sendMessage``, ``getUpdates``,
    ``downloadFile``...), before it takes effect or after (the answer is then lost or late)."""

    targets: ClassVar[tuple[str, ...]] = ("telegram",)

    target: str = "telegram"
    methods: tuple[str, ...] = ()  # Bot API method names, any case; empty: every method
    probability: Share = 1.0
    phase: Literal["before", "after"] = "before"

    def applies_to(self, method: str) -> bool:
        return not self.methods or method.lower() in (m.lower() for m in self.methods)

    @abstractmethod
    async def strike(self, method: str) -> None:
        """Act on the call: raise the Bot API's answer, or delay it and return."""


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


class ProcessFault(SystemFault, ABC):
    """A system fault aimed at processes: ``target`` is "bot", "worker" (every worker
    process) or one worker process, "worker<N>"."""

    targets: ClassVar[tuple[str, ...]] = PROCESS_GROUPS
    default_target: ClassVar[str | None] = "bot"

    @field_validator("target")
    @classmethod
    def _known_target(cls, target: str) -> str:
        return valid_process_selector(target)

    def processes(self, system: SystemUnderFault) -> list[str]:
        """Names of the processes this fault strikes."""
        names = dict.fromkeys([*system.by_name, *system.clocks])
        return [name for name in names if process_selected(self.target, name)]


def registered_kinds() -> dict[str, type[Fault]]:
    """Every kind defined so far, by TOML name (see :func:`sim.simulator.faults.registry.fault_kinds`)."""
    return dict(_KINDS)
