"""Work in flight stays within the bot's limits: counted from outside the bot's bookkeeping."""

from __future__ import annotations

from typing import Any

from sim.simulator.runner import run_scenario
from sim.simulator.scenario import parse_scenario


def _burst(max_concurrent_updates: int, worker_concurrency: int) -> dict[str, Any]:
    return {
        "scenario": {"name": "work-limits", "duration_s": 600},
        "users": {"count": 12, "arrival": "all_at_once", "answer_deadline_s": 300.0},
        "bot": {
            "settings": {
                "max_concurrent_updates": max_concurrent_updates,
                "worker_concurrency": worker_concurrency,
            }
        },
    }


def test_a_burst_fills_the_limits_and_never_passes_them() -> None:
    report = run_scenario(parse_scenario(_burst(3, 2), "work-limits.toml"))
    assert report.invariants["work_within_limits"], report.details["invariant_notes"]
    work = report.details["work_in_flight"]
    # The burst is larger than both limits: the counts reach them (the check is not vacuous).
    assert work == {"peak_handlers": 3, "peak_jobs_per_worker": 2}
