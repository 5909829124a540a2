"""Swarm testing: each seed names one random world; a failure replays from its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.simulator.runner import simulate
from sim.simulator.scenario import SWARM_INVARIANTS, load_scenario, parse_scenario
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
        assert data["invariants"]["check"] == list(SWARM_INVARIANTS)
    expected = {"latency", "hang", "error", "disconnect", "rate_limit", "botapi_error", "crash", "lose_data"}
    assert expected | {"stop", "partition", "clock_skew"} <= kinds
    assert len(FAULT_DRAWS) >= 8


def test_the_swarm_aims_faults_at_single_processes() -> None:
    aimed: set[tuple[str, str]] = set()
    skews: list[float] = []
    for seed in range(1, 300):
        for fault in draw_scenario(seed)["faults"]:
            if fault["kind"] in ("crash", "stop", "clock_skew"):
                aimed.add((fault["kind"], fault["target"]))
            if fault["kind"] == "partition":
                aimed.add(("partition", fault["process"]))
            if fault["kind"] == "clock_skew":
                skews.append(fault["offset_s"])
    for kind in ("crash", "stop", "partition", "clock_skew"):
        assert {(kind, "bot"), (kind, "worker0"), (kind, "worker1")} <= aimed, kind
    assert ("crash", "worker") in aimed  # every worker process at once, now and then
    assert any(abs(s) < 1 for s in skews) and any(abs(s) > 5 for s in skews)


def test_the_process_faults_leave_the_rest_of_a_seed_as_it_was() -> None:
    """They come from a stream of their own: seed 61 still draws its old world."""
    data = draw_scenario(61)
    assert [f["kind"] for f in data["faults"]][:3] == ["latency", "latency", "botapi_error"]
    assert data["bot"]["worker_processes"] == 2 and data["users"]["count"] == 51


def test_rare_worlds_come_now_and_then_from_their_own_stream() -> None:
    """A database outage past a job's deadline, Telegram calls that hang: a few seeds in
    200 draw each, and seed 61 still draws its old world (checked above)."""
    long_outages = hangs = 0
    for seed in range(1, 201):
        for fault in draw_scenario(seed)["faults"]:
            long_outages += fault.get("target") == "repo" and fault.get("duration_s", 0) > 180
            hangs += fault["kind"] == "hang" and fault.get("target") == "telegram"
    assert 5 <= long_outages <= 60 and 5 <= hangs <= 60


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
