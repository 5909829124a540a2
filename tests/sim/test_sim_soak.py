"""The soak, scaled down: scenarios/soak-week.toml with fewer people over two virtual
days and retention windows to match. Everything the bot keeps (the metrics recorder,
every table, the stored files, Redis's keys) is flat once the windows have turned over;
and the judge of flatness sees growth when there is some (retention that never comes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.simulator.growth import GROWTH_COLUMNS, flatness
from sim.simulator.runner import simulate
from sim.simulator.scenario import load_scenario, with_overrides

SOAK = Path(__file__).resolve().parents[2] / "scenarios" / "soak-week.toml"
DAY = 86400.0

SCALED: dict[str, Any] = {
    "scenario": {"duration_s": 2 * DAY},
    "users": {
        "count": 300,
        "population": 180,
        "rate_per_s": 120 / (1.9 * DAY),  # the 120 that are not the launch, over the two days
        "peak": {"count": 180, "at_s": 0.0, "spread_s": 0.3 * DAY},
    },
    "bot": {
        "claims_retention_h": 3.0,
        "settings": {
            "data_retention_days": 0.25,
            "rejected_retention_h": 1.0,
            "retention_sweep_every_s": 1800.0,
        },
    },
    "soak": {"sample_every_s": 900.0, "latency_samples": 300, "flat_after_s": 0.75 * DAY},
}


def scaled(**overrides: Any) -> Any:
    scenario = with_overrides(load_scenario(SOAK), SCALED)
    return with_overrides(scenario, overrides) if overrides else scenario


def test_state_is_flat_after_the_retention_windows() -> None:
    report = simulate(scaled()).report
    growth = report.details["growth"]
    assert report.ok, [k for k, met in report.expectations.items() if not met]
    assert growth["flat"] == {column: True for column in GROWTH_COLUMNS[1:]}
    peaks = growth["early_late_peak"]
    # Flat, and at work: rows were deleted (far fewer kept than ever recorded), everyone came.
    assert peaks["uploads"][2] < report.uploads["sent"] / 2
    assert peaks["users"][1] == 180
    assert peaks["processed_updates"][1] > 0 and peaks["blobs"][1] > 0
    logged = report.details["log"]["top_events"]
    assert logged.get("retention.swept", 0) > 0


def test_growth_shows_when_retention_never_comes() -> None:
    keep_all = {
        "settings": {"data_retention_days": 30.0, "rejected_retention_h": 1.0},
        "claims_retention_h": 48.0,
    }
    report = simulate(scaled(bot=keep_all)).report
    flat = report.details["growth"]["flat"]
    growing = {column for column, ok in flat.items() if not ok}
    assert {"uploads", "jobs", "results", "blobs", "processed_updates"} <= growing
    assert not report.ok  # the growth fails the run's expectations


def test_flatness_judge() -> None:
    rows = [[t * 100.0, 50, *([10] * (len(GROWTH_COLUMNS) - 3)), t] for t in range(30)]
    verdicts = {v.column: v.flat for v in flatness(rows, after_s=0.0, tolerance=0.1)}
    assert verdicts[GROWTH_COLUMNS[1]] and not verdicts[GROWTH_COLUMNS[-1]]
