"""Soak: the real bot and a worker at steady load for N minutes; does anything grow?

    just bench soak --minutes 5              # what BENCHMARKS.md shows (a loaded machine)
    just bench soak --minutes 30             # the issue's half hour
    just bench soak --minutes 30 --rate 1 --retention-s 300 --plot docs/soak-bench.png

What runs (the stack benchmark's infrastructure, bench/stack/): pgbouncer in front of
DATABASE_URL's Postgres, REDIS_URL's Redis, the Supabase Storage and Bot API emulators
over HTTP in this process, the bot (``python -m adapters run``) and one worker process
(``python -m adapters worker``), in a fresh schema and Redis prefix. Users from a fixed
population arrive at a steady rate; each says /start, uploads a CSV, reads the profile
and draws a chart. Retention is shortened to ``--retention-s`` (uploads, files, jobs,
results and update claims alike; the sweeps run four times per window), so that a
short run shows the windows turning over.

Sampled every ``--sample-s``: RSS of the bot and the worker (each with its CPU pool),
the row count of every table, the Redis keys under the run's prefix and the bytes they
use (MEMORY USAGE; the server's used_memory is shared with whoever else uses it), and
the objects in storage. From two retention windows on, each series should be flat:
the verdict compares the mean of the first third of those samples with the last third.
A JSON copy goes to bench/out/, the plot to ``--plot``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import sys
import time
import uuid
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import redis
import trio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from stack import infra, measure  # noqa: E402
from stack.users import Dispatcher, Journey, UserResult, run_user, sample_csv  # noqa: E402
from stack_bench import BUCKET, STORAGE_KEY, TOKEN, Config, _env  # noqa: E402

from sim.emulators.botapi_server import serve_emulator  # noqa: E402
from sim.emulators.storage import StorageEmulator, serve_storage_emulator  # noqa: E402
from sim.fakes.telegram.limits import SendLimits  # noqa: E402
from sim.fakes.telegram.world import BotApiWorld  # noqa: E402

TABLES = ("users", "uploads", "jobs", "results", "processed_updates")
FIRST_CHAT = 2_000_000


def retention_env(retention_s: float) -> dict[str, str]:
    sweep_s = max(5.0, retention_s / 4)
    return {
        "BOT_DATA_RETENTION_DAYS": repr(retention_s / 86400),
        "BOT_RETENTION_SWEEP_EVERY_S": repr(sweep_s),
        "PROCESSED_UPDATES_RETENTION_H": repr(retention_s / 3600),
        "PRUNE_EVERY_S": repr(sweep_s),
        "METRICS_PORT": "0",  # any free port: a second bench or bot may hold 9101
    }


def sample_state(database_url: str, schema: str, redis_url: str, prefix: str) -> dict[str, float]:
    """Row counts, and the run's Redis keys and bytes (blocking: run in a thread)."""
    out: dict[str, float] = {}
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        for table in TABLES:
            row = conn.execute(f'SELECT count(*) FROM "{schema}".{table}').fetchone()
            out[table] = float(row[0]) if row else math.nan
    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.memory_usage(key)
        sizes = pipe.execute() if keys else []
        out["redis_keys"] = float(len(keys))
        out["redis_bytes"] = float(sum(s or 0 for s in sizes))
        out["redis_server_used_mb"] = float(client.info("memory")["used_memory"]) / 2**20
    finally:
        client.close()
    return out


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    cfg = Config(
        workers=1,
        bot_jobs=1,
        limits=True,
        profile_dir=None,
        out_dir=args.out,
        database_url=os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres",
        redis_url=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
    )
    suffix = uuid.uuid4().hex[:8]
    schema, prefix = f"soak_{suffix}", f"soak_{suffix}:"
    run_dir = args.out / "runs" / f"soak-{suffix}"
    run_dir.mkdir(parents=True, exist_ok=True)
    world = BotApiWorld(TOKEN, now=lambda: int(time.time()))
    storage = StorageEmulator(service_key=STORAGE_KEY, buckets=(BUCKET,))
    rng = random.Random("soak")
    files = [sample_csv(rng) for _ in range(16)]
    samples: list[dict[str, float]] = []
    results: list[UserResult] = []
    duration_s = args.minutes * 60
    try:
        async with trio.open_nursery() as servers, AsyncExitStack() as stack:
            telegram_url = await servers.start(partial(serve_emulator, world, limits=SendLimits()))
            storage_url = await servers.start(partial(serve_storage_emulator, emulator=storage))
            bouncer = await stack.enter_async_context(
                infra.pgbouncer(cfg.database_url, run_dir / "pgbouncer")
            )
            env = {**_env(cfg, bouncer.url, telegram_url, storage_url, run_dir, schema)}
            env.update(retention_env(args.retention_s))
            env["REDIS_PREFIX"] = prefix
            bot = await stack.enter_async_context(
                infra.child("bot", infra.bot_command(cfg.bot_jobs), env, run_dir / "bot.log")
            )
            worker = await stack.enter_async_context(
                infra.child("worker1", infra.worker_command("worker1"), env, run_dir / "worker1.log")
            )
            for proc in (bot, worker):
                await infra.wait_for_log(proc, "bot.starting", 60)
            pids = {"bot": bot.pid, "worker": worker.pid}
            dispatcher = Dispatcher(world)
            started = trio.current_time()
            async with trio.open_nursery() as load:
                load.start_soon(dispatcher.run)

                async def sampler() -> None:
                    while True:
                        row: dict[str, float] = {"t": round(trio.current_time() - started, 1)}
                        for name, pid in pids.items():
                            own, tree = measure.tree_rss_mb(pid)
                            row[f"rss_{name}_mb"], row[f"rss_{name}_tree_mb"] = own, tree
                        state = await trio.to_thread.run_sync(
                            sample_state, cfg.database_url, schema, cfg.redis_url, prefix
                        )
                        row.update(state)
                        row["blobs"] = float(len(storage.object_keys(BUCKET)))
                        row["load_1m"] = os.getloadavg()[0]
                        samples.append(row)
                        print(
                            f"t={row['t']:6.0f}s rss bot {row['rss_bot_tree_mb']:.0f} MB worker "
                            f"{row['rss_worker_tree_mb']:.0f} MB  uploads {row['uploads']:.0f} "
                            f"claims {row['processed_updates']:.0f} blobs {row['blobs']:.0f} "
                            f"redis {row['redis_keys']:.0f} keys {row['redis_bytes'] / 1024:.0f} KiB  "
                            f"load {row['load_1m']:.1f}",
                            flush=True,
                        )
                        await trio.sleep(args.sample_s)

                load.start_soon(sampler)
                with trio.move_on_after(duration_s):
                    async with trio.open_nursery() as users:
                        arrivals = random.Random("arrivals")
                        n = 0
                        while True:
                            result = UserResult()
                            results.append(result)
                            chat = FIRST_CHAT + n % args.population
                            data = files[n % len(files)]
                            users.start_soon(run_user, dispatcher, world, chat, data, Journey(), result)
                            n += 1
                            await trio.sleep(arrivals.expovariate(args.rate))
                load.cancel_scope.cancel()
            servers_cancel = servers.cancel_scope
            await stack.aclose()
            servers_cancel.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(infra.drop_schema, cfg.database_url, schema)
            await trio.to_thread.run_sync(infra.drop_keys, cfg.redis_url, prefix)
    done = sum(r.done for r in results)
    return {
        "minutes": args.minutes,
        "rate_per_s": args.rate,
        "population": args.population,
        "retention_s": args.retention_s,
        "users_started": len(results),
        "journeys_done": done,
        "samples": samples,
        "cpu_count": os.cpu_count(),
    }


def verdicts(samples: list[dict[str, float]], after_s: float, tolerance: float = 0.15) -> dict[str, Any]:
    judged = [s for s in samples if s["t"] >= after_s]
    third = len(judged) // 3
    if third < 2:
        return {}
    out: dict[str, Any] = {}
    for key in samples[0]:
        if key in ("t", "load_1m", "redis_server_used_mb"):
            continue
        values = [s[key] for s in judged]
        early, late = sum(values[:third]) / third, sum(values[-third:]) / third
        # A small absolute slack for small numbers that wobble: five rows or keys, 16 KiB.
        slack = 16384 if key == "redis_bytes" else 5
        flat = late <= early * (1 + tolerance) + slack
        out[key] = {"early": round(early, 1), "late": round(late, 1), "flat": flat}
    return out


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = report["samples"]
    minutes = [s["t"] / 60 for s in samples]
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(11, 8))
    panels = (
        ("RSS (MB, with CPU pool)", ("rss_bot_tree_mb", "rss_worker_tree_mb", "rss_bot_mb", "rss_worker_mb")),
        ("rows", TABLES),
        ("storage objects, Redis keys", ("blobs", "redis_keys")),
    )
    for axis, (label, names) in zip(axes, panels, strict=True):
        for name in names:
            axis.plot(minutes, [s[name] for s in samples], label=name, linewidth=1.2)
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)
        axis.legend(loc="upper left", fontsize="x-small", ncol=3)
    twin = axes[2].twinx()
    twin.plot(minutes, [s["redis_bytes"] / 1024 for s in samples], color="black", linestyle=":", label="KiB")
    twin.set_ylabel("Redis KiB (run's keys)")
    twin.set_ylim(bottom=0)
    for axis in axes:
        axis.axvline(report["flat_after_s"] / 60, color="grey", linestyle="--", linewidth=0.8)
    axes[-1].set_xlabel("minutes")
    flat = all(v["flat"] for v in report["verdicts"].values()) if report["verdicts"] else None
    fig.suptitle(
        f"soak: real bot + worker, {report['rate_per_s']:g} users/s, retention {report['retention_s']:g} s, "
        f"{report['minutes']:g} min{'' if flat is None else ('  all flat' if flat else '  GROWING')}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="just bench soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=0.5, help="users arriving per second (Poisson)")
    parser.add_argument("--population", type=int, default=60, help="distinct users, who come back")
    parser.add_argument("--retention-s", type=float, default=60.0, help="every retention window, seconds")
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "soak-bench.png")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--replot", type=Path, help="judge and plot a saved run's JSON again, run nothing")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.replot is not None:
        report = json.loads(args.replot.read_text())
        report["verdicts"] = verdicts(report["samples"], report["flat_after_s"])
        args.replot.write_text(json.dumps(report, indent=1, default=str))
        plot(report, args.plot)
        print(json.dumps(report["verdicts"], indent=1))
        return 0
    print(
        f"soak bench: {args.minutes:g} min, {args.rate:g} users/s, retention {args.retention_s:g} s",
        flush=True,
    )
    report = trio.run(soak, args)
    report["flat_after_s"] = 2 * args.retention_s
    report["verdicts"] = verdicts(report["samples"], report["flat_after_s"])
    for name, v in report["verdicts"].items():
        verdict = "flat" if v["flat"] else "GROWING"
        print(f"  {name:<22} early {v['early']:>10.1f}  late {v['late']:>10.1f}  {verdict}")
    print(f"  journeys done {report['journeys_done']} of {report['users_started']} started")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    out = args.out / f"soak-{stamp}.json"
    out.write_text(json.dumps(report, indent=1, default=str))
    plot(report, args.plot)
    print(f"written: {out}, {args.plot}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
