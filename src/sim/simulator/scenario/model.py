"""The scenario model: what a parsed scenario file is, as frozen dataclasses.

Parsing lives in :mod:`sim.simulator.scenario.parse`; fault kinds, one class each, in
:mod:`sim.simulator.faults.kinds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.settings import DEFAULT_DEADLINES, Settings
from sim.fakes.cpu import CpuCost
from sim.simulator.faults.kind import SERVICES, Fault
from sim.simulator.scenario.latency import NO_LATENCY, Latency

__all__ = ["SERVICES"]

INVARIANTS = (
    "no_lost_upload",
    "every_user_answered_within_deadline",
    "no_leaked_permits",
    "no_stuck_job",
    "each_update_once",
    "no_secret_in_logs",
    "no_duplicate_answer",
)
ALWAYS_CHECKED = ("bot_kept_running",)
DEFAULT_INVARIANTS = INVARIANTS[:6]  # duplicates are allowed by design under send faults
FILE_KINDS = ("good", "empty", "binary", "not_csv", "ragged")


@dataclass(frozen=True, slots=True)
class ServiceModel:
    latency: Latency = NO_LATENCY
    methods: Mapping[str, Latency] = field(default_factory=dict)  # per-method overrides
    session_limit: int | None = None  # repo only: the database's connection limit

    def latency_of(self, method: str) -> Latency:
        return self.methods.get(method, self.latency)


@dataclass(frozen=True, slots=True)
class Files:
    rows: int = 200
    variants: int = 8  # distinct files; users pick among them (keeps the analysis cache hot)
    mix: Mapping[str, float] = field(default_factory=lambda: {"good": 1.0})


@dataclass(frozen=True, slots=True)
class Peak:
    """A burst inside the population: ``count`` of the users arrive within ``spread_s``
    from ``at_s`` (the audit's "10 % of users at once"); the others keep the base arrivals."""

    count: int = 0
    at_s: float = 0.0
    spread_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Users:
    count: int = 10
    arrival: str = "all_at_once"  # or "poisson", "uniform"
    rate_per_s: float = 1.0  # poisson
    start_s: float = 0.0
    spread_s: float = 0.0  # uniform: arrivals spread evenly over this window
    send_start: bool = True  # send /start before the upload
    start_patience_s: float = 30.0  # how long a user waits for the /start reply before uploading
    languages: Mapping[str, float] = field(default_factory=lambda: {"en": 1.0})
    files: Files = field(default_factory=Files)
    answer_deadline_s: float = 60.0  # from the upload to the final answer
    peak: Peak = field(default_factory=Peak)


_DEFAULT_CPU_COST = CpuCost(base_s=0.01, per_mb_s=0.5)


@dataclass(frozen=True, slots=True)
class Cpu:
    cores: int = 2
    blocking: bool = False  # True: work runs on the event loop (jumps the clock)
    default: CpuCost = _DEFAULT_CPU_COST
    kinds: Mapping[str, CpuCost] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Log:
    mode: str = "queued"  # or "sync": every record blocks the loop for write_cost_s
    write_cost_s: float = 0.002

    @property
    def sync_cost_s(self) -> float:
        return self.write_cost_s if self.mode == "sync" else 0.0


@dataclass(frozen=True, slots=True)
class BotConfig:
    poller: bool = True
    workers: int = 1
    reconciler: bool = True
    deadlines: Mapping[str, float] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    worker_processes: int = 0  # separate job-worker processes (crash target "worker")
    worker_process_workers: int = 1  # worker roles in each of them

    def build_settings(self) -> Settings:
        merged = dict(DEFAULT_DEADLINES)
        merged.update(self.deadlines)
        overrides = dict(self.settings)
        if "admin_ids" in overrides:
            overrides["admin_ids"] = frozenset(overrides["admin_ids"])
        return Settings(deadlines=merged, **overrides)


@dataclass(frozen=True, slots=True)
class Invariants:
    check: tuple[str, ...] = DEFAULT_INVARIANTS
    margin_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Expect:
    """What the run should show; the exit status follows these, not the bare invariants.

    ``invariants_fail``: invariants this scenario exists to break (a demonstration of
    the audit's failure); every other checked invariant must hold. ``p95_max``:
    latency targets per operation (seconds). ``success_min``: the share of uploads
    that must end analysed or rejected with a reason. ``contrast``: overrides of
    this scenario's own tables for a second run shown beside it (the fix vs the bug).
    """

    invariants_fail: tuple[str, ...] = ()
    invariants_may_fail: tuple[str, ...] = ()  # side effects of the same failure, not judged
    p95_max: Mapping[str, float] = field(default_factory=dict)
    success_min: float = 0.0
    contrast: Mapping[str, Any] = field(default_factory=dict)
    contrast_label: str = ""
    story: str = ""  # what the contrast shows, e.g. "the synchronous log handler blocked the loop"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str = ""
    seed: int = 1
    duration_s: float = 60.0  # hard end of the run, in virtual seconds
    stop_when_done: bool = True  # end early once every user has a final answer
    settle_s: float = 2.0  # ...plus this long, so late duplicates still show up
    users: Users = field(default_factory=Users)
    services: Mapping[str, ServiceModel] = field(default_factory=dict)
    cpu: Cpu = field(default_factory=Cpu)
    log: Log = field(default_factory=Log)
    bot: BotConfig = field(default_factory=BotConfig)
    faults: tuple[Fault, ...] = ()
    invariants: Invariants = field(default_factory=Invariants)
    expect: Expect = field(default_factory=Expect)
    source: str = "<memory>"
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)  # the TOML data

    def service(self, name: str) -> ServiceModel:
        return self.services.get(name, _DEFAULT_SERVICE)


_DEFAULT_SERVICE = ServiceModel()
