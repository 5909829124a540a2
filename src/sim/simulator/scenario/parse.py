"""Scenario files: TOML data validated into a :class:`~sim.simulator.scenario.model.Scenario`.

scenarios/README.md documents every key; errors name the file, the table and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.simulator.scenario.model import Scenario, ScenarioFile
from sim.simulator.schema import ScenarioError, validate


def parse_scenario(data: Mapping[str, Any], source: str = "<memory>") -> Scenario:
    parsed = validate(ScenarioFile, dict(data), source)
    head = parsed.scenario
    name = head.name
    if name is None:
        if source == "<memory>":
            raise ScenarioError(f"{source}.scenario: missing required key 'name'")
        name = Path(source).stem
    scenario = Scenario(
        name=name,
        description=head.description,
        seed=head.seed,
        duration_s=head.duration_s,
        stop_when_done=head.stop_when_done,
        settle_s=head.settle_s,
        users=parsed.users,
        services=parsed.services,
        cpu=parsed.cpu,
        log=parsed.log,
        bot=parsed.bot,
        faults=parsed.faults,
        invariants=parsed.invariants,
        expect=parsed.expect,
        source=source,
        raw=dict(data),
        soak=parsed.soak,
    )
    scenario.bot.build_settings()  # fail here, not mid-run, on a bad settings combination
    return scenario
