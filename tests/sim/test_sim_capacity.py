"""The capacity sweep's decisions: seed confidence with an early stop, bisection, and
the database variants it compares (the simulations themselves are the scenarios')."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from sim.simulator import capacity
from sim.simulator.capacity import (
    AUDIT,
    Confidence,
    boundary_near,
    measure,
    point_scenario,
    sustained_population,
    table,
)
from sim.simulator.scenario import load_scenario
from sim.simulator.scenario.dbmodel import load_model

BASE = load_scenario(capacity.DEFAULT_BASE)


def _report(ok: bool) -> Any:
    return SimpleNamespace(
        expectations={"p95 user.start < 3 s": ok},
        latency={"user.start": SimpleNamespace(p95=1.0 if ok else 9.0)},
        wall_seconds=0.5,
    )


def _fake_world(
    monkeypatch: pytest.MonkeyPatch, limit: int, failing_seeds: set[int]
) -> list[tuple[int, int]]:
    """Populations up to ``limit`` meet the targets except on ``failing_seeds``; beyond it, none."""
    runs: list[tuple[int, int]] = []

    def run_scenario(scenario: Any, seed: int) -> Any:
        population = int(scenario.name.rsplit("-n", 1)[1])
        runs.append((population, seed))
        return _report(population <= limit and seed not in failing_seeds)

    monkeypatch.setattr(capacity, "run_scenario", run_scenario)
    return runs


def test_a_population_holds_on_19_of_20_seeds_and_stops_at_the_second_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = _fake_world(monkeypatch, 1000, {7})
    held = measure(BASE, AUDIT, 4, 1000, Confidence(20, 1))
    assert held.ok and held.seeds_run == 20 and held.seeds_failed == [7]
    runs.clear()
    failed = measure(BASE, AUDIT, 4, 2000, Confidence(20, 1))
    assert not failed.ok and failed.seeds_failed == [1, 2] and len(runs) == 2  # early stop
    _fake_world(monkeypatch, 1000, {3, 9})
    assert not measure(BASE, AUDIT, 4, 1000, Confidence(20, 1)).ok  # 18 of 20 is not enough


def test_bisection_finds_the_largest_population_that_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_world(monkeypatch, 5300, {4})
    row = sustained_population(
        BASE, AUDIT, 2, confidence=Confidence(20, 1), start=2000, ceiling=64000, resolution=0.05
    )
    assert row.first_failure is not None
    assert row.sustained <= 5300 < row.first_failure
    assert row.first_failure - row.sustained <= max(50, int(row.sustained * 0.05))


def test_a_claimed_boundary_is_verified_or_walked_a_step_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _fake_world(monkeypatch, 5300, {4})
    confidence = Confidence(20, 1)
    row = boundary_near(BASE, AUDIT, 2, confidence=confidence, guess=5200, step=200)
    assert (row.sustained, row.first_failure, row.complete) == (5200, 5400, True)
    assert sorted({population for population, _ in runs}) == [5200, 5400]  # the claim and one step up
    row = boundary_near(BASE, AUDIT, 2, confidence=confidence, guess=5800, step=200)
    assert (row.sustained, row.first_failure) == (5200, 5400)  # walked down from a wrong claim
    short = boundary_near(BASE, AUDIT, 2, confidence=confidence, guess=6000, step=200, max_points=2)
    assert (short.sustained, short.first_failure, short.complete) == (0, 5800, False)
    assert "none held, fails at 5800 (incomplete)" in table([short], AUDIT, 64000, confidence)


def test_database_variants_are_the_measured_model_or_a_flat_cost_per_transaction() -> None:
    measured = point_scenario(BASE, AUDIT, 2, 1000, "measured").service("repo")
    assert measured.session_limit == 2 and measured.db_model() == load_model("measured")
    assert measured.latency.dist == "none"
    flat = point_scenario(BASE, AUDIT, 3, 1000, "60").service("repo").db_model()
    assert flat is not None and flat.transaction.median_s == pytest.approx(0.06)
    assert flat.round_trip.dist == "none" and flat.commit.dist == "none"
    assert flat.connect == load_model("measured").connect
