"""The real bot core in the simulated world: scenarios end to end, determinism, CLI."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio

from sim.__main__ import EXIT_INVARIANT, EXIT_OK, EXIT_USAGE, main
from sim.simulator.kernel import first_divergence
from sim.simulator.runner import run_scenario, simulate
from sim.simulator.scenario import Scenario, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scenarios" / "smoke.toml"


def _scenario(**tables: Any) -> Scenario:
    data: dict[str, Any] = {"scenario": {"name": "test", "duration_s": 300}}
    data.update(tables)
    return parse_scenario(data, "test.toml")


def test_smoke_scenario_serves_every_user() -> None:
    report = run_scenario(load_scenario(SMOKE))
    assert report.uploads == {"sent": 20, "accepted": 20, "analysed": 20, "failed_with_message": 0, "lost": 0}
    assert report.ok and all(report.invariants.values())
    assert set(report.invariants) >= {
        "no_lost_upload",
        "every_user_answered_within_deadline",
        "no_leaked_permits",
        "no_stuck_job",
        "each_update_once",
    }
    answer = report.latency["user.answer"]
    assert answer.count == 20 and answer.p99 <= 30.0
    assert report.virtual_seconds < 300  # ended once everyone was answered (and a reconciler pass)
    assert report.details["db"]["max_sessions_in_use"] <= 4
    assert report.details["cpu"]["cache_hits"] == 20 - 4  # four distinct files
    data = json.loads(report.to_json())
    for key in ("scenario", "seed", "trace_hash", "virtual_seconds", "wall_seconds", "users", "uploads"):
        assert key in data
    assert set(data["latency"]["user.answer"]) >= {"p50", "p95", "p99"}


def test_same_seed_same_trace_other_seed_other_trace() -> None:
    smoke = load_scenario(SMOKE)
    first = simulate(smoke, seed=11, keep_trace=True)
    second = simulate(smoke, seed=11, keep_trace=True)
    other = simulate(smoke, seed=12)
    assert first_divergence(first.trace.events, second.trace.events) is None
    assert first.report.trace_hash == second.report.trace_hash
    assert first.report.trace_hash != other.report.trace_hash
    assert first.trace.count > 100


def test_a_storage_hang_is_cut_by_the_deadline_and_retried() -> None:
    scenario = _scenario(
        users={"count": 5, "files": {"rows": 30, "variants": 1}, "answer_deadline_s": 60},
        faults=[{"kind": "hang", "target": "blobs", "methods": ["put"], "at_s": 0, "duration_s": 20}],
    )
    report = run_scenario(scenario)
    assert report.uploads["analysed"] == 5 and report.ok
    assert report.details["faults_injected"]["blobs.hang"] >= 1
    assert report.latency["storage.upload"].outcomes["timeout"] >= 1
    # Every put in the window hung, and the core's deadline is exactly 15 virtual seconds.
    assert report.latency["storage.upload"].max == pytest.approx(15.0)
    assert report.latency["user.answer"].p50 >= 15.0


def test_synchronous_logging_costs_virtual_time_on_the_loop() -> None:
    scenario = _scenario(users={"count": 3, "files": {"rows": 30, "variants": 1}}, log={"mode": "sync"})
    report = run_scenario(scenario)
    log = report.details["log"]
    assert log["records"] > 0
    assert log["blocked_s"] == pytest.approx(log["records"] * 0.002)


def test_a_bot_that_dies_fails_the_run_with_its_error() -> None:
    async def broken_bot(
        *args: Any, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED, **kw: Any
    ) -> None:
        task_status.started(None)
        await trio.sleep(1.0)
        raise RuntimeError("boom")

    report = simulate(_scenario(users={"count": 2}), bot_main=broken_bot).report
    assert not report.ok
    assert report.invariants["bot_kept_running"] is False
    assert report.details["errors"] == ["RuntimeError: boom"]
    assert report.virtual_seconds == pytest.approx(1.0)  # the run stopped when the bot died


def test_a_bot_that_reaches_for_the_network_is_stopped() -> None:
    async def escaping_bot(
        *args: Any, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED, **kw: Any
    ) -> None:
        task_status.started(None)
        await trio.open_tcp_stream("api.telegram.org", 443)

    report = simulate(_scenario(users={"count": 1}), bot_main=escaping_bot).report
    assert "SimulationEscape" in report.details["errors"][0]


def test_cli_prints_a_report_and_exits_by_the_invariants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["smoke", "--json"]) == EXIT_OK
    printed = json.loads(capsys.readouterr().out)
    assert printed["scenario"] == "smoke" and printed["ok"] is True

    impatient = tmp_path / "impatient.toml"
    impatient.write_text(
        '[scenario]\nname = "impatient"\n[users]\ncount = 2\nanswer_deadline_s = 0\n'
        "[invariants]\nmargin_s = 0\n[services.telegram]\nlatency = { dist = 'constant', value_s = 0.1 }\n"
    )
    assert main([str(impatient)]) == EXIT_INVARIANT
    assert "[FAIL] every_user_answered_within_deadline" in capsys.readouterr().out

    picture = tmp_path / "smoke.png"
    assert main(["smoke", "--plot", str(picture)]) == EXIT_OK
    assert picture.read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()

    assert main(["no-such-scenario"]) == EXIT_USAGE
    assert "no scenario named" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_pins_the_hash_seed_and_checks_determinism() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONHASHSEED"] = "random"
    env["PYTHONPATH"] = str(ROOT / "src")  # this checkout's code, whatever is installed
    done = subprocess.run(
        [sys.executable, "-m", "sim", "smoke", "--json", "--check-determinism"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == EXIT_OK, done.stderr
    report = json.loads(done.stdout)
    assert report["replay"]["PYTHONHASHSEED"] == "0"
    assert report["details"]["determinism"]["identical"] is True
    # And the trace does not depend on this process's hash seed either.
    assert report["trace_hash"] == run_scenario(load_scenario(SMOKE)).trace_hash


def test_a_crashed_bot_restarts_and_loses_nothing() -> None:
    scenario = _scenario(
        users={"count": 8, "arrival": "uniform", "spread_s": 4, "files": {"rows": 30, "variants": 2}},
        services={"blobs": {"latency": {"dist": "constant", "value_s": 1.0}}},
        faults=[{"kind": "crash", "at_s": 2.5, "duration_s": 3}],
        invariants={"check": ["no_lost_upload", "no_leaked_permits", "no_stuck_job", "each_update_once"]},
    )
    report = run_scenario(scenario)
    assert report.details["processes"]["bot"]["crashes"] == 1
    assert report.uploads["lost"] == 0 and report.ok


def test_a_run_ends_on_time_even_while_the_bot_is_down() -> None:
    scenario = _scenario(
        users={"count": 2, "start_s": 5, "send_start": False},
        faults=[{"kind": "crash", "at_s": 1, "duration_s": 10_000}],
    )
    scenario = replace(scenario, duration_s=30.0)
    report = run_scenario(scenario)
    assert report.virtual_seconds == pytest.approx(30.0)
    assert report.uploads["lost"] == 2
    assert report.invariants["no_lost_upload"] is False


def test_users_arriving_one_at_a_time_are_all_served() -> None:
    scenario = _scenario(
        users={"count": 3, "arrival": "uniform", "spread_s": 60, "files": {"rows": 30, "variants": 1}},
        services={"telegram": {"latency": {"dist": "constant", "value_s": 0.05}}},
    )
    report = run_scenario(scenario)
    assert report.uploads["analysed"] == 3, report.to_text()


def test_a_nondeterministic_bot_is_caught_at_its_first_divergent_event() -> None:
    runs = itertools.count()  # state that leaks from one run into the next

    async def leaky_bot(
        services: Any,
        settings: Any,
        *,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
        **kw: Any,
    ) -> None:
        task_status.started(None)
        await trio.sleep(0.5)
        services.log.emit(20, "bot.hello", {"run": next(runs)})
        await trio.sleep_forever()

    scenario = _scenario(users={"count": 1, "send_start": False})
    first = simulate(scenario, keep_trace=True, bot_main=leaky_bot)
    second = simulate(scenario, keep_trace=True, bot_main=leaky_bot)
    assert first.report.trace_hash != second.report.trace_hash
    divergence = first_divergence(first.trace.events, second.trace.events)
    assert divergence is not None
    assert divergence.first == "0.500000 log INFO bot.hello run=0\n"
    assert divergence.second == "0.500000 log INFO bot.hello run=1\n"


def test_bot_api_faults_act_inside_the_emulated_telegram() -> None:
    """A wire-level 429 inside the world reaches the bot through the Telegram adapter."""
    scenario = _scenario(
        users={"count": 4, "files": {"rows": 30, "variants": 1}},
        faults=[
            {
                "kind": "botapi_error",
                "methods": ["sendMessage"],
                "error_code": 429,
                "description": "Too Many Requests: retry after 2",
                "retry_after": 2,
                "at_s": 0,
                "duration_s": 5,
                "probability": 0.5,
            }
        ],
    )
    first = simulate(scenario, keep_trace=True)
    report = first.report
    assert report.details["faults_injected"]["telegram.botapi_error"] >= 1
    broken = {name for name, held in report.invariants.items() if not held}
    assert broken == set(), report.details["invariant_notes"]
    assert report.uploads["analysed"] == 4
    assert any("fault botapi.sendMessage botapi_error" in e for e in first.trace.events)
    assert simulate(scenario).report.trace_hash == report.trace_hash
