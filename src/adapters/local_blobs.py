"""Blobs as files under one root directory (the key rules every store shares are in bot.blob_keys).

All file I/O runs in worker threads, so a slow disk never stalls the event loop. A put
is one hand-off to one thread (it was seven, one per step): it writes a temporary file
next to the target, fsyncs it and renames it over the target, so readers see the old
content or the new, never a torn file. A put cancelled before the rename removes its
temp file and publishes nothing.
"""

from __future__ import annotations

import errno
import os
import secrets
import threading
from pathlib import Path

import trio

from adapters.threads import run_interruptible
from bot.blob_keys import check_key, check_prefix
from bot.errors import BlobNotFound, ServiceUnavailable

# Temp files carry '#', which no valid key contains, so they never look like blobs.
_TMP_MARK = "#"


class _PutCancelled(Exception):
    """The caller left before the rename: nothing was published (the caller sees
    ``trio.Cancelled``, not this)."""


def _write_atomically(target: Path, data: bytes, cancelled: threading.Event) -> None:
    """Temp file, fsync, rename (runs in a worker thread); the temp file never outlives
    a failure or a cancellation."""
    tmp = target.with_name(f"{_TMP_MARK}{target.name}.{secrets.token_hex(8)}.part")
    try:
        try:
            _write_file(tmp, data)
        except FileNotFoundError:
            # The folder went between mkdir and the write: a delete emptied it (see
            # LocalBlobStore._remove_empty_folders). Once more makes it again.
            _write_file(tmp, data)
        if cancelled.is_set():
            raise _PutCancelled
        tmp.replace(target)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise


def _write_file(tmp: Path, data: bytes) -> None:
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _scan(root: Path, prefix: str) -> list[str]:
    """Keys under ``root`` starting with ``prefix`` (runs in a worker thread)."""
    # Walk only the directory the prefix names, not the whole tree.
    head = prefix.rpartition("/")[0]
    start = root / head if head else root
    keys: list[str] = []
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames[:] = [d for d in dirnames if _TMP_MARK not in d]
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        for name in filenames:
            if _TMP_MARK in name:
                continue
            key = name if rel_dir == "." else f"{rel_dir}/{name}"
            if key.startswith(prefix):
                keys.append(key)
    keys.sort()
    return keys


class LocalBlobStore:
    """Implements :class:`bot.ports.BlobStore` on a local directory."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root).resolve()

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, key: str) -> trio.Path:
        return trio.Path(self._root / check_key(key))

    async def put(self, key: str, data: bytes, content_type: str = "text/csv") -> None:
        target = self._root / check_key(key)
        await trio.lowlevel.checkpoint_if_cancelled()
        cancelled = threading.Event()
        try:
            await run_interruptible(lambda: _write_atomically(target, data, cancelled), cancelled.set)
        except OSError as exc:
            raise ServiceUnavailable("storage", f"local write of {key!r} failed: {exc}") from exc

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFound(key) from exc
        except OSError as exc:
            raise ServiceUnavailable("storage", f"local read of {key!r} failed: {exc}") from exc

    async def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            await path.unlink(missing_ok=True)
        except (IsADirectoryError, NotADirectoryError):
            return  # no blob by that name
        except OSError as exc:
            if exc.errno in (errno.EISDIR, errno.EPERM) and await path.is_dir():
                return  # Linux reports unlink() of a directory as EISDIR or EPERM
            raise ServiceUnavailable("storage", f"local delete of {key!r} failed: {exc}") from exc
        await self._remove_empty_folders(path.parent)

    async def _remove_empty_folders(self, folder: trio.Path) -> None:
        """A folder left empty goes too: a user's folder is named by the user's id, and
        data that is gone must leave no trace (a folder still in use is not empty)."""
        root = trio.Path(self._root)
        while folder != root and root in folder.parents:
            try:
                await folder.rmdir()
            except OSError:
                return  # not empty (or already gone): nothing more to tidy
            folder = folder.parent

    async def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        try:
            return await trio.to_thread.run_sync(_scan, self._root, prefix)
        except OSError as exc:
            raise ServiceUnavailable("storage", f"local listing of {prefix!r} failed: {exc}") from exc


__all__ = ["LocalBlobStore"]
