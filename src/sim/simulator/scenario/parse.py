"""Scenario files: a TOML table validated into the :mod:`~sim.simulator.scenario.model`.

scenarios/README.md documents every key; errors name the file, the table and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from bot.settings import DEFAULT_DEADLINES, Settings
from sim.fakes.cpu import CpuCost
from sim.simulator.faults.registry import parse_fault
from sim.simulator.scenario.latency import NO_LATENCY, Latency, parse_latency
from sim.simulator.scenario.model import (
    ALWAYS_CHECKED,
    DEFAULT_INVARIANTS,
    FILE_KINDS,
    INVARIANTS,
    SERVICES,
    BotConfig,
    Cpu,
    Expect,
    Files,
    Invariants,
    Log,
    Peak,
    Scenario,
    ServiceModel,
    Users,
)
from sim.simulator.toml_table import REQUIRED, ScenarioError, Table


def _weights(
    t: Table, key: str, choices: tuple[str, ...] | None, default: dict[str, float]
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


def _files(t: Table) -> Files:
    result = Files(
        rows=t.integer("rows", 200, minimum=1),
        variants=t.integer("variants", 8, minimum=1),
        mix=_weights(t, "mix", FILE_KINDS, {"good": 1.0}),
    )
    t.finish()
    return result


def _users(t: Table) -> Users:
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


def _peak(t: Table, population: int) -> Peak:
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


def _service(name: str, t: Table) -> ServiceModel:
    latency = parse_latency(t.data["latency"], f"{t.where}.latency") if "latency" in t.data else NO_LATENCY
    t.used.add("latency")
    methods_table = t.table("methods")
    methods: dict[str, Latency] = {}
    for method in list(methods_table.data):
        sub = methods_table.table(method)
        methods[method] = parse_latency(sub.data.get("latency", {"dist": "none"}), f"{sub.where}.latency")
        sub.used.add("latency")
        sub.finish()
    methods_table.finish()
    session_limit: int | None = None
    if name == "repo":
        session_limit = t.integer("session_limit", 0, minimum=0) or None
    t.finish()
    return ServiceModel(latency=latency, methods=methods, session_limit=session_limit)


def _cpu(t: Table) -> Cpu:
    def cost(sub: Table, default: CpuCost) -> CpuCost:
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


def _log(t: Table) -> Log:
    result = Log(
        mode=t.string("mode", "queued", choices=("queued", "sync")),
        write_cost_s=t.number("write_cost_s", 0.002),
    )
    t.finish()
    return result


_SETTINGS_FIELDS = {f.name: f for f in fields(Settings)}


def _bot(t: Table) -> BotConfig:
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


def _invariants(t: Table) -> Invariants:
    result = Invariants(
        check=t.strings("check", DEFAULT_INVARIANTS, choices=INVARIANTS), margin_s=t.number("margin_s", 5.0)
    )
    t.finish()
    return result


def _expect(t: Table, checked: tuple[str, ...]) -> Expect:
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


def parse_scenario(data: Mapping[str, Any], source: str = "<memory>") -> Scenario:
    root = Table(dict(data), source)
    head = root.table("scenario")
    name = head.string("name", Path(source).stem if source != "<memory>" else REQUIRED)
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
        faults=tuple(parse_fault(t) for t in root.tables("faults")),
        invariants=invariants,
        expect=_expect(root.table("expect"), invariants.check),
        source=source,
        raw=dict(data),
    )
    root.finish()
    scenario.bot.build_settings()  # fail here, not mid-run, on a bad settings combination
    return scenario
