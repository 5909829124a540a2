"""Scenario files: TOML loaded with tomllib into frozen dataclasses, validated.

A scenario says who the users are and what they do, how the services behave
(latency distributions, capacities), what breaks when (the fault schedule), how
long to run in virtual time and which invariants to check. scenarios/README.md
documents every key; errors name the file, the table and the key.
"""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bot.settings import DEFAULT_DEADLINES, Settings
from sim.cpu import CpuCost

SERVICES = ("telegram", "repo", "state", "blobs", "queue")
PER_CALL_FAULTS = ("latency", "error", "hang", "disconnect", "rate_limit")
SYSTEM_FAULTS = ("crash", "lose_data", "slow_log", "log_storm")  # act at a moment, not per call
FAULT_KINDS = (*PER_CALL_FAULTS, *SYSTEM_FAULTS)
PROCESSES = ("bot", "worker")  # crash targets: the main bot process, or the worker processes
FAULT_PHASES = ("before", "after", "random")
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


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or invalid; the message says where."""


# ---------------------------------------------------------------- validation helpers


_REQUIRED: Any = object()  # marks a key that has no default


class _Table:
    """One TOML table being read: typed getters, and unknown keys reported at the end."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(f"{where}: expected a table, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.where = where
        self.used: set[str] = set()

    def _get(self, key: str, kinds: tuple[type, ...], default: object, what: str) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise ScenarioError(f"{self.where}: missing required key {key!r}")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in kinds:
            raise ScenarioError(f"{self.where}.{key}: expected {what}, got a boolean")
        if not isinstance(value, kinds):
            raise ScenarioError(f"{self.where}.{key}: expected {what}, got {value!r}")
        return value

    def number(self, key: str, default: object = _REQUIRED, *, minimum: float = 0.0) -> float:
        if key not in self.data:
            self.used.add(key)
            if default is _REQUIRED:
                raise ScenarioError(f"{self.where}: missing required key {key!r}")
            return float(cast(float, default))
        value = self._get(key, (int, float), default, "a number")
        if not math.isfinite(value) or value < minimum:
            raise ScenarioError(f"{self.where}.{key}: must be a finite number >= {minimum:g}, got {value!r}")
        return float(value)

    def integer(self, key: str, default: object = _REQUIRED, *, minimum: int = 0) -> int:
        value = self._get(key, (int,), default, "an integer")
        if value < minimum:
            raise ScenarioError(f"{self.where}.{key}: must be >= {minimum}, got {value!r}")
        return int(value)

    def string(self, key: str, default: object = _REQUIRED, *, choices: tuple[str, ...] = ()) -> str:
        value = self._get(key, (str,), default, "a string")
        if choices and value not in choices:
            raise ScenarioError(f"{self.where}.{key}: {value!r} is not one of {', '.join(choices)}")
        return str(value)

    def boolean(self, key: str, default: object = _REQUIRED) -> bool:
        return bool(self._get(key, (bool,), default, "true or false"))

    def strings(
        self, key: str, default: tuple[str, ...] = (), *, choices: tuple[str, ...] = ()
    ) -> tuple[str, ...]:
        value = self._get(key, (list,), list(default), "a list of strings")
        for item in value:
            if not isinstance(item, str):
                raise ScenarioError(f"{self.where}.{key}: expected strings, got {item!r}")
            if choices and item not in choices:
                raise ScenarioError(f"{self.where}.{key}: {item!r} is not one of {', '.join(choices)}")
        return tuple(value)

    def table(self, key: str) -> _Table:
        value = self._get(key, (dict,), {}, "a table")
        return _Table(value, f"{self.where}.{key}")

    def tables(self, key: str) -> list[_Table]:
        value = self._get(key, (list,), [], "an array of tables ([[...]])")
        return [_Table(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(value)]

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used)) or "none"
            raise ScenarioError(f"{self.where}: unknown key(s) {', '.join(unknown)} (known here: {known})")


# ---------------------------------------------------------------- latency distributions

DISTRIBUTIONS = ("none", "constant", "uniform", "exponential", "lognormal", "pareto")


@dataclass(frozen=True, slots=True)
class Latency:
    """A latency distribution in virtual seconds, capped at ``max_s``.

    none: 0; constant: ``value_s``; uniform: ``min_s``..``max_s``; exponential: mean
    ``mean_s`` plus ``min_s``; lognormal: median ``median_s``, shape ``sigma``;
    pareto: scale ``min_s``, shape ``alpha`` (heavy tail, storage-like).
    """

    dist: str = "none"
    value_s: float = 0.0
    min_s: float = 0.0
    max_s: float = math.inf
    mean_s: float = 0.0
    median_s: float = 0.0
    sigma: float = 0.0
    alpha: float = 0.0

    def sample(self, rng: random.Random) -> float:
        dist = self.dist
        if dist == "none":
            return 0.0
        if dist == "constant":
            value = self.value_s
        elif dist == "uniform":
            value = rng.uniform(self.min_s, self.max_s)
        elif dist == "exponential":
            value = self.min_s + rng.expovariate(1.0 / self.mean_s)
        elif dist == "lognormal":
            value = self.median_s * math.exp(rng.gauss(0.0, self.sigma))
        else:  # pareto
            value = self.min_s * rng.paretovariate(self.alpha)
        return min(value, self.max_s)


NO_LATENCY = Latency()


def _latency(data: object, where: str) -> Latency:
    t = _Table(data, where)
    dist = t.string("dist", "constant", choices=DISTRIBUTIONS)
    max_s = t.number("max_s", math.inf)
    if dist == "none":
        result = NO_LATENCY
    elif dist == "constant":
        result = Latency(dist, value_s=t.number("value_s", _REQUIRED), max_s=max_s)
    elif dist == "uniform":
        lo = t.number("min_s", 0.0)
        hi = t.number("max_s", _REQUIRED)
        if hi < lo:
            raise ScenarioError(f"{where}: max_s must be >= min_s")
        result = Latency(dist, min_s=lo, max_s=hi)
    elif dist == "exponential":
        mean = t.number("mean_s", _REQUIRED)
        if mean <= 0:
            raise ScenarioError(f"{where}.mean_s: must be > 0")
        result = Latency(dist, mean_s=mean, min_s=t.number("min_s", 0.0), max_s=max_s)
    elif dist == "lognormal":
        result = Latency(
            dist, median_s=t.number("median_s", _REQUIRED), sigma=t.number("sigma", 0.5), max_s=max_s
        )
    else:
        alpha = t.number("alpha", 1.5)
        if alpha <= 0:
            raise ScenarioError(f"{where}.alpha: must be > 0")
        result = Latency(dist, min_s=t.number("min_s", _REQUIRED), alpha=alpha, max_s=max_s)
    t.finish()
    return result


# ---------------------------------------------------------------- sections


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
class Fault:
    kind: str
    target: str
    at_s: float
    duration_s: float = math.inf
    methods: tuple[str, ...] = ()  # empty: every method of the target
    probability: float = 1.0
    phase: str = "before"  # error/hang/disconnect: before or after the real call
    extra: Latency = NO_LATENCY  # latency faults
    retry_after_s: float = 1.0  # rate_limit
    cost_s: float = 0.0  # slow_log
    rate_per_s: float = 0.0  # log_storm: error records per second

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s


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


def _weights(
    t: _Table, key: str, choices: tuple[str, ...] | None, default: dict[str, float]
) -> dict[str, float]:
    if key not in t.data:
        t.used.add(key)
        return default
    table = t.table(key)
    weights: dict[str, float] = {}
    for name in list(table.data):
        if choices is not None and name not in choices:
            raise ScenarioError(f"{table.where}: {name!r} is not one of {', '.join(choices)}")
        weights[name] = table.number(name)
    table.finish()
    if not weights or sum(weights.values()) <= 0:
        raise ScenarioError(f"{table.where}: needs at least one positive weight")
    return weights


def _files(t: _Table) -> Files:
    result = Files(
        rows=t.integer("rows", 200, minimum=1),
        variants=t.integer("variants", 8, minimum=1),
        mix=_weights(t, "mix", FILE_KINDS, {"good": 1.0}),
    )
    t.finish()
    return result


def _users(t: _Table) -> Users:
    arrival = t.string("arrival", "all_at_once", choices=("all_at_once", "poisson", "uniform"))
    count = t.integer("count", 10, minimum=0)
    result = Users(
        count=count,
        arrival=arrival,
        rate_per_s=t.number("rate_per_s", 1.0),
        start_s=t.number("start_s", 0.0),
        spread_s=t.number("spread_s", 0.0),
        send_start=t.boolean("send_start", True),
        start_patience_s=t.number("start_patience_s", 30.0),
        languages=_weights(t, "languages", None, {"en": 1.0}),
        files=_files(t.table("files")),
        answer_deadline_s=t.number("answer_deadline_s", 60.0),
        peak=_peak(t.table("peak"), count),
    )
    if arrival == "poisson" and result.rate_per_s <= 0:
        raise ScenarioError(f"{t.where}.rate_per_s: must be > 0 for poisson arrivals")
    if result.peak.count > result.count:
        raise ScenarioError(
            f"{t.where}.peak: more peak users ({result.peak.count}) than users ({result.count})"
        )
    t.finish()
    return result


def _peak(t: _Table, population: int) -> Peak:
    if "count" in t.data and "fraction" in t.data:
        raise ScenarioError(f"{t.where}: give count or fraction, not both")
    fraction = t.number("fraction", 0.0)
    if fraction > 1:
        raise ScenarioError(f"{t.where}.fraction: must be <= 1")
    result = Peak(
        count=t.integer("count", 0),
        at_s=t.number("at_s", 0.0),
        spread_s=t.number("spread_s", 60.0),
    )
    t.finish()
    if fraction:
        return Peak(round(fraction * population), result.at_s, result.spread_s)
    return result


def _service(name: str, t: _Table) -> ServiceModel:
    latency = _latency(t.data["latency"], f"{t.where}.latency") if "latency" in t.data else NO_LATENCY
    t.used.add("latency")
    methods_table = t.table("methods")
    methods: dict[str, Latency] = {}
    for method in list(methods_table.data):
        sub = methods_table.table(method)
        methods[method] = _latency(sub.data.get("latency", {"dist": "none"}), f"{sub.where}.latency")
        sub.used.add("latency")
        sub.finish()
    methods_table.finish()
    session_limit: int | None = None
    if name == "repo":
        session_limit = t.integer("session_limit", 0, minimum=0) or None
    t.finish()
    return ServiceModel(latency=latency, methods=methods, session_limit=session_limit)


def _cpu(t: _Table) -> Cpu:
    def cost(sub: _Table, default: CpuCost) -> CpuCost:
        value = CpuCost(
            base_s=sub.number("base_s", default.base_s), per_mb_s=sub.number("per_mb_s", default.per_mb_s)
        )
        sub.finish()
        return value

    default = cost(t.table("default"), Cpu().default)
    kinds_table = t.table("kinds")
    kinds = {kind: cost(kinds_table.table(kind), default) for kind in list(kinds_table.data)}
    kinds_table.finish()
    result = Cpu(
        cores=t.integer("cores", 2, minimum=1),
        blocking=t.string("mode", "offloaded", choices=("offloaded", "blocking")) == "blocking",
        default=default,
        kinds=kinds,
    )
    t.finish()
    return result


def _log(t: _Table) -> Log:
    result = Log(
        mode=t.string("mode", "queued", choices=("queued", "sync")),
        write_cost_s=t.number("write_cost_s", 0.002),
    )
    t.finish()
    return result


_SETTINGS_FIELDS = {name: f for name, f in Settings.model_fields.items() if name != "retries"}


def _bot(t: _Table) -> BotConfig:
    deadlines_table = t.table("deadlines")
    deadlines: dict[str, float] = {}
    for name in list(deadlines_table.data):
        if name not in DEFAULT_DEADLINES:
            raise ScenarioError(
                f"{deadlines_table.where}: unknown deadline {name!r} (known: {', '.join(DEFAULT_DEADLINES)})"
            )
        deadlines[name] = deadlines_table.number(name)
    deadlines_table.finish()
    settings_table = t.table("settings")
    settings: dict[str, Any] = {}
    defaults = Settings()
    for name in list(settings_table.data):
        if name not in _SETTINGS_FIELDS or name == "deadlines":
            known = ", ".join(n for n in _SETTINGS_FIELDS if n != "deadlines")
            raise ScenarioError(f"{settings_table.where}: unknown setting {name!r} (known: {known})")
        current = getattr(defaults, name)
        if isinstance(current, frozenset):
            settings[name] = frozenset(settings_table._get(name, (list,), None, "a list of integers"))
        elif isinstance(current, int):
            settings[name] = settings_table.integer(name)
        else:
            settings[name] = settings_table.number(name)
    settings_table.finish()
    result = BotConfig(
        poller=t.boolean("poller", True),
        workers=t.integer("workers", 1, minimum=0),
        reconciler=t.boolean("reconciler", True),
        deadlines=deadlines,
        settings=settings,
        worker_processes=t.integer("worker_processes", 0),
        worker_process_workers=t.integer("worker_process_workers", 1, minimum=1),
    )
    t.finish()
    return result


def _fault(t: _Table) -> Fault:
    kind = t.string("kind", _REQUIRED, choices=FAULT_KINDS)
    if kind == "crash":
        targets: tuple[str, ...] = PROCESSES
    elif kind in ("slow_log", "log_storm"):
        targets = ("log",)
    elif kind == "lose_data":
        targets = ("queue", "state")  # the Redis-backed ones: a restart without persistence
    elif kind == "rate_limit":
        targets = ("telegram",)
    else:
        targets = SERVICES
    default_target = targets[0] if len(targets) == 1 or kind == "crash" else _REQUIRED
    target = t.string("target", default_target, choices=targets)
    extra = _latency(t.data["extra"], f"{t.where}.extra") if "extra" in t.data else NO_LATENCY
    t.used.add("extra")
    if kind == "latency" and extra is NO_LATENCY:
        raise ScenarioError(f"{t.where}: a latency fault needs an 'extra' latency table")
    probability = t.number("probability", 1.0)
    if probability > 1:
        raise ScenarioError(f"{t.where}.probability: must be <= 1")
    default_phase = "random" if kind == "disconnect" else "before"
    result = Fault(
        kind=kind,
        target=target,
        at_s=t.number("at_s", 0.0),
        duration_s=t.number("duration_s", math.inf),
        methods=t.strings("methods"),
        probability=probability,
        phase=t.string("phase", default_phase, choices=FAULT_PHASES),
        extra=extra,
        retry_after_s=t.number("retry_after_s", 1.0),
        cost_s=t.number("cost_s", 0.0),
        rate_per_s=t.number("rate_per_s", 0.0),
    )
    if kind == "log_storm" and (result.rate_per_s <= 0 or not math.isfinite(result.duration_s)):
        raise ScenarioError(f"{t.where}: a log_storm needs rate_per_s > 0 and a finite duration_s")
    if kind == "slow_log" and result.cost_s <= 0:
        raise ScenarioError(f"{t.where}: a slow_log fault needs cost_s > 0")
    if kind == "crash" and not math.isfinite(result.duration_s):
        raise ScenarioError(f"{t.where}: a crash needs duration_s (the downtime before the restart)")
    t.finish()
    return result


def _invariants(t: _Table) -> Invariants:
    result = Invariants(
        check=t.strings("check", DEFAULT_INVARIANTS, choices=INVARIANTS), margin_s=t.number("margin_s", 5.0)
    )
    t.finish()
    return result


def _expect(t: _Table, checked: tuple[str, ...]) -> Expect:
    fail = t.strings("invariants_fail", choices=INVARIANTS + ALWAYS_CHECKED)
    may_fail = t.strings("invariants_may_fail", choices=INVARIANTS + ALWAYS_CHECKED)
    missing = [name for name in fail + may_fail if name not in checked + ALWAYS_CHECKED]
    if missing:
        raise ScenarioError(f"{t.where}.invariants_fail: not checked by [invariants]: {', '.join(missing)}")
    targets = t.table("p95_max")
    p95_max = {name: targets.number(name) for name in list(targets.data)}
    targets.finish()
    success_min = t.number("success_min", 0.0)
    if success_min > 1:
        raise ScenarioError(f"{t.where}.success_min: a share, at most 1")
    contrast = t.table("contrast").data
    if "expect" in contrast or ("scenario" in contrast and "seed" in contrast["scenario"]):
        raise ScenarioError(f"{t.where}.contrast: may not change [expect] or the seed")
    result = Expect(
        invariants_fail=fail,
        invariants_may_fail=may_fail,
        p95_max=p95_max,
        success_min=success_min,
        contrast=contrast,
        contrast_label=t.string("contrast_label", ""),
        story=t.string("story", ""),
    )
    t.finish()
    return result


def merge_tables(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it, tables merged key by key (arrays replaced)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_tables(merged[key], value)
        else:
            merged[key] = value
    return merged


def contrast_scenario(scenario: Scenario) -> Scenario | None:
    """The scenario's ``[expect.contrast]`` twin (same seed and workload), or None."""
    if not scenario.expect.contrast:
        return None
    data = merge_tables({k: v for k, v in scenario.raw.items() if k != "expect"}, scenario.expect.contrast)
    return parse_scenario(data, scenario.source)


def with_overrides(scenario: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    """The same scenario file with some tables changed (capacity sweeps, property tests)."""
    return parse_scenario(merge_tables(scenario.raw, overrides), scenario.source)


def parse_scenario(data: Mapping[str, Any], source: str = "<memory>") -> Scenario:
    root = _Table(dict(data), source)
    head = root.table("scenario")
    name = head.string("name", Path(source).stem if source != "<memory>" else _REQUIRED)
    description = head.string("description", "")
    seed = head.integer("seed", 1)
    duration_s = head.number("duration_s", 60.0)
    if duration_s <= 0:
        raise ScenarioError(f"{head.where}.duration_s: must be > 0")
    stop_when_done = head.boolean("stop_when_done", True)
    settle_s = head.number("settle_s", 2.0)
    head.finish()
    services_table = root.table("services")
    services: dict[str, ServiceModel] = {}
    for service in list(services_table.data):
        if service not in SERVICES:
            raise ScenarioError(
                f"{services_table.where}: unknown service {service!r} (known: {', '.join(SERVICES)})"
            )
        services[service] = _service(service, services_table.table(service))
    services_table.finish()
    invariants = _invariants(root.table("invariants"))
    scenario = Scenario(
        name=name,
        description=description,
        seed=seed,
        duration_s=duration_s,
        stop_when_done=stop_when_done,
        settle_s=settle_s,
        users=_users(root.table("users")),
        services=services,
        cpu=_cpu(root.table("cpu")),
        log=_log(root.table("log")),
        bot=_bot(root.table("bot")),
        faults=tuple(_fault(t) for t in root.tables("faults")),
        invariants=invariants,
        expect=_expect(root.table("expect"), invariants.check),
        source=source,
        raw=dict(data),
    )
    root.finish()
    scenario.bot.build_settings()  # fail here, not mid-run, on a bad settings combination
    return scenario


def load_scenario(path: Path) -> Scenario:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario file ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return parse_scenario(data, str(path))


def resolve_scenario_path(name_or_path: str, search_dirs: tuple[Path, ...]) -> Path:
    """A path as given, or ``<dir>/<name>.toml`` in the first search dir that has it."""
    direct = Path(name_or_path)
    if direct.suffix == ".toml" or direct.exists():
        if not direct.exists():
            raise ScenarioError(f"{direct}: no such scenario file")
        return direct
    for directory in search_dirs:
        candidate = directory / f"{name_or_path}.toml"
        if candidate.exists():
            return candidate
    looked = ", ".join(str(d) for d in search_dirs)
    raise ScenarioError(f"no scenario named {name_or_path!r} (looked in {looked})")
