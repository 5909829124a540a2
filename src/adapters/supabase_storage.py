"""Blobs in a Supabase Storage bucket, through the official client's async storage API.

``supabase.acreate_client`` gives an asyncio client (storage3's ``AsyncStorageClient``
over httpx); every call crosses into asyncio through trio-asyncio. The sync client
would block the Trio loop for the whole HTTP exchange, so it is not used.

Error mapping: a missing object is :class:`BlobNotFound`; anything else the service
or the network reports (5xx, 401, a missing bucket, a timeout, a reset) is
:class:`ServiceUnavailable` ``("storage", ...)``. Retries with backoff belong to the
caller, which knows how much of its deadline is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio._backends._asyncio as _anyio_asyncio
import httpx
import trio_asyncio  # noqa: F401 - imported for its patches of asyncio's loop lookup
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException
from supabase import AsyncClientOptions, acreate_client

from adapters.asyncio_bridge import aio
from bot.blob_keys import check_key, check_prefix
from bot.errors import BlobNotFound, ServiceUnavailable

T = TypeVar("T")

_LIST_PAGE = 1000
# Created by the Supabase dashboard to keep "empty folders"; never one of our blobs.
_PLACEHOLDER = ".emptyFolderPlaceholder"


def _align_anyio_with_trio_asyncio() -> None:
    """Make anyio's asyncio backend (httpx runs on it) find trio-asyncio's loop.

    trio-asyncio replaces ``asyncio.get_running_loop`` (and ``current_task``) with
    versions that know its loop; anyio binds those names when its backend module is
    first imported. Imported before trio-asyncio (anyio's pytest plugin does that),
    it keeps the originals and every httpx call fails with "no running event loop".
    """
    for name in ("get_running_loop", "current_task"):
        patched = getattr(asyncio, name)
        if getattr(_anyio_asyncio, name, patched) is not patched:
            setattr(_anyio_asyncio, name, patched)


_align_anyio_with_trio_asyncio()


def _is_missing_object(exc: StorageApiError) -> bool:
    text = f"{exc.code} {exc.message}".lower()
    if "bucket" in text:
        return False  # a missing bucket is a deployment problem, not a missing blob
    return str(exc.status) == "404" or "not_found" in text or "not found" in text


def open_http_client(max_connections: int = 20) -> httpx.AsyncClient:
    """The httpx client the storage calls share (asyncio flavoured, used via trio-asyncio).

    Its timeouts are only a backstop: the core's named deadlines are shorter."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(60.0, connect=5.0),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        follow_redirects=True,
    )


class SupabaseBlobStore:
    """Implements :class:`bot.ports.BlobStore` on one bucket.

    Build it with :meth:`connect` inside ``trio_asyncio.open_loop()``; close it with
    :meth:`aclose`."""

    def __init__(self, storage: Any, bucket: str, http: httpx.AsyncClient | None = None) -> None:
        self._storage = storage
        self._bucket = bucket
        self._http = http

    @classmethod
    async def connect(
        cls, url: str, key: str, bucket: str, *, max_connections: int = 20
    ) -> SupabaseBlobStore:
        """``url`` is the project's ``SUPABASE_URL``; ``key`` its service-role key."""
        http = open_http_client(max_connections)
        options = AsyncClientOptions(httpx_client=http, auto_refresh_token=False, persist_session=False)
        try:
            client = await aio(acreate_client, url, key, options=options)
        except BaseException:
            await aio(http.aclose)
            raise
        return cls(client.storage, bucket, http)

    async def aclose(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await aio(http.aclose)

    async def _call(self, key: str, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        try:
            return await aio(fn, *args, **kwargs)
        except StorageApiError as exc:
            if _is_missing_object(exc):
                raise BlobNotFound(key) from exc
            raise ServiceUnavailable("storage", f"{exc.status} {exc.code}: {exc.message}") from exc
        except (StorageException, httpx.HTTPError, OSError) as exc:
            raise ServiceUnavailable("storage", f"{type(exc).__name__}: {exc}") from exc
        except ValueError as exc:  # a JSON body that is not what the API promises
            raise ServiceUnavailable("storage", f"bad response: {exc}") from exc

    def _bucket_api(self) -> Any:
        return self._storage.from_(self._bucket)

    async def ensure_bucket(self, *, public: bool = False) -> None:
        """Create the bucket if it does not exist (development and tests)."""
        try:
            await self._call(self._bucket, self._storage.get_bucket, self._bucket)
            return
        except ServiceUnavailable as exc:
            if "not found" not in exc.detail.lower():
                raise
        try:
            await self._call(
                self._bucket, self._storage.create_bucket, self._bucket, options={"public": public}
            )
        except ServiceUnavailable as exc:
            if "already exists" not in exc.detail.lower():  # created meanwhile by another process
                raise

    async def put(self, key: str, data: bytes, content_type: str = "text/csv") -> None:
        check_key(key)
        # Upsert: a retried or resumed job overwrites its own earlier upload.
        options = {"content-type": content_type, "upsert": "true"}
        await self._call(key, self._bucket_api().upload, key, data, options)

    async def get(self, key: str) -> bytes:
        check_key(key)
        data: bytes = await self._call(key, self._bucket_api().download, key)
        return data

    async def delete(self, key: str) -> None:
        check_key(key)
        # Removing a missing object is not an error for the API either: it lists what it removed.
        await self._call(key, self._bucket_api().remove, [key])

    async def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        # The API lists one "folder" at a time; its ``search`` is a case-insensitive
        # LIKE on the names in it, so the exact prefix test is done here.
        folder, _, partial = prefix.rpartition("/")
        keys: list[str] = []
        await self._walk(folder, partial, keys)
        keys.sort()
        return keys

    async def _walk(self, folder: str, partial: str, keys: list[str]) -> None:
        offset = 0
        while True:
            options = {"limit": _LIST_PAGE, "offset": offset, "search": partial}
            page: list[dict[str, Any]] = await self._call(
                folder or "/", self._bucket_api().list, folder, options
            )
            for item in page:
                name = str(item.get("name", ""))
                if not name.startswith(partial) or name == _PLACEHOLDER:
                    continue
                full = f"{folder}/{name}" if folder else name
                if item.get("id") is None:  # a folder: its names all match the prefix
                    await self._walk(full, "", keys)
                else:
                    keys.append(full)
            if len(page) < _LIST_PAGE:
                return
            offset += _LIST_PAGE


__all__ = ["SupabaseBlobStore", "open_http_client"]
