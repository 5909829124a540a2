"""Scenario files: loading, defaults and the errors a typo gets."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from sim.simulator.capacity import DEFAULT_BASE
from sim.simulator.scenario import (
    DEFAULT_INVARIANTS,
    Latency,
    ScenarioError,
    load_scenario,
    parse_scenario,
    resolve_scenario_path,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_every_shipped_scenario_loads() -> None:
    paths = sorted(SCENARIOS.glob("*.toml"))
    assert any(p.stem == "smoke" for p in paths)
    for path in paths:
        scenario = load_scenario(path)
        assert scenario.name
        scenario.bot.build_settings()


def test_smoke_scenario_reads_as_written() -> None:
    smoke = load_scenario(SCENARIOS / "smoke.toml")
    assert smoke.users.count == 20
    assert smoke.service("repo").session_limit == 4
    assert smoke.service("telegram").latency.dist == "lognormal"
    assert smoke.invariants.check == DEFAULT_INVARIANTS
    assert smoke.faults == ()


def test_defaults_make_a_minimal_scenario() -> None:
    scenario = parse_scenario({"scenario": {"name": "tiny"}})
    assert scenario.users.count == 10 and scenario.duration_s == 60.0
    assert scenario.service("blobs").latency_of("put").sample(random.Random(1)) == 0.0


def test_faults_bot_settings_and_deadlines_are_parsed() -> None:
    scenario = parse_scenario(
        {
            "scenario": {"name": "x"},
            "bot": {"workers": 2, "deadlines": {"storage.upload": 3}, "settings": {"poll_timeout_s": 5}},
            "faults": [
                {"kind": "hang", "target": "blobs", "at_s": 10, "duration_s": 30, "methods": ["put"]},
                {"kind": "crash", "at_s": 5, "duration_s": 2},
                {"kind": "latency", "target": "repo", "at_s": 0, "extra": {"dist": "uniform", "max_s": 2}},
            ],
        }
    )
    settings = scenario.bot.build_settings()
    assert settings.deadline("storage.upload") == 3.0 and settings.deadline("handler") == 8.0
    assert settings.poll_timeout_s == 5 and scenario.bot.workers == 2
    hang, crash, slow = scenario.faults
    assert (hang.at_s, hang.end_s, hang.methods) == (10.0, 40.0, ("put",))
    assert crash.target == "bot"
    assert slow.duration_s == math.inf and slow.extra.dist == "uniform"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"scenario": {"name": "x", "duraton_s": 5}}, "unknown key(s) duraton_s"),
        ({"scenario": {"name": "x"}, "users": {"count": -1}}, "users.count: must be >= 0"),
        ({"scenario": {"name": "x"}, "users": {"arrival": "burst"}}, "'burst' is not one of"),
        ({"scenario": {"name": "x"}, "services": {"postgres": {}}}, "services: unknown key(s) postgres"),
        ({"scenario": {"name": "x"}, "services": {"repo": {"latency": {"dist": "gauss"}}}}, "dist"),
        ({"scenario": {"name": "x"}, "services": {"repo": {"latency": {"dist": "constant"}}}}, "value_s"),
        ({"scenario": {"name": "x"}, "faults": [{"kind": "hang"}]}, "missing required key 'target'"),
        ({"scenario": {"name": "x"}, "faults": [{"kind": "crash", "at_s": 1}]}, "needs duration_s"),
        ({"scenario": {"name": "x"}, "faults": [{"kind": "latency", "target": "repo"}]}, "'extra'"),
        ({"scenario": {"name": "x"}, "bot": {"deadlines": {"db.query": 1}}}, "unknown deadline 'db.query'"),
        ({"scenario": {"name": "x"}, "bot": {"settings": {"colour": 1}}}, "unknown setting 'colour'"),
        ({"scenario": {"name": "x"}, "invariants": {"check": ["no_bugs"]}}, "'no_bugs' is not one of"),
        ({"scenario": {"name": "x", "seed": True}}, "expected an integer, got a boolean"),
    ],
)
def test_invalid_scenarios_say_where_and_what(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, "bad.toml")
    assert message in str(info.value)
    assert "bad.toml" in str(info.value)


def test_unreadable_files_and_unknown_names_are_scenario_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[scenario\nname=1")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(broken)
    with pytest.raises(ScenarioError, match="no scenario named 'nope'"):
        resolve_scenario_path("nope", (tmp_path,))
    assert resolve_scenario_path("smoke", (tmp_path, SCENARIOS)) == SCENARIOS / "smoke.toml"
    assert resolve_scenario_path(str(broken), ()) == broken


def test_latency_distributions_respect_their_bounds() -> None:
    rng = random.Random(3)
    pareto = Latency("pareto", min_s=0.1, alpha=1.2, max_s=30.0)
    draws = [pareto.sample(rng) for _ in range(2000)]
    assert min(draws) >= 0.1 and max(draws) <= 30.0
    assert max(draws) > 1.0  # a heavy tail shows up in 2000 draws
    uniform = Latency("uniform", min_s=1.0, max_s=2.0)
    assert all(1.0 <= uniform.sample(rng) <= 2.0 for _ in range(100))


def test_the_capacity_sweep_finds_its_base_scenario() -> None:
    assert DEFAULT_BASE == SCENARIOS / "launch-day.toml" and DEFAULT_BASE.exists()
