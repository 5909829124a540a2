"""Measure, on this machine's real stack, what the simulator assumes; write it down as
a service model (scenarios/models/measured.toml) that scenarios can reference.

    just bench calibrate                      # ~2 minutes on a quiet 2-core box
    just bench calibrate --rounds 400         # more samples per operation
    just bench calibrate --out /tmp/m.toml    # somewhere else

Measured through the production adapters, one call at a time (the simulator adds the
queueing itself):
- every repository method the bot and the workers call, direct to Postgres
  (DATABASE_URL) and through pgbouncer in transaction mode (PGBOUNCER_URL, default
  DATABASE_URL on port 6432): wall p50/p95 and the client's CPU per call, and its
  round trips counted on the wire; then a least-squares fit of cost = per transaction
  + round trips x per round trip + a writing transaction's commit, which is the
  simulator's database model;
- a session taken with nothing in it (uncontended acquisition), a new connection
  (setup), and 16 clients on 4 sessions (how long they wait, for comparison with
  the simulator's queue);
- Redis queue, conversation state and send-bucket calls; blob put/get/delete on the
  local store and on the storage emulator over HTTP; Bot API calls against the HTTP
  emulator (both emulators in a child process, so the CPU measured here is the
  client's).

The machine is shared: rounds alternate between routes, figures are medians and 95th
percentiles over many samples, and the file records the load average before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

if "--serve-emulators" in sys.argv:  # the child process: nothing else to import
    from calibrate.emulators import serve

    serve()
    raise SystemExit(0)

import numpy as np  # noqa: E402
import trio  # noqa: E402
import trio_asyncio  # noqa: E402
from calibrate import db, services  # noqa: E402
from calibrate.emulators import emulators  # noqa: E402
from calibrate.stats import Samples, lognormal  # noqa: E402
from stack.infra import drop_schema, with_host_port  # noqa: E402

from sim.simulator.toml_out import dumps  # noqa: E402

DEFAULT_OUT = ROOT / "scenarios" / "models" / "measured.toml"
SIM_ROUTE = "pgbouncer"  # production's route: the simulator's database model is fitted on it


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _git() -> str:
    try:
        command = ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]
        out = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def fit(points: list[tuple[int, bool, float]]) -> tuple[float, float, float]:
    """(per transaction, per round trip, per writing commit): least squares of cost on
    round trips and on whether the transaction wrote, each term at least 0."""
    x = np.array([[1.0, float(trips), 1.0 if wrote else 0.0] for trips, wrote, _ in points])
    y = np.array([cost for _, _, cost in points])
    keep = [i for i in range(3) if len(set(x[:, i])) > 1 or i == 0]  # a column with no spread says nothing
    coefficients = np.zeros(3)
    solved = np.linalg.lstsq(x[:, keep], y, rcond=None)[0]
    coefficients[keep] = solved
    if coefficients[0] < 0:  # a negative fixed part: refit through the origin
        keep = [i for i in keep if i]
        coefficients[:] = 0
        coefficients[keep] = np.linalg.lstsq(x[:, keep], y, rcond=None)[0]
    transaction, round_trip, commit = (max(0.0, float(c)) for c in coefficients)
    return transaction, round_trip, commit


def db_section(
    samples: dict[str, dict[str, Samples]], trips: dict[str, int], writers: set[str]
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Per route: each method's figures and the fitted model; and the fits."""
    out: dict[str, Any] = {}
    fits: dict[str, dict[str, float]] = {}
    for route, methods in samples.items():
        summaries = {name: s.summary() for name, s in methods.items()}

        def fit_on(key: str, table: dict[str, dict[str, Any]] = summaries) -> tuple[float, float, float]:
            return fit([(trips[m], m in writers, float(s[key])) for m, s in table.items()])

        tx50, rt50, commit50 = fit_on("p50_s")
        tx95, rt95, commit95 = fit_on("p95_s")
        cpu_tx, cpu_rt, cpu_commit = fit_on("cpu_p50_s")
        fits[route] = {
            "transaction_p50_s": tx50,
            "transaction_p95_s": tx95,
            "round_trip_p50_s": rt50,
            "round_trip_p95_s": rt95,
            "commit_p50_s": commit50,
            "commit_p95_s": commit95,
            "cpu_transaction_s": cpu_tx,
            "cpu_round_trip_s": cpu_rt,
            "cpu_commit_s": cpu_commit,
        }
        rows = {}
        for name, summary in summaries.items():
            predicted = tx50 + trips[name] * rt50 + (commit50 if name in writers else 0.0)
            rows[name] = {
                "round_trips": trips[name],
                "writes": name in writers,
                **summary,
                "fit_p50_s": round(predicted, 6),
                "fit_error": round(predicted / float(summary["p50_s"]) - 1, 3),
            }
        out[route] = {"fit": {k: round(v, 6) for k, v in fits[route].items()}, "methods": rows}
    return out, fits


def sim_section(fits: dict[str, dict[str, float]], sessions: dict[str, Any], trips: dict[str, int],
                writers: set[str], others: dict[str, Samples]) -> dict[str, Any]:  # fmt: skip
    """The simulator's service model: scenario-shaped tables."""
    f = fits[SIM_ROUTE]
    connect = sessions[SIM_ROUTE]["connect"]
    acquire = sessions[SIM_ROUTE]["acquire"]

    def latency(*names: str) -> dict[str, Any]:
        walls = [w for name in names for w in others[name].wall_s]
        ordered = sorted(walls)
        return lognormal(ordered[len(ordered) // 2], ordered[int(0.95 * (len(ordered) - 1))], cap_s=2.0)

    return {
        "services": {
            "repo": {
                "db": {
                    "transaction": lognormal(f["transaction_p50_s"], f["transaction_p95_s"]),
                    "round_trip": lognormal(f["round_trip_p50_s"], f["round_trip_p95_s"]),
                    "commit": lognormal(f["commit_p50_s"], f["commit_p95_s"]),
                    "connect": lognormal(float(connect["p50_s"]), float(connect["p95_s"]), cap_s=5.0),
                    "acquire": {"dist": "constant", "value_s": float(acquire["p50_s"])},
                    "round_trips": {k: v for k, v in sorted(trips.items()) if k != "ping"},
                    "writes": sorted(writers),
                }
            },
            "state": {"latency": latency("state.get", "state.set", "state.clear")},
            "queue": {"latency": latency("queue.enqueue", "queue.claim", "queue.ack")},
            "blobs": {"latency": latency("emulator.put", "emulator.get")},
            "telegram": {"latency": latency("send_message", "edit_message_text", "get_file")},
        }
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    database_url = args.database_url
    routes = {"direct": database_url, "pgbouncer": args.pgbouncer_url}
    schema = f"calibrate_{uuid.uuid4().hex[:8]}"
    report: dict[str, Any] = {}
    try:
        async with trio_asyncio.open_loop():
            print("round trips (counted on the wire) ...", flush=True)
            trips, writers = await db.count_round_trips(database_url, schema)
            print(
                f"repository: {args.rounds} rounds x {len(trips) - 1} methods x {len(routes)} routes ...",
                flush=True,
            )
            samples = await db.time_operations(routes, schema, args.rounds)
            print("sessions: acquisition and connection setup ...", flush=True)
            sessions = await db.time_sessions(routes, schema, args.count)
            print("contention: 16 clients on 4 sessions ...", flush=True)
            contention = {
                route: await db.contended(url, schema, limit=4, clients=16, duration_s=args.contention_s)
                for route, url in routes.items()
            }
            print("redis, storage and Bot API ...", flush=True)
            redis = await services.time_redis(
                args.redis_url, f"calibrate:{uuid.uuid4().hex[:8]}:", args.count
            )
            async with emulators(HERE / "calibrate_bench.py") as urls:
                storage = await services.time_storage(urls["storage"], args.count)
                telegram = await services.time_telegram(urls["telegram"], args.count)
    finally:
        drop_schema(database_url, schema)
    db_figures, fits = db_section(samples, trips, writers)
    for route, figures in sessions.items():
        db_figures[route]["session"] = figures
        db_figures[route]["contended"] = contention[route]
    report["db"] = db_figures
    report["redis"] = {name: s.summary() for name, s in redis.items()}
    report["storage"] = {name: s.summary() for name, s in storage.items()}
    report["telegram"] = {name: s.summary() for name, s in telegram.items()}
    report["sim"] = sim_section(fits, sessions, trips, writers, {**redis, **storage, **telegram})
    return report


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def markdown(path: Path) -> str:
    """The measured file as BENCHMARKS.md tables (``--table``)."""
    import tomllib

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    head, db = data["measured"], data["db"]
    lines = [
        f"Measured {head['date']} ({head['command']}, commit {head['commit']}); load average "
        f"{head['load_before']} before, {head['load_after']} after, on {head['machine']}.",
        "",
        "| repository method | round trips | writes | direct p50 / p95 ms | pgbouncer p50 / p95 ms "
        "| client CPU ms | model p50 ms (error) |",
        "|---|---:|---|---|---|---:|---|",
    ]
    for name, row in db["pgbouncer"]["methods"].items():
        direct = db["direct"]["methods"][name]
        lines.append(
            f"| {name} | {row['round_trips']} | {'yes' if row['writes'] else ''} | "
            f"{_ms(direct['p50_s'])} / {_ms(direct['p95_s'])} | {_ms(row['p50_s'])} / {_ms(row['p95_s'])} | "
            f"{_ms(row['cpu_p50_s'])} | {_ms(row['fit_p50_s'])} ({row['fit_error']:+.0%}) |"
        )
    lines += [
        "",
        "| route | per transaction | per round trip | per writing commit | client CPU per round trip "
        "| acquire (idle session) | connect | 16 clients on 4 sessions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for route in ("direct", "pgbouncer"):
        f, session, busy = db[route]["fit"], db[route]["session"], db[route]["contended"]
        lines.append(
            f"| {route} | {_ms(f['transaction_p50_s'])} / {_ms(f['transaction_p95_s'])} | "
            f"{_ms(f['round_trip_p50_s'])} / {_ms(f['round_trip_p95_s'])} | "
            f"{_ms(f['commit_p50_s'])} / {_ms(f['commit_p95_s'])} | {_ms(f['cpu_round_trip_s'])} | "
            f"{_ms(session['acquire']['p50_s'])} | {_ms(session['connect']['p50_s'])} / "
            f"{_ms(session['connect']['p95_s'])} | {busy['transactions_per_s']} tx/s, "
            f"{busy['waited_share']:.0%} waited, wait p50/p95 {_ms(busy['wait_p50_s'])} / "
            f"{_ms(busy['wait_p95_s'])} |"
        )
    lines += ["", "| other call | p50 / p95 ms | client CPU ms |", "|---|---|---:|"]
    for group in ("redis", "storage", "telegram"):
        for name, row in data[group].items():
            lines.append(
                f"| {group} {name} | {_ms(row['p50_s'])} / {_ms(row['p95_s'])} | {_ms(row['cpu_p50_s'])} |"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="just bench calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--rounds", type=int, default=200, help="calls of each repository method per route")
    parser.add_argument("--count", type=int, default=300, help="calls of each other operation")
    parser.add_argument("--contention-s", type=float, default=3.0)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--pgbouncer-url", default=os.environ.get("PGBOUNCER_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--table", action="store_true", help="print --out's figures as markdown; measure nothing"
    )
    args = parser.parse_args(argv)
    if args.table:
        print(markdown(args.out))
        return 0
    if args.pgbouncer_url is None:
        args.pgbouncer_url = with_host_port(
            args.database_url, urlsplit(args.database_url).hostname or "127.0.0.1", 6432
        )
    started = dt.datetime.now(dt.UTC)
    load_before = _load()
    report = trio.run(measure, args)
    load_after = _load()
    elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds()
    head = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": "just bench calibrate " + " ".join(argv),
        "commit": _git(),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_before": load_before,  # 1, 5 and 15 minute load averages
        "load_after": load_after,
        "duration_s": round(elapsed, 1),
        "rounds": args.rounds,
        "count": args.count,
        "sim_route": SIM_ROUTE,
        "how": (
            "production adapters, one call at a time from one client; p50/p95 of wall time and the "
            "client thread's CPU per call; round trips counted by a relay on the wire; the database "
            "model (sim.services.repo.db) is a least-squares fit of per-method cost on round trips and on "
            "whether the transaction writes (statements seen in Tx.run), "
            "through pgbouncer in transaction mode; emulators in a child process"
        ),
    }
    header = (
        "Measured service model: written by `just bench calibrate` (bench/calibrate_bench.py); rerun it,\n"
        'do not edit by hand. Scenarios use it with [services.repo] model = "measured";\n'
        "[sim.services.*] are scenario tables, the rest is the raw measurement.\n"
        f"Machine load (1/5/15 min) before {load_before}, after {load_after}: a shared, noisy box."
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dumps({"measured": head, **report}, header))
    fits = report["db"]
    for route in ("direct", "pgbouncer"):
        f = fits[route]["fit"]
        print(
            f"{route}: per transaction {f['transaction_p50_s'] * 1e3:.2f} ms + per round trip "
            f"{f['round_trip_p50_s'] * 1e3:.3f} ms + per writing commit {f['commit_p50_s'] * 1e3:.2f} ms "
            f"(p50); client CPU {f['cpu_transaction_s'] * 1e3:.2f} ms + "
            f"{f['cpu_round_trip_s'] * 1e3:.3f} ms per round trip"
        )
    print(f"written: {args.out} ({elapsed:.0f} s; load {load_before} -> {load_after})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
