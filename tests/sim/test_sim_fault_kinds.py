"""Fault kinds: one class each, found by the registry, documented, and never borrowed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sim.simulator.faults import kind as kind_module
from sim.simulator.faults.kind import BotApiFault, CallFault, FailingCallFault, SystemFault
from sim.simulator.faults.registry import fault_kinds
from sim.simulator.scenario import ScenarioError, parse_scenario

README = Path(__file__).resolve().parents[2] / "scenarios" / "README.md"


def _documented_kinds() -> list[str]:
    text = README.read_text(encoding="utf-8")
    table = text.split("| kind | targets | keys | what it does |", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)


def test_every_kind_is_documented_once_and_every_documented_kind_exists() -> None:
    documented = _documented_kinds()
    assert len(documented) == len(set(documented))
    assert sorted(documented) == sorted(fault_kinds())


def test_every_kind_belongs_to_a_family_and_implements_it() -> None:
    for name, cls in fault_kinds().items():
        assert issubclass(cls, CallFault | BotApiFault | SystemFault), name
        assert cls.kind == name


@pytest.fixture
def forgetful_kind() -> Iterator[type[FailingCallFault]]:
    """A kind that says it fails calls but never says how."""

    @dataclass(frozen=True, kw_only=True)
    class Forgetful(FailingCallFault):
        kind = "forgetful"

    fault_kinds.cache_clear()
    try:
        yield Forgetful
    finally:
        del kind_module._KINDS["forgetful"]
        fault_kinds.cache_clear()


def test_a_kind_without_its_handling_is_refused_not_run_as_another(
    forgetful_kind: type[FailingCallFault],
) -> None:
    with pytest.raises(TypeError, match=r"'forgetful'.*does not implement strike"):
        fault_kinds()
    with pytest.raises(TypeError, match="abstract"):
        forgetful_kind(target="blobs")
    with pytest.raises(TypeError, match="forgetful"):
        parse_scenario({"scenario": {"name": "x"}, "faults": [{"kind": "forgetful", "target": "blobs"}]})


def test_a_kind_name_cannot_be_taken_twice() -> None:
    with pytest.raises(TypeError, match="defined twice"):

        @dataclass(frozen=True, kw_only=True)
        class AnotherHang(FailingCallFault):
            kind = "hang"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"kind": "error", "target": "blobs", "cost_s": 1}, "unknown key(s) cost_s"),
        ({"kind": "crash", "duration_s": 1, "methods": ["put"]}, "unknown key(s) methods"),
        ({"kind": "rate_limit", "target": "blobs"}, "'blobs' is not one of telegram"),
        ({"kind": "lose_data", "target": "repo"}, "'repo' is not one of queue, state"),
        ({"kind": "slow_log", "duration_s": 5}, "missing required key 'cost_s'"),
        ({"kind": "slow_log", "cost_s": 0}, "cost_s: must be > 0"),
        ({"kind": "log_storm", "rate_per_s": 5}, "finite duration_s"),
        ({"kind": "typo", "target": "blobs"}, "'typo' is not one of"),
        ({"kind": "error", "target": "blobs", "probability": 2}, "probability: must be <= 1"),
    ],
)
def test_each_kind_takes_only_its_own_keys_and_targets(fault: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario({"scenario": {"name": "x"}, "faults": [fault]}, "bad.toml")
    assert message in str(info.value)
    assert "bad.toml.faults[0]" in str(info.value)
