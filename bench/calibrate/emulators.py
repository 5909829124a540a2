"""The Bot API and storage emulators in a child process, so that the CPU measured in
the calibrating process is the client's alone.

``python bench/calibrate_bench.py --serve-emulators`` runs :func:`serve`: it prints
one JSON line (the two base URLs and a file a user sent) and serves until killed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import trio

from bot.domain import TgUser

TOKEN = "5550002:CALIBRATE-TOKEN-abcdefghijklmnopqrstuv"  # noqa: S105 (the emulator's)
STORAGE_KEY = "calibrate-storage-key"
BUCKET = "uploads"
CHATS = 20


def serve() -> None:
    from sim.emulators.botapi_server import serve_emulator
    from sim.emulators.storage import StorageEmulator, serve_storage_emulator
    from sim.fakes.telegram.limits import SendLimits
    from sim.fakes.telegram.world import BotApiWorld

    world = BotApiWorld(TOKEN, now=lambda: int(time.time()))
    for chat in range(1, CHATS + 1):
        world.user_sends_text(TgUser(chat, "en"), chat, "/start")
    sent = world.user_sends_document(TgUser(1, "en"), 1, "a.csv", b"a,b\n" + b"1,2\n" * 5000)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            telegram = await nursery.start(partial(serve_emulator, world, limits=SendLimits(enabled=False)))
            storage = await nursery.start(
                partial(
                    serve_storage_emulator,
                    emulator=StorageEmulator(service_key=STORAGE_KEY, buckets=(BUCKET,)),
                )
            )
            print(
                json.dumps({"telegram": telegram, "storage": storage, "update": sent.update_id}), flush=True
            )

    trio.run(run)


@asynccontextmanager
async def emulators(script: Path) -> AsyncIterator[dict[str, Any]]:
    process = await trio.lowlevel.open_process(
        [sys.executable, str(script), "--serve-emulators"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        line = b""
        with trio.fail_after(60):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(4096)
                if not chunk:
                    raise RuntimeError("the emulators exited before serving")
                line += chunk
        yield json.loads(line)
    finally:
        with trio.CancelScope(shield=True):
            process.kill()
            await process.wait()
