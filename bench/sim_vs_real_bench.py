"""The simulator against the real stack: the same population and configuration, per operation.

    just bench sim_vs_real                                  # the newest bench/out/stack-*.json
    python bench/sim_vs_real_bench.py bench/out/stack-<stamp>.json --seeds 5

For each phase of a ``just bench stack`` run (users within 2 s; the bot with no job
workers, one worker process with one job at a time, 4 database sessions, Telegram's
limits enforced) the simulator runs the same population on the measured service
model (scenarios/models/measured.toml: the database per round trip and commit, Redis,
the storage and Bot API emulators as measured over loopback) with the worker tree's
CPU per job from the stack run, stretched by the machine's load during the phase (a
runnable process gets about cores / load of a core). It prints p50/p95 per operation and
profiles/s, real beside simulated (the median over seeds), and the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from sim.simulator.runner import simulate  # noqa: E402
from sim.simulator.scenario import merge_tables, parse_scenario  # noqa: E402
from sim.simulator.scenario.dbmodel import model_path  # noqa: E402

# The stack's operation -> the simulator's (the simulated users press no buttons).
OPS = {"command": "user.start", "receipt": "user.ack", "upload→profile": "user.answer"}
MEAN_ROWS = 670  # the bench's files: 5-49 KB of ~40-byte rows
CORES = 2


def scenario_for(phase: dict[str, Any], model: str, phase_limit_s: float) -> dict[str, Any]:
    measured = tomllib.loads(model_path(model).read_text(encoding="utf-8"))
    services = measured["sim"]["services"]
    # On the shared box a runnable process gets about cores / load of a core: the worker
    # tree's CPU per job, measured in CPU seconds, takes that much longer in wall time.
    stretch = max(1.0, float(phase.get("load_1m_after", CORES)) / CORES)
    cpu_per_job_s = float(phase["cpu_ms_per_job_workers"]) / 1000 * stretch
    base = {
        "scenario": {
            "name": f"stack-{phase['phase']}",
            "duration_s": phase_limit_s,  # cut where the real phase was cut
            "settle_s": 0.0,
        },
        "users": {
            "count": int(phase["users"]),
            "arrival": "uniform",
            "spread_s": 2.0,
            "send_start": True,
            "languages": {"en": 1.0},
            "files": {"rows": MEAN_ROWS, "variants": 8, "mix": {"good": 1.0}},
            "answer_deadline_s": 120.0,
        },
        "services": {
            "repo": {"session_limit": 4, "model": model},
            **{name: services[name] for name in ("telegram", "state", "queue", "blobs")},
        },
        "cpu": {"cores": CORES, "mode": "offloaded", "default": {"base_s": cpu_per_job_s, "per_mb_s": 0.0}},
        "bot": {"workers": 0, "worker_processes": 1, "worker_process_workers": 1},
    }
    return merge_tables(base, {})


def run_phase(phase: dict[str, Any], model: str, seeds: int, phase_limit_s: float) -> dict[str, Any]:
    scenario = parse_scenario(scenario_for(phase, model, phase_limit_s), "sim_vs_real")
    per_seed: list[dict[str, Any]] = []
    for seed in range(1, seeds + 1):
        run = simulate(scenario, seed, keep_trace=True)
        uploads, answers = [], []
        for line in run.trace.events:
            at, kind, *rest = line.split(" ", 2)
            if kind == "user.upload":
                uploads.append(float(at))
            elif kind == "user.answer" and rest and "analysed" in rest[0]:
                answers.append(float(at))
        span = max(answers) - min(uploads) if answers and uploads else float("nan")
        latency = run.report.latency
        per_seed.append(
            {
                **{f"{op}.p50": latency[sim].p50 for op, sim in OPS.items() if sim in latency},
                **{f"{op}.p95": latency[sim].p95 for op, sim in OPS.items() if sim in latency},
                "profiles_per_s": len(answers) / span if span > 0 else float("nan"),
                "profiles": len(answers),
            }
        )
    keys = per_seed[0].keys()
    return {key: statistics.median(run[key] for run in per_seed) for key in keys}


def _ratio(sim: float, real: float) -> str:
    if not real or real != real or sim != sim:
        return "-"
    return f"{sim / real:.2f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="just bench sim_vs_real", description=__doc__)
    parser.add_argument("stack_json", nargs="?", type=Path, default=None)
    parser.add_argument("--model", default="measured")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    path = args.stack_json or max((ROOT / "bench" / "out").glob("stack-2*.json"), default=None)
    if path is None:
        parser.error("no bench/out/stack-*.json: run `just bench stack --quick` first")
    stack = json.loads(path.read_text(encoding="utf-8"))
    header = stack["header"]
    print(f"real: {path.name} ({header['date']}, load {header.get('load_1m_before', '?'):.1f} before)")
    print("| users | operation | real p50 / p95 | simulated p50 / p95 | ratio p50 / p95 |")
    print("|---:|---|---|---|---|")
    for phase in stack["phases"]:
        if phase.get("peer") or not str(phase["phase"]).startswith("burst"):
            continue
        limit = float(phase.get("wall_s", 30.0))
        sim = run_phase(phase, args.model, args.seeds, limit)
        for op in OPS:
            real = phase["latency"].get(op)
            if real is None:
                continue
            p50, p95 = sim.get(f"{op}.p50", float("nan")), sim.get(f"{op}.p95", float("nan"))
            print(
                f"| {phase['users']} | {op} | {real['p50']:.2f} / {real['p95']:.2f} s (n={real['n']}) "
                f"| {p50:.2f} / {p95:.2f} s | {_ratio(p50, real['p50'])} / {_ratio(p95, real['p95'])} |"
            )
        real_rate = float(phase["profiles_per_s"])
        print(
            f"| {phase['users']} | profiles/s | {real_rate:.1f} | {sim['profiles_per_s']:.1f} "
            f"({sim['profiles']:.0f} profiles) | {_ratio(sim['profiles_per_s'], real_rate)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
