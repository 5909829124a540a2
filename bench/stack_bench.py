"""Benchmark: the real bot and N worker processes against the emulators, on this machine.

    just bench stack                         # 50, 200, 1000 users within 2 s, then steady arrivals
    just bench stack --quick                 # 50 and 200 users, each phase cut at 30 s (< 3 minutes)
    just bench stack --users 200 --workers 2 --limits off
    just bench stack --peer                  # /start and /help: ours against the aiogram peer
    just bench stack --profile bench/out/prof   # py-spy on the bot and the first worker

What runs: pgbouncer (transaction mode, scripts/pgbouncer.sh) in front of DATABASE_URL's
Postgres, the machine's Redis (REDIS_URL), the Supabase Storage emulator and the Bot API
emulator over HTTP (in this process; Telegram's flood limits enforced unless
``--limits off``), the bot (``python -m adapters run``) and N workers
(``python -m adapters worker``), fresh for every phase. Users act on the emulator's world
directly; see bench/stack/users.py for what each one does.

Reported per phase: p50/p95/p99 per operation, throughput and failures, CPU ms per update
(bot process tree) and per job (worker trees), peak RSS per process, database sessions in
use, the wait for one (each process's session limiter) and pgbouncer's queue, and the send
rate the emulator saw. A JSON copy goes to bench/out/. Loopback only; every phase is bounded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import trio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from stack import infra, measure  # noqa: E402
from stack.users import Dispatcher, Journey, UserResult, run_user, sample_csv  # noqa: E402

from sim.emulators.botapi_server import serve_emulator  # noqa: E402
from sim.emulators.storage import StorageEmulator, serve_storage_emulator  # noqa: E402
from sim.fakes.telegram.limits import SendLimits  # noqa: E402
from sim.fakes.telegram.world import BotApiWorld  # noqa: E402

TOKEN = "5550001:BENCH-STACK-TOKEN-abcdefghijklmnopqrstu"  # noqa: S105 (the emulator's)
STORAGE_KEY = "bench-storage-key"
BUCKET = "uploads"
OPS = ("command", "receipt", "upload→profile", "button→picker", "button→chart")
PEER_OPS = ("/start", "/help")


@dataclass(frozen=True)
class Phase:
    name: str
    users: int
    arrival_s: float  # users arrive uniformly within this window
    steady_rate: float | None = None  # users/s (Poisson) instead of a burst
    journey: Journey = field(default_factory=Journey)


@dataclass
class Config:
    workers: int
    bot_jobs: int
    limits: bool
    profile_dir: Path | None
    out_dir: Path
    database_url: str
    redis_url: str
    peer_python: str | None = None
    phase_limit_s: float = 300.0
    warm_up_users: int = 4
    send_limit: str = "shared"


def _env(
    cfg: Config, db_url: str, telegram_url: str, storage_url: str, run_dir: Path, schema: str
) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram_url,
        "DATABASE_URL": db_url,
        "REDIS_URL": cfg.redis_url,
        "DB_SCHEMA": schema,
        "REDIS_PREFIX": f"{schema}:",
        "CSVBOT_DATA_DIR": str(run_dir / "data"),
        "STORAGE": "supabase",
        "SUPABASE_URL": storage_url,
        "SUPABASE_KEY": STORAGE_KEY,
        "SUPABASE_BUCKET": BUCKET,
        # Every process that sends shares the token's allowance; alone, each takes its share.
        "SEND_LIMIT": cfg.send_limit,
        "SEND_FALLBACK_SHARE": str(1 + cfg.workers),
        "BOT_POLL_TIMEOUT_S": "5",  # a short long poll: each phase stops in seconds
        # Lifted limits are lifted for the bot's own limiter too, as for a peer without one.
        **({} if cfg.limits else {"BOT_GLOBAL_SENDS_PER_S": "10000", "BOT_CHAT_SENDS_PER_S": "1000"}),
        "DEADLINE_SHUTDOWN": "3",
    }


async def _profile(pid: int, out: Path, stop: trio.Event) -> None:
    """py-spy on one process tree until ``stop``; raw collapsed stacks to ``out``."""
    command = ["py-spy", "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
               "--output", str(out), "--subprocesses", "--nonblocking", "--duration", "900"]  # fmt: skip
    process = await trio.lowlevel.open_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await stop.wait()
    finally:
        with trio.CancelScope(shield=True):
            process.send_signal(2)  # SIGINT: write the profile and exit
            with trio.move_on_after(20):
                await process.wait()
            if process.returncode is None:
                process.kill()


async def run_phase(cfg: Config, phase: Phase, peer: bool = False) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    schema = f"bench_{suffix}"
    run_dir = cfg.out_dir / "runs" / f"{phase.name}-{suffix}"
    run_dir.mkdir(parents=True, exist_ok=True)
    world = BotApiWorld(TOKEN, now=lambda: int(time.time()))
    limits = SendLimits(enabled=cfg.limits)
    storage = StorageEmulator(service_key=STORAGE_KEY, buckets=(BUCKET,))
    rng = random.Random(f"{phase.name}:{phase.users}")
    files = [sample_csv(rng) for _ in range(phase.users)]
    results = [UserResult() for _ in range(phase.users)]
    pids: dict[str, int] = {}
    jobs_before: dict[str, int] = {}
    report: dict[str, Any] = {"phase": phase.name, "users": phase.users, "peer": peer}
    try:
        async with trio.open_nursery() as servers, AsyncExitStack() as stack:
            telegram_url: str = await servers.start(partial(serve_emulator, world, limits=limits))
            storage_url: str = await servers.start(partial(serve_storage_emulator, emulator=storage))
            bouncer = await stack.enter_async_context(
                infra.pgbouncer(cfg.database_url, run_dir / "pgbouncer")
            )
            env = _env(cfg, bouncer.url, telegram_url, storage_url, run_dir, schema)
            procs: list[infra.Child] = []
            if peer:
                peer_env = {**env, "PYTHONPATH": ""}
                bot = await stack.enter_async_context(
                    infra.child(
                        "aiogram",
                        [cfg.peer_python or "python", str(HERE / "peers" / "aiogram_bot.py")],
                        peer_env,
                        run_dir / "aiogram.log",
                    )
                )
                await infra.wait_for_log(bot, "peer.started", 60)
                procs.append(bot)
            else:
                bot = await stack.enter_async_context(
                    infra.child(
                        "bot",
                        infra.bot_command(cfg.bot_jobs),
                        {**env, "CSVBOT_METRICS_FILE": str(run_dir / "bot.json")},
                        run_dir / "bot.log",
                    )
                )
                await infra.wait_for_log(bot, "bot.starting", 60)
                procs.append(bot)
                for n in range(cfg.workers):
                    name = f"worker{n + 1}"
                    procs.append(
                        await stack.enter_async_context(
                            infra.child(
                                name,
                                infra.worker_command(name),
                                {**env, "CSVBOT_METRICS_FILE": str(run_dir / f"{name}.json")},
                                run_dir / f"{name}.log",
                            )
                        )
                    )
                for proc in procs[1:]:
                    await infra.wait_for_log(proc, "bot.starting", 60)
            pids = {p.name: p.pid for p in procs}
            await _warm_up(world, phase, cfg.warm_up_users)
            sampler = measure.Sampler(pids, cfg.database_url, bouncer.admin_url)
            stop_sampling = threading.Event()
            stop_profiles = trio.Event()
            dispatcher = Dispatcher(world)
            cpu_before = {name: measure.tree_cpu_s(pid) for name, pid in pids.items()}
            polls_before = world.calls["getUpdates"]
            updates_before = world._next_update_id
            jobs_before = {p.name: _count_lines(p.log_path, " job.done ") for p in procs}
            sent_before = world.last_seq
            started = trio.current_time()
            async with trio.open_nursery() as load:
                load.start_soon(dispatcher.run)
                load.start_soon(
                    partial(
                        trio.to_thread.run_sync, sampler.run_in_thread, stop_sampling, abandon_on_cancel=True
                    )
                )
                if cfg.profile_dir is not None:
                    cfg.profile_dir.mkdir(parents=True, exist_ok=True)
                    for name, pid in list(pids.items())[:2]:
                        load.start_soon(
                            _profile, pid, cfg.profile_dir / f"{phase.name}-{name}.txt", stop_profiles
                        )
                # A bounded phase: users still waiting when it ends count as unfinished.
                with trio.move_on_after(cfg.phase_limit_s):
                    async with trio.open_nursery() as users:
                        arrivals = _arrivals(phase, random.Random(phase.name))
                        for i, at in enumerate(arrivals):
                            await trio.sleep_until(started + at)
                            users.start_soon(
                                run_user,
                                dispatcher,
                                world,
                                1_000_000 + i,
                                files[i],
                                phase.journey,
                                results[i],
                            )
                finished = trio.current_time()
                cpu_after = {name: measure.tree_cpu_s(pid) for name, pid in pids.items()}
                peaks = {name: measure.peak_rss_mb(pid) for name, pid in pids.items()}
                stop_sampling.set()
                stop_profiles.set()
                load.cancel_scope.cancel()
            report["wall_s"] = finished - started
            report["updates"] = world._next_update_id - updates_before  # each user action is one
            report["get_updates_calls"] = world.calls["getUpdates"] - polls_before
            report["cpu_s"] = {n: sum(cpu_after[n]) - sum(cpu_before[n]) for n in pids}
            report["cpu_own_s"] = {n: cpu_after[n][0] - cpu_before[n][0] for n in pids}
            report["peak_rss_mb"] = {
                n: {
                    "own_hwm": peaks[n],
                    "tree_sampled": sampler.memory.get(n, measure.ProcessSample()).peak_tree_mb,
                }
                for n in pids
            }
            report["db"] = sampler.summary()
            report["sends"] = {**limits.summary(), "per_second": _per_second(world, sent_before)}
            for r in results:
                if not r.done and r.failed_at is None:
                    r.failed_at = f"unfinished ({r.step})"
            report["journeys"] = [
                {"ops": r.ops, "failed_at": r.failed_at, "upload_at": r.upload_at, "profile_at": r.profile_at}
                for r in results
            ]
            servers_cancel = servers.cancel_scope
            await stack.aclose()  # stop the processes (they write their figures), then pgbouncer
            servers_cancel.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(infra.drop_schema, cfg.database_url, schema)
            await trio.to_thread.run_sync(infra.drop_keys, cfg.redis_url, f"{schema}:")
    report["process_figures"] = {}
    for name in pids:
        path = run_dir / f"{name}.json"
        if path.exists():
            report["process_figures"][name] = json.loads(path.read_text())
    report["jobs_done"] = {
        name: _count_lines(run_dir / f"{name}.log", " job.done ") - jobs_before.get(name, 0) for name in pids
    }
    return report


async def _warm_up(world: BotApiWorld, phase: Phase, users: int) -> None:
    """A few users first, unmeasured: CPU pools start, modules import, connections open."""
    dispatcher = Dispatcher(world)
    rng = random.Random("warm-up")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(dispatcher.run)
        async with trio.open_nursery() as warm:
            for i in range(users):
                warm.start_soon(
                    run_user, dispatcher, world, 900_000 + i, sample_csv(rng), phase.journey, UserResult()
                )
        nursery.cancel_scope.cancel()


def _count_lines(path: Path, needle: str) -> int:
    try:
        return sum(needle in line for line in path.read_text(errors="replace").splitlines())
    except OSError:
        return 0


def _arrivals(phase: Phase, rng: random.Random) -> list[float]:
    if phase.steady_rate is not None:
        out, at = [], 0.0
        for _ in range(phase.users):
            out.append(at)
            at += rng.expovariate(phase.steady_rate)
        return out
    return sorted(rng.uniform(0, phase.arrival_s) for _ in range(phase.users))


def _per_second(world: BotApiWorld, after_seq: int) -> list[int]:
    """Messages the bot put in chats, per wall-clock second of the phase."""
    dates = [
        r.date for r in world.records_after(after_seq) if r.kind in ("message", "photo", "document", "edit")
    ]
    if not dates:
        return []
    counts = Counter(dates)
    return [counts.get(s, 0) for s in range(min(dates), max(dates) + 1)]


# ---------------------------------------------------------------- the report


def summarise(report: dict[str, Any], ops: tuple[str, ...]) -> dict[str, Any]:
    journeys = report["journeys"]
    by_op: dict[str, list[float]] = {op: [] for op in ops}
    for j in journeys:
        for op, seconds in j["ops"].items():
            key = op.split("#", 1)[0]  # "/help#3": the user's fourth command
            if key in by_op:
                by_op[key].append(seconds)
    failures = Counter(j["failed_at"] for j in journeys if j["failed_at"])
    uploads = [j["upload_at"] for j in journeys if j["upload_at"] is not None]
    profiles = [j["profile_at"] for j in journeys if j["profile_at"] is not None]
    span = (max(profiles) - min(uploads)) if profiles and uploads else float("nan")
    cpu = report["cpu_s"]
    bot_name = "aiogram" if report["peer"] else "bot"
    jobs = sum(report["jobs_done"].values())
    worker_cpu = sum(v for k, v in cpu.items() if k.startswith("worker"))
    worker_jobs = sum(v for k, v in report["jobs_done"].items() if k.startswith("worker"))
    sends = report["sends"]
    per_s = sends["per_second"]
    busy = [n for n in per_s if n > 0]
    sessions = {k: v.get("sessions", {}) for k, v in report["process_figures"].items()}
    return {
        "phase": report["phase"],
        "users": report["users"],
        "wall_s": report["wall_s"],
        "latency": {
            op: {q: measure.percentile(v, p) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))}
            | {"n": len(v)}
            for op, v in by_op.items()
        },
        "failures": dict(failures),
        "profiles_per_s": len(profiles) / span if span and span == span and span > 0 else float("nan"),
        "updates": report["updates"],
        "get_updates_calls": report["get_updates_calls"],
        "cpu_ms_per_update_bot": 1000 * cpu.get(bot_name, float("nan")) / max(1, report["updates"]),
        "cpu_ms_per_update_bot_own": 1000
        * report["cpu_own_s"].get(bot_name, float("nan"))
        / max(1, report["updates"]),
        "cpu_ms_per_job_workers": 1000 * worker_cpu / worker_jobs if worker_jobs else float("nan"),
        "cpu_ms_per_user_all": 1000 * sum(cpu.values()) / max(1, report["users"]),
        "jobs": jobs,
        "jobs_by_process": report["jobs_done"],
        "peak_rss_mb": report["peak_rss_mb"],
        "db": report["db"],
        "sessions": sessions,
        "send_per_second": per_s,
        "sends": {k: v for k, v in sends.items() if k != "per_second"}
        | {
            "mean_per_busy_s": sum(busy) / len(busy) if busy else 0.0,
            "max_per_clock_s": max(per_s, default=0),
        },
    }


def _ms(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def print_summary(s: dict[str, Any], ops: tuple[str, ...]) -> None:
    print(f"\n### {s['phase']}: {s['users']} users, {s['wall_s']:.1f} s", flush=True)
    print("| operation | n | p50 | p95 | p99 |\n|---|---:|---:|---:|---:|")
    for op in ops:
        lat = s["latency"][op]
        print(f"| {op} | {lat['n']} | {_ms(lat['p50'])} | {_ms(lat['p95'])} | {_ms(lat['p99'])} |")
    rss = ", ".join(f"{n} {v['own_hwm']:.0f}/{v['tree_sampled']:.0f}" for n, v in s["peak_rss_mb"].items())
    waits = ", ".join(
        f"{n} peak {v.get('max_in_use', '-')}/{v.get('limit', '-')} "
        f"waited {v.get('waited', 0)}/{v.get('checkouts', 0)} p95 {_ms(v.get('wait_p95_s', 0.0))}"
        for n, v in s["sessions"].items()
        if v
    )
    sends = s["sends"]
    print(
        f"\nfailures {s['failures'] or 0}; profiles/s {s['profiles_per_s']:.1f}; updates {s['updates']} "
        f"(getUpdates calls {s['get_updates_calls']}); jobs {s['jobs_by_process']}\n"
        f"CPU: {s['cpu_ms_per_update_bot_own']:.2f} ms/update (bot process), "
        f"{s['cpu_ms_per_update_bot']:.2f} (with its CPU pool: charts), "
        f"{s['cpu_ms_per_job_workers']:.1f} ms/job (worker trees), "
        f"{s['cpu_ms_per_user_all']:.1f} ms/user (all)\n"
        f"peak RSS MB (process/tree): {rss}\n"
        f"DB sessions in use (server, sampled): peak {s['db']['sessions_in_use_peak']}, mean "
        f"{s['db']['sessions_in_use_mean']:.1f}; pgbouncer waiting peak {s['db']['pooler_waiting_peak']}, "
        f"maxwait {s['db']['pooler_maxwait_s']:.3f} s\n"
        f"session limiter: {waits or '-'}\n"
        f"sends: {sends['accepted']} accepted, {sends['refused_429']} refused (429), "
        f"peak {sends['peak_per_s']}/s "
        f"in any 1 s window, mean {sends['mean_per_busy_s']:.1f}/s over busy seconds (limits "
        f"{'enforced' if sends['enforced'] else 'lifted'})",
        flush=True,
    )


def phases(args: argparse.Namespace) -> list[Phase]:
    if args.peer:
        journey = Journey(commands_only=True, commands=args.commands)
        return [Phase(f"peer-{n}", n, 2.0, journey=journey) for n in args.users]
    out = [Phase(f"burst-{n}", n, 2.0) for n in args.users]
    if args.steady_s > 0:
        count = int(args.steady_rate * args.steady_s)
        out.append(Phase(f"steady-{args.steady_rate:g}per_s", count, 0.0, steady_rate=args.steady_rate))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="50 and 200 users, phases cut at 30 s (< 3 minutes)"
    )
    parser.add_argument("--users", default=None, help="comma-separated populations (default 50,200,1000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes beside the bot")
    parser.add_argument("--bot-jobs", type=int, default=0, help="jobs the bot process runs itself")
    parser.add_argument(
        "--limits",
        choices=("on", "off"),
        default=None,
        help="Telegram's flood limits (default: on; off with --peer)",
    )
    parser.add_argument(
        "--send-limit",
        choices=("shared", "local"),
        default="shared",
        help="one allowance, or one per process",
    )
    parser.add_argument("--steady-rate", type=float, default=4.0, help="users/s of the steady phase")
    parser.add_argument("--steady-s", type=float, default=None, help="length of the steady phase (0: none)")
    parser.add_argument("--peer", action="store_true", help="commands only: ours, then the aiogram peer")
    parser.add_argument("--commands", type=int, default=10, help="commands per user with --peer")
    parser.add_argument("--peer-python", default=str(ROOT / ".venv-peer" / "bin" / "python"))
    parser.add_argument("--phase-limit-s", type=float, default=None, help="cut each phase after this long")
    parser.add_argument("--profile", type=Path, default=None, help="folder for py-spy profiles")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args(argv)
    default_users = "50,200" if args.quick else ("200" if args.peer else "50,200,1000")
    args.users = [int(u) for u in (args.users or default_users).split(",")]
    if args.limits is None:
        args.limits = "off" if args.peer else "on"
    if args.peer:
        args.workers = 0  # commands only: no jobs
    if args.steady_s is None:
        args.steady_s = 0 if args.peer or args.quick else 60.0
    cfg = Config(
        workers=args.workers,
        bot_jobs=args.bot_jobs,
        limits=args.limits == "on",
        profile_dir=args.profile,
        out_dir=args.out,
        database_url=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        peer_python=args.peer_python,
        send_limit=args.send_limit,
        warm_up_users=2 if args.quick else 4,
        phase_limit_s=args.phase_limit_s or (30.0 if args.quick else 300.0),
    )
    if args.peer and not Path(args.peer_python).exists():
        print(f"no peer interpreter at {args.peer_python}; see bench/peers/README.md", file=sys.stderr)
        return 2
    load1, _, _ = os.getloadavg()
    header = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_1m_before": load1,
        "cpus": os.cpu_count(),
        "workers": cfg.workers,
        "bot_jobs": cfg.bot_jobs,
        "limits": args.limits,
        "send_limit": args.send_limit,
    }
    print(f"stack bench {header}", flush=True)
    ops = PEER_OPS if args.peer else OPS
    summaries = []
    for phase in phases(args):
        kinds = [False, True] if args.peer else [False]
        for peer in kinds:
            report = trio.run(run_phase, cfg, phase, peer)
            summary = summarise(report, ops)
            summary["phase"] = (
                f"{phase.name} ({'aiogram' if peer else 'csvbot'})" if args.peer else phase.name
            )
            summary["load_1m_after"] = os.getloadavg()[0]
            print_summary(summary, ops)
            summaries.append(summary)
            (args.out / "runs").mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    out = args.out / f"stack-{'peer-' if args.peer else ''}{stamp}.json"
    out.write_text(json.dumps({"header": header, "phases": summaries}, indent=1, default=str))
    print(f"\nwritten: {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
