"""Contract of bot.ports.BlobStore: local disk, Supabase Storage (emulator over HTTP),
and the in-memory twin. The last tests are about the Supabase adapter and emulator
alone: faults, cancellation, and the wire format of errors."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import httpx2
import pytest
import trio
import trio_asyncio

from adapters.local_blobs import LocalBlobStore
from adapters.supabase_storage import SupabaseBlobStore
from bot.blob_keys import check_key
from bot.errors import BlobNotFound, ServiceUnavailable
from sim.emulators.storage import StorageEmulator, serve_storage_emulator

from .kv_fixtures import BUCKET, SERVICE_KEY, BlobHarness, blobs

__all__ = ["blobs"]  # fixture, imported for pytest

CSV = b"name,qty\nwidget,3\n"
BAD_KEYS = [
    "",
    "/etc/passwd",
    "../escape.csv",
    "42/../../escape.csv",
    "42/./x.csv",
    "42//x.csv",
    "42/",
    "..",
    "42\\x.csv",
    "42/отчёт.csv",  # outside Supabase's key alphabet: keys must be sanitised first
    "42/x%2e%2e.csv",
    "a" * 1025,
]


async def test_put_then_get_round_trips_bytes(blobs: BlobHarness) -> None:
    payload = bytes(range(256)) * 64
    await blobs.store.put("7/abc_data.bin", payload, "application/octet-stream")
    await blobs.store.put("7/abc_report.csv", CSV)
    assert await blobs.store.get("7/abc_data.bin") == payload
    assert await blobs.store.get("7/abc_report.csv") == CSV


async def test_put_overwrites(blobs: BlobHarness) -> None:
    await blobs.store.put("7/a.csv", b"old")
    await blobs.store.put("7/a.csv", b"new content")
    assert await blobs.store.get("7/a.csv") == b"new content"


async def test_empty_blob_is_a_blob(blobs: BlobHarness) -> None:
    await blobs.store.put("7/empty.csv", b"")
    assert await blobs.store.get("7/empty.csv") == b""
    assert await blobs.store.list_keys("7/") == ["7/empty.csv"]


async def test_get_of_missing_key_raises_blob_not_found(blobs: BlobHarness) -> None:
    with pytest.raises(BlobNotFound) as info:
        await blobs.store.get("7/missing.csv")
    assert info.value.key == "7/missing.csv"


async def test_a_folder_is_not_a_blob(blobs: BlobHarness) -> None:
    await blobs.store.put("7/sub/x.csv", CSV)
    with pytest.raises(BlobNotFound):
        await blobs.store.get("7/sub")
    await blobs.store.delete("7/sub")  # no blob by that name: a no-op
    assert await blobs.store.get("7/sub/x.csv") == CSV


async def test_delete_removes_and_missing_delete_is_a_no_op(blobs: BlobHarness) -> None:
    await blobs.store.put("7/a.csv", CSV)
    await blobs.store.delete("7/a.csv")
    with pytest.raises(BlobNotFound):
        await blobs.store.get("7/a.csv")
    await blobs.store.delete("7/a.csv")
    await blobs.store.delete("8/never-existed.csv")
    assert await blobs.store.list_keys("") == []


async def test_list_keys_by_prefix(blobs: BlobHarness) -> None:
    keys = ["7/a_one.csv", "7/b_two.csv", "7/deep/c.csv", "70/x.csv", "8/y.csv", "top.csv"]
    for key in keys:
        await blobs.store.put(key, CSV)
    store = blobs.store
    assert await store.list_keys("") == sorted(keys)
    assert await store.list_keys("7/") == ["7/a_one.csv", "7/b_two.csv", "7/deep/c.csv"]
    assert await store.list_keys("7") == ["7/a_one.csv", "7/b_two.csv", "7/deep/c.csv", "70/x.csv"]
    assert await store.list_keys("7/a") == ["7/a_one.csv"]
    assert await store.list_keys("7/deep/") == ["7/deep/c.csv"]
    assert await store.list_keys("9/") == []


async def test_list_prefix_is_exact_not_a_pattern(blobs: BlobHarness) -> None:
    # Supabase matches names with a case-insensitive LIKE; the contract is an exact prefix.
    for key in ("7/a_b.csv", "7/axb.csv", "7/A_b.csv"):
        await blobs.store.put(key, CSV)
    assert await blobs.store.list_keys("7/a_") == ["7/a_b.csv"]
    assert await blobs.store.list_keys("7/A") == ["7/A_b.csv"]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_unsafe_keys_are_refused_before_any_io(blobs: BlobHarness, key: str) -> None:
    with pytest.raises(ValueError):
        await blobs.store.put(key, CSV)
    with pytest.raises(ValueError):
        await blobs.store.get(key)
    with pytest.raises(ValueError):
        await blobs.store.delete(key)
    if blobs.emulator is not None:
        assert not any("/object/" in r for r in blobs.emulator.requests)
    assert await blobs.store.list_keys("") == []


@pytest.mark.parametrize("prefix", ["/", "../", "7/../", "7\\", "..", "7/отчёт"])
async def test_unsafe_prefixes_are_refused(blobs: BlobHarness, prefix: str) -> None:
    with pytest.raises(ValueError):
        await blobs.store.list_keys(prefix)


def test_key_rule_accepts_the_keys_the_bot_makes() -> None:
    assert check_key("123456/0b1c2d3e-aaaa-4bbb-8ccc-0123456789ab_sales_2024.csv")
    assert check_key("1/report (final).csv")


# ------------------------------------------------------------ local disk only


async def test_local_store_keeps_files_under_its_root_and_no_temp_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    await store.put("7/a.csv", CSV)
    assert (tmp_path / "root" / "7" / "a.csv").read_bytes() == CSV
    assert sorted(p.name for p in (tmp_path / "root" / "7").iterdir()) == ["a.csv"]


async def test_local_put_cancelled_before_it_finishes_leaves_no_trace(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    with trio.CancelScope() as scope:
        scope.cancel()
        await store.put("7/a.csv", CSV)
    assert await store.list_keys("") == []
    leftovers = [p for p in (tmp_path / "root").rglob("*") if p.is_file()]
    assert leftovers == []


# ------------------------------------------------------------ Supabase adapter + emulator


async def _supabase(nursery: trio.Nursery, emulator: StorageEmulator) -> tuple[SupabaseBlobStore, str]:
    base_url: str = await nursery.start(partial(serve_storage_emulator, emulator=emulator))
    store = await SupabaseBlobStore.connect(base_url, SERVICE_KEY, BUCKET)
    return store, base_url


async def test_supabase_5xx_is_service_unavailable_and_the_next_call_works(nursery: trio.Nursery) -> None:
    emulator = StorageEmulator(service_key=SERVICE_KEY, buckets=(BUCKET,))
    async with trio_asyncio.open_loop():
        store, _ = await _supabase(nursery, emulator)
        try:
            await store.put("7/a.csv", CSV)
            emulator.faults.fail_next = 2
            for _ in range(2):
                with pytest.raises(ServiceUnavailable) as info:
                    await store.get("7/a.csv")
                assert info.value.service == "storage"
            assert await store.get("7/a.csv") == CSV
        finally:
            await store.aclose()


async def test_supabase_call_cancelled_during_a_stall_leaves_the_store_usable(nursery: trio.Nursery) -> None:
    emulator = StorageEmulator(service_key=SERVICE_KEY, buckets=(BUCKET,))
    async with trio_asyncio.open_loop():
        store, _ = await _supabase(nursery, emulator)
        try:
            emulator.faults.stall_s = 30.0
            with trio.move_on_after(0.3) as scope:
                await store.put("7/slow.csv", CSV)
            assert scope.cancelled_caught
            emulator.faults.stall_s = 0.0
            await store.put("7/fast.csv", CSV)
            assert await store.get("7/fast.csv") == CSV
        finally:
            await store.aclose()


async def test_supabase_wrong_key_and_missing_bucket_are_service_unavailable(nursery: trio.Nursery) -> None:
    emulator = StorageEmulator(service_key=SERVICE_KEY, buckets=(BUCKET,))
    base_url: str = await nursery.start(partial(serve_storage_emulator, emulator=emulator))
    async with trio_asyncio.open_loop():
        wrong = await SupabaseBlobStore.connect(base_url, "not-the-key", BUCKET)
        no_bucket = await SupabaseBlobStore.connect(base_url, SERVICE_KEY, "no-such-bucket")
        try:
            with pytest.raises(ServiceUnavailable):
                await wrong.get("7/a.csv")
            # A missing bucket is a deployment error, not a missing blob.
            with pytest.raises(ServiceUnavailable) as info:
                await no_bucket.get("7/a.csv")
            assert not isinstance(info.value, BlobNotFound)
        finally:
            await wrong.aclose()
            await no_bucket.aclose()


async def test_emulator_speaks_the_storage_error_format_and_fault_endpoint(nursery: trio.Nursery) -> None:
    emulator = StorageEmulator(buckets=(BUCKET,))
    base_url: str = await nursery.start(partial(serve_storage_emulator, emulator=emulator))
    async with httpx2.AsyncClient(base_url=base_url) as http:
        missing = await http.get(f"/storage/v1/object/{BUCKET}/7/none.csv")
        assert missing.status_code == 404
        assert missing.json() == {"statusCode": "404", "error": "not_found", "message": "Object not found"}

        first = await http.post(
            f"/storage/v1/object/{BUCKET}/7/a.csv", content=b"1", headers={"content-type": "text/csv"}
        )
        assert first.status_code == 200 and first.json()["Key"] == f"{BUCKET}/7/a.csv"
        again = await http.post(f"/storage/v1/object/{BUCKET}/7/a.csv", content=b"2")
        assert again.status_code == 409 and again.json()["error"] == "Duplicate"
        upsert = await http.post(
            f"/storage/v1/object/{BUCKET}/7/a.csv", content=b"3", headers={"x-upsert": "true"}
        )
        assert upsert.status_code == 200
        assert (await http.get(f"/storage/v1/object/authenticated/{BUCKET}/7/a.csv")).content == b"3"

        knobs = await http.post("/_emulator/faults", json={"fail_next": 1, "fail_status": 502})
        assert knobs.json()["fail_next"] == 1
        failed = await http.get(f"/storage/v1/object/{BUCKET}/7/a.csv")
        assert failed.status_code == 502
        assert (await http.get(f"/storage/v1/object/{BUCKET}/7/a.csv")).status_code == 200
