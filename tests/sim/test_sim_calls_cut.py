"""Every call to another service is cut by a deadline: the simulator times each one.

The bounds are the simulator's own (twice the design's deadlines), so a wrong entry in
the bot's policy table is caught, not trusted.
"""

from __future__ import annotations

from typing import Any

from sim.simulator.runner import run_scenario
from sim.simulator.scenario import parse_scenario


def _scenario(**bot: Any) -> dict[str, Any]:
    return {
        "scenario": {"name": "calls-cut", "duration_s": 900},
        "users": {"count": 6, "arrival": "uniform", "spread_s": 60.0, "answer_deadline_s": 600.0},
        "bot": bot,
        # Postgres hangs for a while: only the bot's deadlines end those calls.
        "faults": [{"kind": "hang", "target": "repo", "at_s": 20.0, "duration_s": 60.0, "probability": 0.5}],
    }


def test_hung_calls_are_cut_by_the_policy_deadlines() -> None:
    report = run_scenario(parse_scenario(_scenario(), "calls-cut.toml"))
    assert report.invariants["every_call_cut"], report.details["invariant_notes"]
    longest = report.details["outside_calls"]["longest_s"]
    assert 9.0 <= longest["repo"] <= 20.0  # the hangs lasted until db.statement's 10 s


def test_a_deadline_of_minutes_in_the_policy_table_is_a_failure() -> None:
    data = _scenario(deadlines={"db.statement": 300.0, "db.record_upload": 300.0, "handler": 600.0})
    report = run_scenario(parse_scenario(data, "calls-cut.toml"))
    assert report.invariants["every_call_cut"] is False
    notes = report.details["invariant_notes"]
    assert any("repo." in note and "not cut by a deadline" in note for note in notes)
