"""``python -m sim capacity``: how many users each SESSION_LIMIT sustains, with seed
confidence and its sensitivity to database latency.

Each point is a simulation of the launch-day model (scenarios/launch-day.toml: its
Telegram and storage latencies, file mix and deadlines) scaled to a population, on one
database model: the measured one (scenarios/models/measured.toml: this machine's
Postgres through pgbouncer, per round trip and commit) or a flat cost per transaction
(``--db measured,30,60``: ~30 ms and ~60 ms, lognormal, a remote database). Only the
busiest slice of the hour is simulated, so a point costs seconds, not minutes.

A population *holds* when at least ``seeds - allowed`` of ``--seeds`` seeds meet the
targets (19 of 20 by default); a point stops as soon as ``allowed + 1`` seeds have
failed, so a population well past the limit costs two runs. The largest population
that holds is found by doubling from ``--start``, then bisection to ``--resolution``.

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
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.simulator.runner import run_scenario
from sim.simulator.scenario import Scenario, load_scenario, merge_tables, parse_scenario

AUDIT_ESTIMATES = {2: 500, 3: 1000, 4: 2000, 5: 3000}
SLICE_S = 600.0  # simulated slice of the hour
PEAK_AT_S = 120.0
MEASURED = "measured"


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


@dataclass(frozen=True, slots=True)
class Confidence:
    seeds: int = 20
    allowed_failures: int = 1  # holds on at least seeds - allowed_failures of them


def db_tables(db: str) -> dict[str, Any]:
    """``[services.repo]`` for a database variant: the measured model, or ``<ms>`` per
    transaction whatever its statements (lognormal, sigma 0.6, as the old model)."""
    if db == MEASURED:
        return {"model": MEASURED, "latency": {"dist": "none"}}
    per_tx = float(db) / 1000
    flat = {"dist": "lognormal", "median_s": per_tx, "sigma": 0.6, "max_s": 1.0}
    none = {"dist": "none"}
    return {
        "model": MEASURED,  # its connection setup and acquisition; the rest replaced
        "latency": none,
        "db": {"transaction": flat, "round_trip": none, "commit": none},
    }


def point_scenario(
    base: Scenario, targets: Targets, sessions: int, population: int, db: str = MEASURED
) -> Scenario:
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
    services = dict(without_expect.get("services", {}))
    repo = {k: v for k, v in dict(services.get("repo", {})).items() if k not in ("latency", "model", "db")}
    services["repo"] = {**repo, **db_tables(db), "session_limit": sessions}
    without_expect["services"] = services
    return parse_scenario(
        merge_tables(
            without_expect,
            {
                "scenario": {
                    "name": f"capacity-{targets.name}-s{sessions}-db{db}-n{population}",
                    "duration_s": SLICE_S + 600,
                },
                "users": users,
                "expect": {"p95_max": targets.p95_max, "success_min": targets.success_min},
            },
        ),
        base.source,
    )


@dataclass(slots=True)
class Point:
    population: int
    ok: bool
    seeds_run: int
    seeds_failed: list[int]
    p95: dict[str, float]  # the worst seed's
    failed: list[str]  # the first failing seed's reasons
    wall_s: float
    cpu_s: float = 0.0  # this process's CPU time for the point


@dataclass(slots=True)
class Row:
    sessions: int
    db: str
    sustained: int
    first_failure: int | None
    points: list[Point] = field(default_factory=list)
    complete: bool = True  # False: a --verify walk ran out of points before it found both sides


def _failed(report: Any, targets: Targets) -> list[str]:
    failed = [name for name, met in report.expectations.items() if not met]
    if not targets.all_invariants:
        failed = [name for name in failed if not name.endswith(" holds") or name.startswith("no_lost_upload")]
    return failed


def measure(
    base: Scenario,
    targets: Targets,
    sessions: int,
    population: int,
    confidence: Confidence,
    db: str = MEASURED,
) -> Point:
    """Seeds 1..N until the point holds or ``allowed_failures + 1`` seeds failed."""
    scenario = point_scenario(base, targets, sessions, population, db)
    point = Point(population, True, 0, [], {}, [], 0.0)
    cpu_started = _cpu_s()
    for seed in range(1, confidence.seeds + 1):
        report = run_scenario(scenario, seed)
        point.seeds_run += 1
        point.wall_s += report.wall_seconds
        for name in targets.p95_max:
            if name in report.latency:
                point.p95[name] = max(point.p95.get(name, 0.0), report.latency[name].p95)
        failed = _failed(report, targets)
        if failed:
            point.seeds_failed.append(seed)
            point.failed = point.failed or failed
            if len(point.seeds_failed) > confidence.allowed_failures:
                point.ok = False
                break
    point.cpu_s = _cpu_s() - cpu_started
    return point


def sustained_population(
    base: Scenario,
    targets: Targets,
    sessions: int,
    *,
    confidence: Confidence,
    start: int,
    ceiling: int,
    resolution: float,
    db: str = MEASURED,
    on_point: Any = None,
) -> Row:
    """Largest population that holds: double from ``start``, then bisect."""
    row = Row(sessions, db, 0, None)

    def ok(population: int) -> bool:
        point = measure(base, targets, sessions, population, confidence, db)
        row.points.append(point)
        if on_point is not None:
            on_point(row, point)
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


def boundary_near(
    base: Scenario,
    targets: Targets,
    sessions: int,
    *,
    confidence: Confidence,
    guess: int,
    step: int,
    max_points: int = 5,
    db: str = MEASURED,
    on_point: Any = None,
) -> Row:
    """Verify a claimed boundary: ``guess`` holds and ``guess + step`` fails. Walks a step
    up while it holds, a step down while it fails, at most ``max_points`` points; a row
    that runs out keeps ``sustained`` 0 or ``first_failure`` None (incomplete)."""
    row = Row(sessions, db, 0, None)
    population = guess
    for _ in range(max_points):
        point = measure(base, targets, sessions, population, confidence, db)
        row.points.append(point)
        if on_point is not None:
            on_point(row, point)
        if point.ok:
            row.sustained = max(row.sustained, population)
        elif row.first_failure is None or population < row.first_failure:
            row.first_failure = population
        if row.sustained and row.first_failure is not None and row.first_failure - row.sustained <= step:
            break
        population = population + step if point.ok else population - step
        if population < 1:
            break
    row.complete = bool(row.sustained) and row.first_failure is not None
    return row


def _parse_verify(spec: str) -> list[tuple[int, str, int, int]]:
    """``S:DB:N:STEP,...`` -> (sessions, db, guess, step) each."""
    cells = []
    for item in spec.split(","):
        sessions, db, guess, step = item.strip().split(":")
        cells.append((int(sessions), db, int(guess), int(step)))
    return cells


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _db_label(db: str) -> str:
    return "measured" if db == MEASURED else f"{db} ms/tx"


def table(rows: list[Row], targets: Targets, ceiling: int, confidence: Confidence) -> str:
    dbs = list(dict.fromkeys(row.db for row in rows))
    holds = f"{confidence.seeds - confidence.allowed_failures}/{confidence.seeds} seeds"
    lines = [
        "| SESSION_LIMIT | audit's estimate | "
        + " | ".join(f"database {_db_label(db)}: holds on {holds} (first failing)" for db in dbs)
        + " |",
        "|---|---|" + "---|" * len(dbs),
    ]
    for sessions in dict.fromkeys(row.sessions for row in rows):
        cells = []
        for db in dbs:
            row = next((r for r in rows if r.sessions == sessions and r.db == db), None)
            if row is None:
                cells.append("-")
            elif not row.complete:
                held = f">= {row.sustained}" if row.sustained else "none held"
                failed = f"fails at {row.first_failure}" if row.first_failure else "no failure yet"
                cells.append(f"{held}, {failed} (incomplete)")
            elif row.first_failure is None:
                cells.append(f">= {row.sustained} (none up to {ceiling})")
            else:
                cells.append(f"{row.sustained} ({row.first_failure})")
        lines.append(f"| {sessions} | {AUDIT_ESTIMATES.get(sessions, '-')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _why(row: Row) -> str:
    failing = [p for p in row.points if not p.ok]
    if not failing:
        return ""
    first = min(failing, key=lambda p: p.population)
    return (
        f"s{row.sessions} {_db_label(row.db)} at {first.population}: seeds {first.seeds_failed} failed: "
        + ", ".join(first.failed)
    )


DEFAULT_BASE = Path(__file__).resolve().parents[3] / "scenarios" / "launch-day.toml"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim capacity", description=__doc__)
    parser.add_argument("--base", default=str(DEFAULT_BASE))
    parser.add_argument("--targets", choices=("audit", "ours", "both"), default="audit")
    parser.add_argument("--sessions", default="2,3,4,5", help="comma-separated SESSION_LIMIT values")
    parser.add_argument(
        "--db", default="measured,30,60", help="database models: measured, or ms per transaction"
    )
    parser.add_argument("--seeds", type=int, default=20, help="seeds per population")
    parser.add_argument("--allowed-failures", type=int, default=1, help="failing seeds a population may have")
    parser.add_argument("--start", type=int, default=2000, help="first population tried")
    parser.add_argument("--ceiling", type=int, default=64000, help="largest population tried")
    parser.add_argument("--resolution", type=float, default=0.05, help="bisect until within this share")
    parser.add_argument(
        "--verify",
        default="",
        help="S:DB:N:STEP,...: check that N holds and N+STEP fails per cell (walking a step at a time) "
        "instead of searching from --start",
    )
    parser.add_argument("--max-points", type=int, default=5, help="points per cell with --verify")
    parser.add_argument("--out", default="", help="JSON file rewritten after every point (partial runs)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    base = load_scenario(Path(args.base))
    chosen = {"audit": [AUDIT], "ours": [OURS], "both": [AUDIT, OURS]}[args.targets]
    sessions = [int(s) for s in args.sessions.split(",")]
    dbs = [d.strip() for d in args.db.split(",")]
    if args.seeds < 1 or not 0 <= args.allowed_failures < args.seeds:
        parser.error("need --seeds >= 1 and 0 <= --allowed-failures < --seeds")
    confidence = Confidence(args.seeds, args.allowed_failures)
    started = time.perf_counter()
    results: dict[str, list[Row]] = {}
    header = {
        "command": "python -m sim capacity " + " ".join(argv),
        "started_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seeds": confidence.seeds,
        "allowed_failures": confidence.allowed_failures,
    }

    def save(done: bool) -> None:
        if args.out:
            document = {
                **header,
                "finished": done,
                "cpu_s": round(_cpu_s(), 1),
                "wall_s": round(time.perf_counter() - started, 1),
                "results": {name: [_row_dict(r) for r in rows] for name, rows in results.items()},
            }
            Path(args.out).write_text(json.dumps(document, indent=2) + "\n")

    def progress(row: Row, point: Point) -> None:
        if not any(r is row for r in results.setdefault(targets.name, [])):
            results[targets.name].append(row)
        save(False)
        if not args.json:
            print(
                f"    s{row.sessions} {_db_label(row.db)} n={point.population}: "
                f"{'holds' if point.ok else 'fails'} ({point.seeds_run} seeds, failed {point.seeds_failed}, "
                f"{point.wall_s:.0f} s)",
                flush=True,
            )

    cells = _parse_verify(args.verify) if args.verify else [(s, d, 0, 0) for d in dbs for s in sessions]
    for targets in chosen:
        rows = results.setdefault(targets.name, [])
        for limit, db, guess, step in cells:
            if guess:
                row = boundary_near(
                    base,
                    targets,
                    limit,
                    confidence=confidence,
                    guess=guess,
                    step=step,
                    max_points=args.max_points,
                    db=db,
                    on_point=progress,
                )
            else:
                row = sustained_population(
                    base,
                    targets,
                    limit,
                    confidence=confidence,
                    start=args.start,
                    ceiling=args.ceiling,
                    resolution=args.resolution,
                    db=db,
                    on_point=progress,
                )
            if not any(r is row for r in rows):
                rows.append(row)
            save(False)
            if not args.json:
                print(
                    f"  {targets.name}: SESSION_LIMIT {limit}, database {_db_label(db)}: "
                    f"sustains {row.sustained} users ({len(row.points)} points)",
                    flush=True,
                )
    save(True)
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
        print(table(rows, targets, args.ceiling, confidence))
        for row in rows:
            if why := _why(row):
                print(f"  first failure {why}")
    print(f"\n({time.perf_counter() - started:.0f} s wall; base {args.base})")
    return 0


def _row_dict(row: Row) -> dict[str, Any]:
    return {
        "sessions": row.sessions,
        "db": row.db,
        "sustained": row.sustained,
        "first_failure": row.first_failure,
        "complete": row.complete,
        "points": [
            {
                "population": p.population,
                "ok": p.ok,
                "seeds_run": p.seeds_run,
                "seeds_failed": p.seeds_failed,
                "p95": p.p95,
                "failed": p.failed,
                "wall_s": p.wall_s,
                "cpu_s": round(p.cpu_s, 1),
            }
            for p in row.points
        ],
    }
