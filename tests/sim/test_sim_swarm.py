"""Swarm testing: each seed names one random world; a failure replays from its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.simulator.runner import simulate
from sim.simulator.scenario import INVARIANTS, load_scenario, parse_scenario
from sim.simulator.swarm import FAULT_DRAWS, SwarmRun, draw_scenario, run_seed, write_failure

# Seeds the bot as shipped is known to fail (see scenarios/regressions/), kept out of CI's
# bounded swarm until the bot is fixed; every other seed of 1..CI_SEEDS must hold.
KNOWN_FAILING: frozenset[int] = frozenset()  # seeds of bugs not fixed yet
CI_SEEDS = 20


def test_a_seed_names_one_scenario_and_every_draw_is_valid() -> None:
    assert draw_scenario(11) == draw_scenario(11)
    assert draw_scenario(11) != draw_scenario(12)
    kinds: set[str] = set()
    for seed in range(1, 200):
        data = draw_scenario(seed)
        parse_scenario(data)  # within every table's valid ranges
        kinds |= {f["kind"] for f in data["faults"]}
        assert data["invariants"]["check"] == list(INVARIANTS)
    expected = {"latency", "hang", "error", "disconnect", "rate_limit", "botapi_error", "crash", "lose_data"}
    assert expected <= kinds
    assert len(FAULT_DRAWS) >= 8


@pytest.mark.parametrize("seed", [s for s in range(1, CI_SEEDS + 1) if s not in KNOWN_FAILING])
def test_bounded_swarm_holds_every_invariant(seed: int) -> None:
    run = run_seed(seed)
    assert not run.broken, f"swarm seed {seed}: {run.broken} {run.notes}"


def test_a_failure_file_replays_the_same_run(tmp_path: Path) -> None:
    run = run_seed(3)
    failed = SwarmRun(3, ("no_lost_upload",), ("a note",), run.trace_hash, run.virtual_seconds, 0.0)
    path = write_failure(3, failed, tmp_path)
    assert "seed 3" in path.read_text()
    replay = simulate(load_scenario(path)).report
    assert replay.trace_hash == run.trace_hash
