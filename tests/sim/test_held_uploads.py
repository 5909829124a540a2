"""Uploads held while Postgres is unreachable, in the simulator: a restart of the bot
during the hold answers nobody twice, and every held file still gets its profile."""

from __future__ import annotations

from typing import Any

from sim.simulator.runner import run_scenario
from sim.simulator.scenario import Scenario, parse_scenario


def _scenario(**tables: Any) -> Scenario:
    data: dict[str, Any] = {"scenario": {"name": "test", "duration_s": 600}}
    data.update(tables)
    return parse_scenario(data, "test.toml")


def test_a_restart_during_the_hold_tells_each_user_once_and_loses_no_file() -> None:
    scenario = _scenario(
        users={
            "count": 12,
            "arrival": "uniform",
            "start_s": 12,
            "spread_s": 30,
            "answer_deadline_s": 240,
            "files": {"rows": 30, "variants": 2},
        },
        faults=[
            {"kind": "error", "target": "repo", "at_s": 10, "duration_s": 90},
            {"kind": "crash", "target": "bot", "at_s": 60, "duration_s": 5},
        ],
        invariants={
            "check": ["no_lost_upload", "every_user_answered_within_deadline", "no_duplicate_answer"]
        },
    )
    report = run_scenario(scenario)
    assert report.details["processes"]["bot"]["crashes"] == 1
    assert report.uploads["analysed"] == 12, report.to_text()
    assert report.ok, report.to_text()
