"""Benchmark: how fast the simulator replays one hour of launch day, by population.

    python bench/sim_bench.py                       # 1k, 2k, 5k, 20k users (one virtual hour each)
    python bench/sim_bench.py --populations 2000    # just the launch-day population

Each population is scenarios/launch-day.toml scaled: the same service models, one upload
per user in the hour, 10 % of the users in the peak minute. Each run is a fresh process
(PYTHONHASHSEED pinned, as `just simulate` does), so one run's caches do not help the next.
"speed-up" is virtual seconds per CPU second of the run (``time.process_time`` around
it: on a shared, loaded machine wall time measures the neighbours); the goal is >= 1000x
at 2000 users. Wall seconds are printed too. ``--profile`` prints the run's top functions
by own time (cProfile, which slows it about 5x; the proportions are what matter).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_CHILD = """
import json, sys, time
from pathlib import Path
from sim.simulator.runner import run_scenario
from sim.simulator.scenario import load_scenario, with_overrides
n = int(sys.argv[1])
base = load_scenario(Path(sys.argv[2]))
peak = n // 10
users = {"count": n, "rate_per_s": (n - peak) / 3600, "peak": {"count": peak}}
scenario = with_overrides(base, {"users": users})
if sys.argv[3] == "profile":
    import cProfile, pstats
    profiler = cProfile.Profile()
    profiler.enable()
started = time.process_time()
report = run_scenario(scenario)
cpu = time.process_time() - started
if sys.argv[3] == "profile":
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
print(json.dumps({"virtual": report.virtual_seconds, "wall": report.wall_seconds, "cpu": cpu, "ok": report.ok,
                  "events": report.trace_events, "trace": report.trace_hash[:16],
                  "answer_p95": report.latency["user.answer"].p95, "lost": report.uploads["lost"]}))
"""


def run(population: int, base: Path, profile: bool = False) -> dict[str, object]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", _CHILD, str(population), str(base), "profile" if profile else "-"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    if profile:
        sys.stderr.write(out.stderr)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--populations", default="1000,2000,5000,20000")
    parser.add_argument("--base", default=str(ROOT / "scenarios" / "launch-day.toml"))
    parser.add_argument("--profile", action="store_true", help="cProfile each run (to stderr)")
    args = parser.parse_args()
    print(
        "| users | virtual s | CPU s | speed-up (CPU) | wall s | CPU ms / user "
        "| trace events | trace | p95 answer s | lost | ok |"
    )
    print("|------:|----------:|------:|------:|------:|------:|------:|------|------:|-----:|----|")
    for population in (int(p) for p in args.populations.split(",")):
        r = run(population, Path(args.base), args.profile)
        virtual, wall, cpu = float(str(r["virtual"])), float(str(r["wall"])), float(str(r["cpu"]))
        print(
            f"| {population} | {virtual:.0f} | {cpu:.2f} | {virtual / cpu:.0f}x | {wall:.2f} | "
            f"{1000 * cpu / population:.2f} | {r['events']} | {r['trace']} | {r['answer_p95']} "
            f"| {r['lost']} | {r['ok']} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
