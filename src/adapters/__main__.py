"""Command line: ``python -m adapters run | worker | sweep``.

- ``run``: the bot against Telegram (``TELEGRAM_BOT_TOKEN``): poller, one in-process
  worker and the reconciler. SIGTERM/SIGINT stop it gracefully.
- ``worker``: a job-worker process only (start any number).
- ``sweep [--delete]``: compare blob storage with the uploads table; print blobs without
  an upload row (deleted with ``--delete``) and rows whose blob is missing, as JSON.

``run`` and ``worker`` serve ``/metrics``, ``/healthz`` and ``/readyz`` on
``METRICS_HOST:METRICS_PORT`` (see :mod:`adapters.ops`); ``SENTRY_DSN`` turns error
tracking on, ``LOG_FORMAT=json`` writes JSON lines.
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
from pathlib import Path

import trio
from pydantic import ValidationError

from adapters.compose import RealConfig, asyncio_bridge, real_adapters, real_services
from adapters.logging_sink import start_logging
from adapters.metrics_file import write_metrics
from adapters.ops.error_tracking import capture_crash, init_error_tracking, url_passwords
from adapters.ops.runtime import run_ops
from adapters.ops.settings import OpsSettings, ops_settings_from_env
from bot.app import BotHandle, Roles, run_bot
from bot.context import BotContext
from bot.settings import Settings, SettingsError, settings_from_env
from bot.sweep import sweep_orphans


async def _stop_on_signal(
    handle: BotHandle, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            logging.getLogger("csvbot").warning("signal %s: stopping gracefully", signal.Signals(signum).name)
            handle.stop()
            return


async def _serve(config: RealConfig, settings: Settings, roles: Roles, ops: OpsSettings) -> None:
    async with asyncio_bridge(), real_adapters(config, settings) as adapters, trio.open_nursery() as nursery:
        await nursery.start(partial(run_ops, adapters, settings, ops, poller=roles.poller))
        async with trio.open_nursery() as bot:
            handle: BotHandle = await bot.start(
                lambda task_status: run_bot(adapters.services, settings, roles=roles, task_status=task_status)
            )
            await bot.start(_stop_on_signal, handle)
        nursery.cancel_scope.cancel()  # the bot has stopped: so do its probes and endpoint
        metrics_file = os.environ.get("CSVBOT_METRICS_FILE")
        if metrics_file:
            # Shielded: this scope was just cancelled, and a short local write must still happen.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(write_metrics, Path(metrics_file), adapters.services)


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


def _run_profiled(runner: Callable[[], Awaitable[None]], stats_path: str | None) -> None:
    """``trio.run(runner)``; with ``CSVBOT_CPROFILE=path``, under cProfile timed by the
    main thread's CPU clock (the event loop's own CPU, not the wall: the benchmarks run on
    a loaded machine), its stats written to ``path`` at exit."""
    if not stats_path:
        trio.run(runner)
        return
    import cProfile
    import time

    profiler = cProfile.Profile(time.thread_time)
    try:
        profiler.runcall(trio.run, runner)
    finally:
        profiler.dump_stats(stats_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adapters", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot against Telegram")
    run.add_argument("--workers", type=int, default=1, help="concurrent jobs in this process (0: none)")
    worker = sub.add_parser("worker", help="run a job worker process")
    worker.add_argument("--workers", type=int, default=1, help="concurrent jobs in this process")
    worker.add_argument("--name", default=None, help="consumer name (default: host-pid)")
    sweep = sub.add_parser("sweep", help="find blobs without upload rows and rows without blobs")
    sweep.add_argument("--delete", action="store_true", help="delete the blobs that have no upload row")
    args = parser.parse_args(argv)

    try:  # every setting is checked before anything starts
        config = RealConfig.from_env()
        settings = settings_from_env()
        ops = ops_settings_from_env()
    except (SettingsError, ValidationError) as exc:
        print(exc, file=sys.stderr)
        return 2
    secrets = [*config.secrets, *url_passwords([config.database_url, config.redis_url])]
    listener = start_logging(
        secrets, level=logging.INFO, stream=sys.stderr, json_lines=ops.log_format == "json"
    )
    dsn = ops.sentry_dsn.get_secret_value() if ops.sentry_dsn else None
    if init_error_tracking(dsn, secrets, environment=ops.sentry_environment):
        logging.getLogger("csvbot").info("error tracking on (Sentry)")
    runner: Callable[[], Awaitable[None]]
    outcome: list[int] = []  # the sweep's exit status
    try:
        if args.command == "run":
            if not config.telegram_token:
                print(
                    "Set TELEGRAM_BOT_TOKEN (or try `just chat` to talk to it through the local emulator).",
                    file=sys.stderr,
                )
                return 2
            runner = partial(_serve, config, settings, Roles(workers=args.workers, name="bot"), ops)
        elif args.command == "worker":
            name = args.name or f"{socket.gethostname()}-{os.getpid()}"
            roles = Roles(poller=False, workers=args.workers, reconciler=True, name=name)
            runner = partial(_serve, config, settings, roles, ops)
        else:
            runner = partial(_sweep, config, settings, args.delete, outcome)
        try:
            _run_profiled(runner, os.environ.get("CSVBOT_CPROFILE"))
        except Exception as exc:  # the process is ending on it: make sure it is seen
            capture_crash(exc)
            raise
    finally:
        listener.stop()
    return outcome[0] if outcome else 0


if __name__ == "__main__":
    sys.exit(main())
