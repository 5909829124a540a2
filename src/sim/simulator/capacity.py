"""``python -m sim capacity``: how many users each SESSION_LIMIT sustains, measured.

The audit estimated its capacity table with a formula (2 sessions ~ 500 users ...
5 ~ 3000). Here each point is a simulation of the launch-day model
(scenarios/launch-day.toml: its service latencies, file mix and deadlines) scaled to
a population, and the largest population that meets the targets is found by
doubling, then bisection. Only the busiest slice of the hour is simulated, so a
point costs seconds, not minutes.

Two sets of targets:
- ``audit``: the audit's own. Load: 1 upload per user per hour with 10 % of the users
  arriving within one minute (its "peak"). Targets: p95 < 3 s for a simple operation
  (the /start reply), p95 < 5 s for a CSV upload (the receipt), success >= 95 %.
- ``ours``: the mission (20,000 users on 4 sessions). Load: 1 upload per user per
  hour, Poisson arrivals of returning users (no burst beyond Poisson). Targets: p95
  receipt < 2 s, p95 analysis answer < 15 s, success >= 99 %, every invariant held.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.simulator.runner import run_scenario
from sim.simulator.scenario import Scenario, load_scenario, merge_tables, parse_scenario

AUDIT_ESTIMATES = {2: 500, 3: 1000, 4: 2000, 5: 3000}
SLICE_S = 600.0  # simulated slice of the hour
PEAK_AT_S = 120.0


@dataclass(frozen=True, slots=True)
class Targets:
    name: str
    p95_max: dict[str, float]
    success_min: float
    peak_fraction: float  # share of the population arriving in the peak minute
    send_start: bool
    all_invariants: bool


AUDIT = Targets("audit", {"user.start": 3.0, "user.ack": 5.0}, 0.95, 0.10, True, False)
OURS = Targets("ours", {"user.ack": 2.0, "user.answer": 15.0}, 0.99, 0.0, False, True)


def point_scenario(base: Scenario, targets: Targets, sessions: int, population: int) -> Scenario:
    """The busiest ``SLICE_S`` of an hour of ``population`` users, ``sessions`` DB sessions."""
    hourly = population / 3600.0
    peak = round(targets.peak_fraction * population)
    base_rate = hourly * (1.0 - targets.peak_fraction)
    in_slice = peak + round(base_rate * SLICE_S)
    users: dict[str, Any] = {
        "count": max(1, in_slice),
        "arrival": "poisson",
        "rate_per_s": max(base_rate, 1e-6),
        "send_start": targets.send_start,
        "peak": {"count": min(peak, max(1, in_slice)), "at_s": PEAK_AT_S, "spread_s": 60.0},
    }
    without_expect = {key: value for key, value in base.raw.items() if key != "expect"}
    return parse_scenario(
        merge_tables(
            without_expect,
            {
                "scenario": {
                    "name": f"capacity-{targets.name}-s{sessions}-n{population}",
                    "duration_s": SLICE_S + 600,
                },
                "users": users,
                "services": {"repo": {"session_limit": sessions}},
                "expect": {"p95_max": targets.p95_max, "success_min": targets.success_min},
            },
        ),
        base.source,
    )


@dataclass(slots=True)
class Point:
    population: int
    ok: bool
    p95: dict[str, float]
    success: float
    failed: list[str]
    wall_s: float


@dataclass(slots=True)
class Row:
    sessions: int
    sustained: int
    first_failure: int | None
    points: list[Point] = field(default_factory=list)


def measure(base: Scenario, targets: Targets, sessions: int, population: int, seed: int) -> Point:
    report = run_scenario(point_scenario(base, targets, sessions, population), seed)
    failed = [name for name, met in report.expectations.items() if not met]
    if not targets.all_invariants:
        failed = [name for name in failed if not name.endswith(" holds") or name.startswith("no_lost_upload")]
    p95 = {name: report.latency[name].p95 for name in targets.p95_max if name in report.latency}
    return Point(population, not failed, p95, report.success_rate, failed, report.wall_seconds)


def sustained_population(
    base: Scenario, targets: Targets, sessions: int, *, seed: int, start: int, ceiling: int, resolution: float
) -> Row:
    """Largest population meeting ``targets``: double from ``start``, then bisect."""
    row = Row(sessions, 0, None)

    def ok(population: int) -> bool:
        point = measure(base, targets, sessions, population, seed)
        row.points.append(point)
        return point.ok

    low, high = 0, None
    population = start
    while population <= ceiling:
        if ok(population):
            low = population
            population *= 2
        else:
            high = population
            break
    if high is None:
        row.sustained = low
        return row
    if low == 0:
        low_bound = max(1, start // 8)
        if not ok(low_bound):
            row.sustained, row.first_failure = 0, low_bound
            return row
        low = low_bound
    while high - low > max(50, int(low * resolution)):
        middle = (low + high) // 2
        if ok(middle):
            low = middle
        else:
            high = middle
    row.sustained, row.first_failure = low, high
    return row


def table(rows: list[Row], targets: Targets, ceiling: int) -> str:
    lines = [
        f"| SESSION_LIMIT | audit's estimate | measured ({targets.name} targets) | first failing |",
        "|---|---|---|---|",
    ]
    for row in rows:
        sustained = f">= {row.sustained}" if row.first_failure is None else f"{row.sustained}"
        failing = "-" if row.first_failure is None else str(row.first_failure)
        if row.first_failure is None and row.sustained >= ceiling // 2:
            failing = f"none up to {row.sustained}"
        lines.append(
            f"| {row.sessions} | {AUDIT_ESTIMATES.get(row.sessions, '-')} | {sustained} | {failing} |"
        )
    return "\n".join(lines)


def _why(row: Row) -> str:
    failing = [p for p in row.points if not p.ok]
    if not failing:
        return ""
    first = min(failing, key=lambda p: p.population)
    return f"s{row.sessions} at {first.population}: " + ", ".join(first.failed)


DEFAULT_BASE = Path(__file__).resolve().parents[3] / "scenarios" / "launch-day.toml"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim capacity", description=__doc__)
    parser.add_argument("--base", default=str(DEFAULT_BASE))
    parser.add_argument("--targets", choices=("audit", "ours", "both"), default="both")
    parser.add_argument("--sessions", default="2,3,4,5", help="comma-separated SESSION_LIMIT values")
    parser.add_argument("--start", type=int, default=1000, help="first population tried")
    parser.add_argument("--ceiling", type=int, default=64000, help="largest population tried")
    parser.add_argument("--resolution", type=float, default=0.05, help="bisect until within this share")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    base = load_scenario(Path(args.base))
    chosen = {"audit": [AUDIT], "ours": [OURS], "both": [AUDIT, OURS]}[args.targets]
    sessions = [int(s) for s in args.sessions.split(",")]
    started = time.perf_counter()
    results: dict[str, list[Row]] = {}
    for targets in chosen:
        rows = []
        for limit in sessions:
            row = sustained_population(
                base,
                targets,
                limit,
                seed=args.seed,
                start=args.start,
                ceiling=args.ceiling,
                resolution=args.resolution,
            )
            rows.append(row)
            if not args.json:
                print(
                    f"  {targets.name}: SESSION_LIMIT {limit}: sustains {row.sustained} users "
                    f"({len(row.points)} runs)",
                    flush=True,
                )
        results[targets.name] = rows
    if args.json:
        print(json.dumps({name: [_row_dict(r) for r in rows] for name, rows in results.items()}, indent=2))
        return 0
    for targets in chosen:
        rows = results[targets.name]
        print(
            f"\n{targets.name} targets: p95 "
            + ", ".join(f"{k} < {v:g} s" for k, v in targets.p95_max.items())
            + f", success >= {targets.success_min:.0%}"
            + (", every invariant" if targets.all_invariants else "")
        )
        print(table(rows, targets, args.ceiling))
        for row in rows:
            if why := _why(row):
                print(f"  first failure {why}")
    print(f"\n({time.perf_counter() - started:.0f} s wall; base {args.base}, seed {args.seed})")
    return 0


def _row_dict(row: Row) -> dict[str, Any]:
    return {
        "sessions": row.sessions,
        "sustained": row.sustained,
        "first_failure": row.first_failure,
        "points": [
            {
                "population": p.population,
                "ok": p.ok,
                "p95": p.p95,
                "success": p.success,
                "failed": p.failed,
                "wall_s": p.wall_s,
            }
            for p in row.points
        ],
    }
