"""Redis, blob storage and Bot API calls through the production adapters."""

from __future__ import annotations

import tempfile
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import trio
from stack.infra import drop_keys

from adapters.local_blobs import LocalBlobStore
from adapters.redis_client import RedisClient
from adapters.redis_queue import RedisJobQueue
from adapters.redis_send_bucket import RedisSendBucket
from adapters.redis_state import RedisConversationStore
from adapters.supabase_storage import SupabaseBlobStore
from adapters.telegram_http import HttpTelegramApi
from bot.ports import SendRates

from .emulators import BUCKET, CHATS, STORAGE_KEY, TOKEN
from .stats import Samples

BLOB = b"date,city,amount\n" + b"2024-01-01,Kazan,12.50\n" * 900  # ~20 KB, the bench's typical file
# Lifted limits: each reservation is one script call that never has to wait.
RATES = SendRates(global_interval_s=1e-4, global_tolerance_s=1.0, chat_interval_s=1e-4, chat_tolerance_s=1.0)


async def time_redis(redis_url: str, prefix: str, count: int) -> dict[str, Samples]:
    client = RedisClient(redis_url)
    queue = RedisJobQueue(client, stream=f"{prefix}jobs")
    state = RedisConversationStore(client, prefix=prefix)
    bucket = RedisSendBucket(client, prefix)
    out: dict[str, Samples] = {}

    def s(name: str) -> Samples:
        return out.setdefault(name, Samples())

    try:
        await queue.ensure_group()
        for n in range(count + 5):
            chat = n % 50 + 1
            job = str(uuid.uuid4())
            await s("queue.enqueue").time(partial(queue.enqueue, job))
            delivery = await s("queue.claim").time(partial(queue.claim, "calibrate", 0.0))
            if delivery is not None:
                await s("queue.ack").time(partial(queue.ack, delivery))
            await s("state.set").time(partial(state.set, chat, chat, {"step": "column", "n": n}, 600))
            await s("state.get").time(partial(state.get, chat, chat))
            await s("state.clear").time(partial(state.clear, chat, chat))
            await s("send_bucket.reserve").time(partial(bucket.reserve, chat, RATES))
        for samples in out.values():  # the first calls warmed the connection up
            del samples.wall_s[:5], samples.cpu_s[:5]
    finally:
        await client.aclose()
        await trio.to_thread.run_sync(drop_keys, redis_url, prefix)
    return out


async def _time_blobs(store: Any, name: str, count: int, out: dict[str, Samples]) -> None:
    for _ in range(count + 3):
        key = f"calibrate/{uuid.uuid4()}.csv"
        await out.setdefault(f"{name}.put", Samples()).time(partial(store.put, key, BLOB))
        await out.setdefault(f"{name}.get", Samples()).time(partial(store.get, key))
        await out.setdefault(f"{name}.delete", Samples()).time(partial(store.delete, key))
    for key in [k for k in out if k.startswith(name)]:
        del out[key].wall_s[:3], out[key].cpu_s[:3]


async def time_storage(storage_url: str, count: int) -> dict[str, Samples]:
    out: dict[str, Samples] = {}
    with tempfile.TemporaryDirectory(prefix="calibrate-blobs-") as folder:
        await _time_blobs(LocalBlobStore(Path(folder)), "local", count, out)
    remote = await SupabaseBlobStore.connect(storage_url, STORAGE_KEY, BUCKET)
    try:
        await _time_blobs(remote, "emulator", count, out)
    finally:
        await remote.aclose()
    return out


async def time_telegram(telegram_url: str, count: int) -> dict[str, Samples]:
    api = HttpTelegramApi(TOKEN, telegram_url)
    out: dict[str, Samples] = {}

    def s(name: str) -> Samples:
        return out.setdefault(name, Samples())

    try:
        updates = await api.get_updates(None, 0)
        document = next(u for u in updates if u.message is not None and u.message.document is not None)
        assert document.message is not None and document.message.document is not None
        file_id = document.message.document.file_id
        for n in range(count + 3):
            chat = n % CHATS + 1
            sent = await s("send_message").time(partial(api.send_message, chat, f"<b>Profile</b> part {n}"))
            await s("edit_message_text").time(
                partial(api.edit_message_text, chat, sent.message_id, f"<b>Profile</b> part {n}, edited")
            )
            await s("get_updates").time(partial(api.get_updates, updates[-1].update_id + 1, 0))
            tg_file = await s("get_file").time(partial(api.get_file, file_id))
            await s("download_file").time(partial(api.download_file, tg_file.file_path or ""))
        for samples in out.values():
            del samples.wall_s[:3], samples.cpu_s[:3]
    finally:
        await api.aclose()
    return out
