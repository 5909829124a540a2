"""The orphan sweep on real Postgres and local-disk blobs, run as ``just sweep`` runs it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
from tests.e2e.outcomes import is_profile, sample_csv, send_upload
from tests.e2e.stack import Stack, real_stack

pytestmark = pytest.mark.e2e


async def sweep_cli(stack: Stack, *args: str) -> dict[str, Any]:
    config = stack.config
    env = {
        **os.environ,
        "DATABASE_URL": config.database_url or "",
        "REDIS_URL": config.redis_url or "",
        "DB_SCHEMA": config.db_schema or "",
        "REDIS_PREFIX": config.redis_prefix,
        "CSVBOT_DATA_DIR": str(config.data_dir),
        "STORAGE": "local",
    }
    command = [sys.executable, "-m", "adapters", "sweep", *args]
    with trio.fail_after(60):
        done = await trio.run_process(command, env=env, capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


async def test_sweep_finds_blobs_without_rows_and_rows_without_blobs(tmp_path: Path) -> None:
    async with real_stack(tmp_path) as stack:
        world, repo, blobs = stack.world, stack.services.repo, stack.services.blobs
        uploads = [send_upload(world, 9100 + n, f"file_{n}.csv", sample_csv(n)) for n in range(3)]
        for upload in uploads:
            await world.wait_for_bot_message(upload.chat_id, is_profile, timeout=60)
        kept, deleted, lost = [(await repo.list_uploads(u.chat_id, 1))[0] for u in uploads]
        assert kept.blob_key and deleted.blob_key and lost.blob_key

        # The row goes but its blob stays (a failed blob delete); another blob vanishes.
        assert await repo.delete_upload(deleted.user_id, deleted.upload_id) is not None
        await blobs.delete(lost.blob_key)
        await blobs.put("ops/readme.txt", b"not an upload")

        report = await sweep_cli(stack)
        assert report["orphan_blob_keys"] == [deleted.blob_key]
        assert report["deleted_blob_keys"] == []
        assert report["unrecognised_blob_keys"] == ["ops/readme.txt"]
        assert report["rows_without_blob"] == [
            {"upload_id": lost.upload_id, "user_id": lost.user_id, "blob_key": lost.blob_key}
        ]
        assert (report["blobs_seen"], report["rows_checked"]) == (3, 2)
        assert deleted.blob_key in await blobs.list_keys("")  # a dry run changes nothing

        report = await sweep_cli(stack, "--delete")
        assert report["deleted_blob_keys"] == [deleted.blob_key]
        assert report["errors"] == []
        assert await blobs.list_keys("") == sorted([kept.blob_key, "ops/readme.txt"])
        assert await repo.get_upload(lost.user_id, lost.upload_id) is not None  # rows are only reported
