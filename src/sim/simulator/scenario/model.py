"""The scenario model: every table of a scenario file as a frozen pydantic model.

The model is the schema: unknown keys are errors, numbers are strict and bounded,
and rules across keys are validators here. :mod:`~sim.simulator.scenario.parse` turns
a whole file into a :class:`Scenario`; fault kinds, one class each, are in
:mod:`sim.simulator.faults.kinds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from pydantic import Field, StrictBool, TypeAdapter, ValidationError, field_validator, model_validator

from bot.settings import DEFAULT_DEADLINES, Settings
from sim.fakes.cpu import CpuCost
from sim.simulator.faults.kind import SERVICES, CallFault, Fault, ProcessFault
from sim.simulator.faults.registry import FaultTable
from sim.simulator.kernel.blocking import DEFAULT_STEP_BUDGET_S
from sim.simulator.scenario.dbmodel import DEFAULT_MODEL, NO_MODEL, DbModel, DbTable, load_model
from sim.simulator.scenario.latency import NO_LATENCY, Latency, LatencyTable
from sim.simulator.schema import (
    AtLeastOne,
    Count,
    PositiveSeconds,
    ScenarioError,
    Seconds,
    Share,
    Table,
    Weight,
    rule,
)

__all__ = ["SERVICES"]

INVARIANTS = (
    "no_lost_upload",
    "every_user_answered_within_deadline",
    "no_leaked_permits",
    "no_stuck_job",
    "each_update_once",
    "no_secret_in_logs",
    "no_duplicate_answer",
    "each_part_once",
    "every_start_answered",
)
# What "correct" means on every run, whatever the scenario lists.
ALWAYS_CHECKED = (
    "bot_kept_running",
    "replies_in_order",
    "one_outcome_per_upload",
    "stores_agree",
    "queues_bounded",
    "telegram_limits_respected",
    "whole_answer_once",
    "every_call_cut",
    "work_within_limits",
    "no_blocking_call",
    "no_long_step",
)
# each_part_once is asked for by name (and by the swarm); every_start_answered by name only
# (a swarm's kill or long Telegram outage may end a command's answer by design).
DEFAULT_INVARIANTS = INVARIANTS[:-2]
SWARM_INVARIANTS = INVARIANTS[:-1]
_RESUME_S = 30.0  # a resumed job's last steps (a stored file: send the profile)
FILE_KINDS = ("good", "empty", "binary", "not_csv", "ragged", "wide")


def _names(values: tuple[str, ...], choices: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if value not in choices:
            raise rule(f"{value!r} is not one of {', '.join(choices)}")
    return values


def _weights(weights: dict[str, float]) -> dict[str, float]:
    if not weights or sum(weights.values()) <= 0:
        raise rule("needs at least one positive weight")
    return weights


# ---------------------------------------------------------------- [services.<name>]


class MethodModel(Table):
    latency: LatencyTable = NO_LATENCY


class ServiceModel(Table):
    latency: LatencyTable = NO_LATENCY  # repo: added to each transaction (a remote database's distance)
    methods: dict[str, MethodModel] = Field(default_factory=dict)  # per-method overrides
    session_limit: Count | None = None  # repo only: the database's connection limit (0: none)
    # repo only: the measured database model (scenarios/models/<model>.toml, "none": latency
    # alone) and overrides of its figures; see sim.simulator.scenario.dbmodel
    model: str | None = None
    db: DbTable | None = None

    def db_model(self) -> DbModel | None:
        """The database model this (repo) service runs on, None for the bare latency."""
        name = self.model or DEFAULT_MODEL
        if name == NO_MODEL:
            return None
        base = load_model(name)
        return base if self.db is None else self.db.over(base)

    @field_validator("session_limit")
    @classmethod
    def _zero_is_none(cls, limit: int | None) -> int | None:
        return limit or None

    def latency_of(self, method: str) -> Latency:
        override = self.methods.get(method)
        return self.latency if override is None else override.latency


class Services(Table):
    telegram: ServiceModel = ServiceModel()
    repo: ServiceModel = ServiceModel()
    state: ServiceModel = ServiceModel()
    blobs: ServiceModel = ServiceModel()
    queue: ServiceModel = ServiceModel()

    @model_validator(mode="after")
    def _session_limit_is_the_databases(self) -> Self:
        for name in SERVICES:
            service = getattr(self, name)
            if name != "repo" and (service.session_limit, service.model, service.db) != (None, None, None):
                raise rule(f"{name}: session_limit, model and db are the database's (repo) alone")
        if self.repo.model == NO_MODEL and self.repo.db is not None:
            raise rule('repo: db overrides need a measured model, not model = "none"')
        try:
            self.repo.db_model()
        except ScenarioError as exc:
            raise rule(f"repo.model: {exc}") from None
        return self


# ---------------------------------------------------------------- [users]


class Files(Table):
    rows: AtLeastOne = 200
    variants: AtLeastOne = 8  # distinct files; users pick among them (keeps the analysis cache hot)
    mix: dict[str, Weight] = Field(default_factory=lambda: {"good": 1.0})

    @field_validator("mix")
    @classmethod
    def _known_kinds(cls, mix: dict[str, float]) -> dict[str, float]:
        _names(tuple(mix), FILE_KINDS)
        return _weights(mix)


class Peak(Table):
    """A burst inside the population: ``count`` of the users (or a ``fraction`` of them)
    arrive within ``spread_s`` from ``at_s`` (the audit's "10 % of users at once"); the
    others keep the base arrivals."""

    count: Count = 0
    fraction: Share | None = None
    at_s: Seconds = 0.0
    spread_s: Seconds = 60.0

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.fraction is not None and "count" in self.model_fields_set:
            raise rule("give count or fraction, not both")
        return self


class Flood(Table):
    """One chat that floods the bot: ``messages`` texts sent evenly over ``over_s`` from
    ``at_s``; meanwhile ``probes`` other users each send ``probe_text`` once (evenly
    inside the flood) and wait for its reply, reported as latency ``user.probe``."""

    messages: Count = 0
    at_s: Seconds = 0.0
    over_s: Seconds = 0.0
    text: str = "hello"
    probes: Count = 1
    probe_text: str = "/help"

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.probes > 999:  # their chat ids sit between the flooding chat's and the users'
            raise rule("flood: at most 999 probes")
        return self


class Users(Table):
    count: Count = 10
    arrival: Literal["all_at_once", "poisson", "uniform"] = "all_at_once"
    rate_per_s: Seconds = 1.0  # poisson
    start_s: Seconds = 0.0
    spread_s: Seconds = 0.0  # uniform: arrivals spread evenly over this window
    send_start: StrictBool = True  # send /start before the upload
    start_patience_s: Seconds = 30.0  # how long a user waits for the /start reply before uploading
    languages: dict[str, Weight] = Field(default_factory=lambda: {"en": 1.0})
    files: Files = Files()
    answer_deadline_s: Seconds = 60.0  # from the upload to the final answer
    peak: Peak = Peak()
    flood: Flood = Flood()
    # Distinct people among the arrivals: arrival i is person i mod population, so a
    # long run has its users come back (None: every arrival is a new person).
    population: AtLeastOne | None = None

    @field_validator("languages")
    @classmethod
    def _positive_languages(cls, languages: dict[str, float]) -> dict[str, float]:
        return _weights(languages)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.arrival == "poisson" and self.rate_per_s <= 0:
            raise rule("rate_per_s: must be > 0 for poisson arrivals")
        users = self
        if self.peak.fraction:
            peak = self.peak.model_copy(
                update={"count": round(self.peak.fraction * self.count), "fraction": None}
            )
            users = self.model_copy(update={"peak": peak})
        if users.peak.count > users.count:
            raise rule(f"peak: more peak users ({users.peak.count}) than users ({users.count})")
        return users


# ---------------------------------------------------------------- [cpu], [log]

_DEFAULT_CPU_COST = CpuCost(base_s=0.01, per_mb_s=0.5)


class CpuCostTable(Table):
    base_s: Seconds | None = None
    per_mb_s: Seconds | None = None

    def over(self, default: CpuCost) -> CpuCost:
        return CpuCost(
            base_s=default.base_s if self.base_s is None else self.base_s,
            per_mb_s=default.per_mb_s if self.per_mb_s is None else self.per_mb_s,
        )


class Cpu(Table):
    cores: AtLeastOne = 2
    mode: Literal["offloaded", "blocking"] = "offloaded"  # blocking: work on the event loop
    default_table: CpuCostTable = Field(default=CpuCostTable(), alias="default")
    kinds_table: dict[str, CpuCostTable] = Field(default_factory=dict, alias="kinds")

    @property
    def blocking(self) -> bool:
        return self.mode == "blocking"

    @property
    def default(self) -> CpuCost:
        return self.default_table.over(_DEFAULT_CPU_COST)

    @property
    def kinds(self) -> dict[str, CpuCost]:
        """Per kind of work; a key a kind leaves out comes from ``default``."""
        return {kind: table.over(self.default) for kind, table in self.kinds_table.items()}


class Log(Table):
    mode: Literal["queued", "sync"] = "queued"  # sync: every record blocks the loop for write_cost_s
    write_cost_s: Seconds = 0.002

    @property
    def sync_cost_s(self) -> float:
        return self.write_cost_s if self.mode == "sync" else 0.0


# ---------------------------------------------------------------- [bot]

_SETTINGS_FIELDS = {
    name: f for name, f in Settings.model_fields.items() if name not in ("deadlines", "retries")
}
_SETTING_TYPES: dict[str, TypeAdapter[Any]] = {}
for _name in _SETTINGS_FIELDS:
    _current = getattr(Settings(), _name)
    _SETTING_TYPES[_name] = TypeAdapter(
        list[Count] if isinstance(_current, frozenset) else Count if isinstance(_current, int) else Seconds
    )


class BotConfig(Table):
    poller: StrictBool = True
    workers: Count = 1
    reconciler: StrictBool = True
    deadlines: dict[str, Seconds] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    worker_processes: Count = 0  # separate job-worker processes (crash target "worker")
    worker_process_workers: AtLeastOne = 1  # worker roles in each of them
    # Every process prunes update claims as in production (bot.retention; the adapters
    # read PROCESSED_UPDATES_RETENTION_H and PRUNE_EVERY_S).
    claims_retention_h: PositiveSeconds = 48.0
    prune_every_s: PositiveSeconds = 3600.0

    @field_validator("deadlines")
    @classmethod
    def _known_deadlines(cls, deadlines: dict[str, float]) -> dict[str, float]:
        for name in deadlines:
            if name not in DEFAULT_DEADLINES:
                raise rule(f"unknown deadline {name!r} (known: {', '.join(DEFAULT_DEADLINES)})")
        return deadlines

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        typed: dict[str, Any] = {}
        for name, value in settings.items():
            if name not in _SETTINGS_FIELDS:
                raise rule(f"unknown setting {name!r} (known: {', '.join(_SETTINGS_FIELDS)})")
            try:
                typed[name] = _SETTING_TYPES[name].validate_python(value)
            except ValidationError as exc:
                raise rule(f"{name}: {exc.errors()[0]['msg']}") from None
        return typed

    def build_settings(self) -> Settings:
        merged = dict(DEFAULT_DEADLINES)
        merged.update(self.deadlines)
        overrides = dict(self.settings)
        if "admin_ids" in overrides:
            overrides["admin_ids"] = frozenset(overrides["admin_ids"])
        return Settings(deadlines=merged, **overrides)


# ---------------------------------------------------------------- [invariants], [expect]


class Invariants(Table):
    check: tuple[str, ...] = DEFAULT_INVARIANTS
    margin_s: Seconds = 5.0
    # CPU seconds (thread time, not virtual) one task step may take on the loop.
    step_budget_s: PositiveSeconds = DEFAULT_STEP_BUDGET_S

    @field_validator("check")
    @classmethod
    def _known(cls, check: tuple[str, ...]) -> tuple[str, ...]:
        return _names(check, INVARIANTS)


class Expect(Table):
    """What the run should show; the exit status follows these, not the bare invariants.

    ``invariants_fail``: invariants this scenario exists to break (a demonstration of
    the audit's failure); every other checked invariant must hold. ``p95_max``:
    latency targets per operation (seconds). ``success_min``: the share of uploads
    that must end analysed or rejected with a reason. ``contrast``: overrides of
    this scenario's own tables for a second run shown beside it (the fix vs the bug).
    """

    invariants_fail: tuple[str, ...] = ()
    invariants_may_fail: tuple[str, ...] = ()  # side effects of the same failure, not judged
    p95_max: dict[str, Seconds] = Field(default_factory=dict)
    success_min: Share = 0.0
    contrast: dict[str, Any] = Field(default_factory=dict)
    contrast_label: str = ""
    story: str = ""  # what the contrast shows, e.g. "the synchronous log handler blocked the loop"

    @field_validator("invariants_fail", "invariants_may_fail")
    @classmethod
    def _known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return _names(names, INVARIANTS + ALWAYS_CHECKED)

    @field_validator("contrast")
    @classmethod
    def _same_seed_same_expectations(cls, contrast: dict[str, Any]) -> dict[str, Any]:
        head = contrast.get("scenario")
        if "expect" in contrast or (isinstance(head, dict) and "seed" in head):
            raise rule("may not change [expect] or the seed")
        return contrast


# ---------------------------------------------------------------- [soak]


class Soak(Table):
    """A long run's view of state growth: the recorder's size, row counts, Redis keys."""

    sample_every_s: PositiveSeconds | None = None  # None: the growth series is not kept
    latency_samples: AtLeastOne | None = None  # latencies the recorder keeps per operation
    flat_after_s: Seconds | None = None  # from here on every growth column must be flat
    flat_tolerance: Share = 0.1  # ... within this share (first third vs last third)


# ---------------------------------------------------------------- the file


class Head(Table):
    """``[scenario]``."""

    name: str | None = None  # default: the file's name
    description: str = ""
    seed: Count = 1
    duration_s: PositiveSeconds = 60.0  # hard end of the run, in virtual seconds
    stop_when_done: StrictBool = True  # end early once every user has a final answer
    # ...plus this long, so late duplicates still show up; None: long enough for a
    # reconciler pass to resume any job left open (see Scenario.settle_for)
    settle_s: Seconds | None = None


class ScenarioFile(Table):
    """A whole scenario file, as written."""

    scenario: Head = Head()
    users: Users = Users()
    services: Services = Services()
    cpu: Cpu = Cpu()
    log: Log = Log()
    bot: BotConfig = BotConfig()
    faults: tuple[FaultTable, ...] = ()
    invariants: Invariants = Invariants()
    expect: Expect = Expect()
    soak: Soak = Soak()

    @model_validator(mode="after")
    def _expectations_are_checked(self) -> Self:
        checked = self.invariants.check + ALWAYS_CHECKED
        expected = self.expect.invariants_fail + self.expect.invariants_may_fail
        missing = [name for name in expected if name not in checked]
        if missing:
            raise rule(f"expect.invariants_fail: not checked by [invariants]: {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _processes_exist(self) -> Self:
        count = self.bot.worker_processes
        for number, fault in enumerate(self.faults, 1):
            selector = fault.target if isinstance(fault, ProcessFault) else getattr(fault, "process", None)
            if not isinstance(fault, ProcessFault | CallFault) or selector is None:
                continue
            if selector.startswith("worker") and selector != "worker" and int(selector[6:]) >= count:
                raise rule(
                    f"faults[{number}] ({fault.kind}): no process {selector!r}; "
                    f"[bot] worker_processes = {count} (worker0..worker{count - 1})"
                )
        return self


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed scenario: its ``[scenario]`` head flattened, every other table as parsed."""

    name: str
    description: str = ""
    seed: int = 1
    duration_s: float = 60.0
    stop_when_done: bool = True
    settle_s: float | None = None
    users: Users = field(default_factory=Users)
    services: Services = field(default_factory=Services)
    cpu: Cpu = field(default_factory=Cpu)
    log: Log = field(default_factory=Log)
    bot: BotConfig = field(default_factory=BotConfig)
    faults: tuple[Fault, ...] = ()
    invariants: Invariants = field(default_factory=Invariants)
    expect: Expect = field(default_factory=Expect)
    source: str = "<memory>"
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)  # the TOML data
    soak: Soak = field(default_factory=Soak)

    def settle_for(self, settings: Settings) -> float:
        """Seconds to run on after the last answer: a job left open is stale after
        ``reconcile_after_s``, found by the next pass, and then needs time to finish."""
        if self.settle_s is not None:
            return self.settle_s
        return settings.reconcile_after_s + 2 * settings.reconcile_every_s + _RESUME_S

    def service(self, name: str) -> ServiceModel:
        service: ServiceModel = getattr(self.services, name)
        return service
