"""Command line: ``python -m adapters run | worker | chat``.

- ``run``: the bot against Telegram (``TELEGRAM_BOT_TOKEN``): poller, one in-process
  worker and the reconciler. SIGTERM/SIGINT stop it gracefully.
- ``worker``: a job-worker process only (start any number).
- ``chat``: the real bot, real adapters, against the local Bot API emulator, with a
  terminal client so a person can act as a Telegram user.
- ``sweep [--delete]``: compare blob storage with the uploads table; print blobs without
  an upload row (deleted with ``--delete``) and rows whose blob is missing, as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TextIO

import trio

from adapters.compose import RealConfig, asyncio_bridge, real_services
from adapters.logging_sink import start_logging
from bot.app import BotHandle, Roles, run_bot
from bot.context import BotContext
from bot.settings import Settings, SettingsError, settings_from_env
from bot.sweep import sweep_orphans

EMULATOR_TOKEN = "123456:LOCAL-EMULATOR-TOKEN-0000000000000000"  # noqa: S105 (the emulator's, not a secret)


async def _stop_on_signal(
    handle: BotHandle, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            logging.getLogger("csvbot").warning("signal %s: stopping gracefully", signal.Signals(signum).name)
            handle.stop()
            return


async def _serve(config: RealConfig, settings: Settings, roles: Roles) -> None:
    async with asyncio_bridge(), real_services(config, settings) as services, trio.open_nursery() as nursery:
        handle: BotHandle = await nursery.start(
            lambda task_status: run_bot(services, settings, roles=roles, task_status=task_status)
        )
        await nursery.start(_stop_on_signal, handle)


async def _chat(config: RealConfig, settings: Settings, user_id: int, language: str) -> None:
    from sim.botapi.chat import run_chat
    from sim.botapi.server import serve_emulator
    from sim.botapi.world import BotApiWorld

    world = BotApiWorld(token=EMULATOR_TOKEN)
    async with trio.open_nursery() as outer:
        url: str = await outer.start(serve_emulator, world)
        local = config.model_copy(update={"telegram_token": EMULATOR_TOKEN, "telegram_url": url})
        async with asyncio_bridge(), real_services(local, settings) as services, trio.open_nursery() as inner:
            handle: BotHandle = await inner.start(
                lambda task_status: run_bot(
                    services, settings, roles=Roles(name="chat"), task_status=task_status
                )
            )
            print(f"Bot API emulator at {url}; you are user {user_id} ({language}). Type /start.", flush=True)
            await run_chat(url, user_id, language)
            handle.stop()
        outer.cancel_scope.cancel()


async def _sweep(config: RealConfig, settings: Settings, delete: bool, outcome: list[int]) -> None:
    async with asyncio_bridge(), real_services(config, settings) as services:
        report = await sweep_orphans(BotContext.build(services, settings), delete=delete)
    out = {
        **report.summary(),
        "orphan_blob_keys": report.orphan_blobs,
        "deleted_blob_keys": report.deleted_blobs,
        "unrecognised_blob_keys": report.unrecognised_blobs,
        "rows_without_blob": [
            {"upload_id": u.upload_id, "user_id": u.user_id, "blob_key": u.blob_key}
            for u in report.missing_blobs
        ],
        "errors": report.errors,
    }
    print(json.dumps(out, indent=2, ensure_ascii=False), flush=True)
    outcome.append(1 if report.errors else 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adapters", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot against Telegram")
    worker = sub.add_parser("worker", help="run a job worker process")
    worker.add_argument("--workers", type=int, default=1, help="concurrent jobs in this process")
    worker.add_argument("--name", default=None, help="consumer name (default: host-pid)")
    chat = sub.add_parser("chat", help="chat with the bot through the local emulator")
    chat.add_argument("--user-id", type=int, default=1001)
    chat.add_argument("--language", default="ru")
    sweep = sub.add_parser("sweep", help="find blobs without upload rows and rows without blobs")
    sweep.add_argument("--delete", action="store_true", help="delete the blobs that have no upload row")
    args = parser.parse_args(argv)

    try:  # every setting is checked before anything starts
        config = RealConfig.from_env()
        settings = settings_from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    log_stream: TextIO = sys.stderr
    if args.command == "chat":
        # The terminal is the chat; the bot's log goes to a file beside its data.
        config.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = config.data_dir / "chat.log"
        log_stream = log_path.open("a", encoding="utf-8")
        print(f"bot log: {log_path}", flush=True)
    listener = start_logging(config.secrets, level=logging.INFO, stream=log_stream)
    runner: Callable[[], Awaitable[None]]
    outcome: list[int] = []  # the sweep's exit status
    try:
        if args.command == "run":
            if not config.telegram_token:
                print(
                    "Set TELEGRAM_BOT_TOKEN (or try `just chat` to use the local emulator).", file=sys.stderr
                )
                return 2
            runner = partial(_serve, config, settings, Roles(name="bot"))
        elif args.command == "worker":
            name = args.name or f"{socket.gethostname()}-{os.getpid()}"
            roles = Roles(poller=False, workers=args.workers, reconciler=True, name=name)
            runner = partial(_serve, config, settings, roles)
        elif args.command == "sweep":
            runner = partial(_sweep, config, settings, args.delete, outcome)
        else:
            runner = partial(_chat, config, settings, args.user_id, args.language)
        trio.run(runner)
    finally:
        listener.stop()
        if log_stream is not sys.stderr:
            log_stream.close()
    return outcome[0] if outcome else 0


if __name__ == "__main__":
    sys.exit(main())
