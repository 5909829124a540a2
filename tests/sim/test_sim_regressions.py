"""Scenarios kept in scenarios/regressions/: each replays a bug the simulator found.

A known failure carries ``[expect] invariants_fail``: it passes while the bug is there
and fails once the bot is fixed, the signal to turn it into a plain regression.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.simulator.runner import run_scenario
from sim.simulator.scenario import load_scenario

REGRESSIONS = sorted((Path(__file__).resolve().parents[2] / "scenarios" / "regressions").glob("*.toml"))


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.stem for p in REGRESSIONS])
def test_regression_scenario_meets_its_expectations(path: Path) -> None:
    report = run_scenario(load_scenario(path))
    unmet = [k for k, met in report.expectations.items() if not met]
    assert report.ok, f"{path.stem}: not met: {unmet}; notes: {report.details['invariant_notes']}"
