"""Benchmark: the bot's CPU per update for one command at a time, ours against the aiogram peer.

    python bench/update_cpu_bench.py                      # csvbot and aiogram, /help then /start
    python bench/update_cpu_bench.py --bots csvbot --users 100 --commands 10 --rounds 3
    python bench/update_cpu_bench.py --profile bench/out/prof-cpu   # py-spy --gil per round

A smaller, steadier cousin of ``just bench stack --peer``: the same set-up (pgbouncer in
front of DATABASE_URL's Postgres, REDIS_URL's Redis, the Bot API emulator over HTTP with
Telegram's limits lifted, the bot as ``python -m adapters run --workers 0``), but each
round sends one command only, so a command that touches no database (/help) and one that
writes (/start: csvbot upserts the user) are measured apart. ``users`` users each send
``commands`` times the command, one after the other (each waits for its answer).

Measured per round: the bot process's CPU (psutil: user + system, its main thread and the
rest apart) divided by the updates of the round, and the getUpdates calls. CPU time, not
wall time: it holds on a loaded machine. Loopback only; every round is bounded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import uuid
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import trio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

import stack_bench  # noqa: E402
from stack import infra  # noqa: E402
from stack.users import Dispatcher, is_message  # noqa: E402

from bot.domain import TgUser  # noqa: E402
from sim.emulators.botapi_server import serve_emulator  # noqa: E402
from sim.fakes.telegram.limits import SendLimits  # noqa: E402
from sim.fakes.telegram.world import BotApiWorld  # noqa: E402

ROUND_LIMIT_S = 180.0


def thread_cpu_s(pid: int) -> tuple[float, float]:
    """(CPU seconds of the process's main thread, of all its other threads)."""
    proc = psutil.Process(pid)
    main = rest = 0.0
    for thread in proc.threads():
        cpu = thread.user_time + thread.system_time
        if thread.id == pid:
            main += cpu
        else:
            rest += cpu
    total = sum(proc.cpu_times()[:2])
    # Threads that ended are in the process's total but in no thread's line.
    return main, max(rest, total - main)


async def _user(
    d: Dispatcher, world: BotApiWorld, chat: int, text: str, count: int, failures: list[str]
) -> None:
    user = TgUser(id=chat, language_code="en", first_name=f"u{chat}")
    cursor = len(d.inboxes[chat].records)
    for _ in range(count):
        world.user_sends_text(user, chat, text)
        got = await d.wait_for(chat, cursor, is_message, 60.0)
        if got is None:
            failures.append(f"{chat}: no answer to {text}")
            return
        cursor = got[2]


async def _round(
    world: BotApiWorld, pid: int, text: str, users: int, commands: int, first_chat: int, rng: random.Random
) -> dict[str, Any]:
    dispatcher = Dispatcher(world)
    failures: list[str] = []
    main_before, rest_before = thread_cpu_s(pid)
    polls_before = world.calls["getUpdates"]
    updates_before = world._next_update_id
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(dispatcher.run)
        with trio.move_on_after(ROUND_LIMIT_S):
            async with trio.open_nursery() as load:
                for i in range(users):
                    load.start_soon(_user, dispatcher, world, first_chat + i, text, commands, failures)
                    await trio.sleep(rng.uniform(0, 2.0 / users))  # arrivals within ~1 s
        nursery.cancel_scope.cancel()
    wall = time.perf_counter() - started
    main_after, rest_after = thread_cpu_s(pid)
    updates = world._next_update_id - updates_before
    main_ms, rest_ms = 1000 * (main_after - main_before), 1000 * (rest_after - rest_before)
    return {
        "command": text,
        "updates": updates,
        "wall_s": wall,
        "get_updates_calls": world.calls["getUpdates"] - polls_before,
        "cpu_ms_per_update": (main_ms + rest_ms) / max(1, updates),
        "main_thread_ms_per_update": main_ms / max(1, updates),
        "other_threads_ms_per_update": rest_ms / max(1, updates),
        "failures": failures[:5],
        "failed": len(failures),
    }


async def _profile(pid: int, out: Path) -> trio.Process:
    command = ["py-spy", "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--gil",
               "--output", str(out), "--nonblocking", "--duration", "600"]  # fmt: skip
    return await trio.lowlevel.open_process(command, stdout=sys.stderr, stderr=sys.stderr)


async def _stop_profile(process: trio.Process) -> None:
    with trio.CancelScope(shield=True):
        process.send_signal(2)
        with trio.move_on_after(20):
            await process.wait()
        if process.returncode is None:
            process.kill()


async def run_bot(cfg: stack_bench.Config, kind: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    suffix = uuid.uuid4().hex[:8]
    schema = f"bench_{suffix}"
    run_dir = cfg.out_dir / "runs" / f"cpu-{kind}-{suffix}"
    run_dir.mkdir(parents=True, exist_ok=True)
    world = BotApiWorld(stack_bench.TOKEN, now=lambda: int(time.time()))
    rounds: list[dict[str, Any]] = []
    rng = random.Random(kind)
    try:
        async with trio.open_nursery() as servers, AsyncExitStack() as stack:
            telegram_url: str = await servers.start(
                partial(serve_emulator, world, limits=SendLimits(enabled=False))
            )
            bouncer = await stack.enter_async_context(
                infra.pgbouncer(cfg.database_url, run_dir / "pgbouncer")
            )
            env = stack_bench._env(cfg, bouncer.url, telegram_url, "http://127.0.0.1:9", run_dir, schema)
            env["STORAGE"] = "local"
            if args.cprofile is not None and kind == "csvbot":
                args.cprofile.mkdir(parents=True, exist_ok=True)
                name = "csvbot-" + "-".join(t.strip("/") for t in args.texts) + ".pstats"
                env["CSVBOT_CPROFILE"] = str(args.cprofile.resolve() / name)
            if kind == "aiogram":
                command = [cfg.peer_python or "python", str(HERE / "peers" / "aiogram_bot.py")]
                bot = await stack.enter_async_context(
                    infra.child("aiogram", command, {**env, "PYTHONPATH": ""}, run_dir / "aiogram.log")
                )
                await infra.wait_for_log(bot, "peer.started", 60)
            else:
                bot = await stack.enter_async_context(
                    infra.child("bot", infra.bot_command(0), env, run_dir / "bot.log")
                )
                await infra.wait_for_log(bot, "bot.starting", 60)
            chat = 1_000_000
            # Warm-up, unmeasured: connections open, code paths run once.
            for text in ("/start", "/help"):
                await _round(world, bot.pid, text, 4, 3, 900_000, rng)
            for n in range(args.rounds):
                for text in args.texts:
                    profiler = None
                    if args.profile is not None:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        name = f"{kind}-{text.strip('/')}-{n}.txt"
                        profiler = await _profile(bot.pid, args.profile / name)
                        await trio.sleep(1.0)  # py-spy attaches
                    try:
                        result = await _round(world, bot.pid, text, args.users, args.commands, chat, rng)
                    finally:
                        if profiler is not None:
                            await _stop_profile(profiler)
                    chat += args.users
                    result["bot"] = kind
                    result["round"] = n
                    result["load_1m"] = os.getloadavg()[0]
                    print(
                        f"{kind:8} {text:7} round {n}: {result['cpu_ms_per_update']:.2f} ms/update "
                        f"(main thread {result['main_thread_ms_per_update']:.2f}, other threads "
                        f"{result['other_threads_ms_per_update']:.2f}); {result['updates']} updates, "
                        f"{result['get_updates_calls']} getUpdates, {result['wall_s']:.1f} s wall, "
                        f"{result['failed']} failed, load {result['load_1m']:.1f}",
                        flush=True,
                    )
                    rounds.append(result)
            servers_cancel = servers.cancel_scope
            await stack.aclose()
            servers_cancel.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(infra.drop_schema, cfg.database_url, schema)
            await trio.to_thread.run_sync(infra.drop_keys, cfg.redis_url, f"{schema}:")
    return rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bots", default="csvbot,aiogram", help="csvbot, aiogram, or both")
    parser.add_argument("--texts", default="/help,/start", help="commands, one round each")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--commands", type=int, default=10, help="commands per user per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--send-limit", choices=("shared", "local"), default="shared")
    parser.add_argument("--peer-python", default=str(ROOT / ".venv-peer" / "bin" / "python"))
    parser.add_argument("--profile", type=Path, default=None, help="folder for py-spy --gil profiles")
    parser.add_argument(
        "--cprofile", type=Path, default=None, help="folder: csvbot under cProfile (main thread's CPU clock)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args(argv)
    args.texts = args.texts.split(",")
    bots = args.bots.split(",")
    if "aiogram" in bots and not Path(args.peer_python).exists():
        print(f"no peer interpreter at {args.peer_python}; see bench/peers/README.md", file=sys.stderr)
        return 2
    cfg = stack_bench.Config(
        workers=0,
        bot_jobs=0,
        limits=False,
        profile_dir=None,
        out_dir=args.out,
        database_url=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        peer_python=args.peer_python,
        send_limit=args.send_limit,
    )
    header = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_1m_before": os.getloadavg()[0],
        "users": args.users,
        "commands": args.commands,
        "send_limit": args.send_limit,
    }
    print(f"update CPU bench {header}", flush=True)
    results: list[dict[str, Any]] = []
    for kind in bots:
        results += trio.run(run_bot, cfg, kind, args)
    print("\n| bot | command | CPU ms per update (median) | main thread | other threads | getUpdates |")
    print("|---|---|---:|---:|---:|---:|")
    for kind in bots:
        for text in args.texts:
            mine = [r for r in results if r["bot"] == kind and r["command"] == text]
            if not mine:
                continue

            def med(key: str, rows: list[dict[str, Any]] = mine) -> float:
                return statistics.median(r[key] for r in rows)

            cpu, main_ms = med("cpu_ms_per_update"), med("main_thread_ms_per_update")
            rest, polls = med("other_threads_ms_per_update"), med("get_updates_calls")
            print(f"| {kind} | {text} | {cpu:.2f} | {main_ms:.2f} | {rest:.2f} | {polls:.0f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    out = args.out / f"update-cpu-{stamp}.json"
    out.write_text(json.dumps({"header": header, "rounds": results}, indent=1))
    print(f"\nwritten: {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
