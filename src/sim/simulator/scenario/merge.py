"""Scenarios made from other scenarios: tables laid over a file's own (contrast runs, sweeps)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim.simulator.scenario.model import Scenario
from sim.simulator.scenario.parse import parse_scenario


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
