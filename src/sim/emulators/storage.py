"""A Supabase Storage emulator over HTTP, for contract and end-to-end tests.

It serves the REST endpoints the official client (storage3) calls, with the same
paths, methods and JSON shapes, including the error body
``{"statusCode": "...", "error": "...", "message": "..."}`` the client parses:

- ``GET/POST /storage/v1/bucket``, ``GET/PUT/DELETE /storage/v1/bucket/{id}``,
  ``POST /storage/v1/bucket/{id}/empty``
- ``POST /storage/v1/object/{bucket}/{path}`` upload (``x-upsert``), ``PUT`` update
- ``GET /storage/v1/object/{bucket}/{path}`` download (and ``/object/authenticated/...``)
- ``GET /storage/v1/object/info/{bucket}/{path}``
- ``DELETE /storage/v1/object/{bucket}`` with ``{"prefixes": [...]}``
- ``POST /storage/v1/object/list/{bucket}``: one "folder" per call, folders first
  (``id: null``), names matched by ``ILIKE prefix || search || '%'`` like the real
  server's ``storage.search`` function.

Fault knobs (on :class:`StorageFaults`, or over HTTP at ``POST /_emulator/faults``
for a server in another process): ``stall_s`` sleeps before every answer, and
``fail_next`` answers the next N requests with a 5xx.

Data lives in memory. Served by hypercorn on Trio.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import count
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# Supabase's object-key alphabet (S3's "safe" characters).
_VALID_KEY = re.compile(r"[A-Za-z0-9_/!\-.*'() &$@=;:+,?]+")
_API = "/storage/v1"


def _error(http_status: int, status_code: str, error: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"statusCode": status_code, "error": error, "message": message}, status_code=http_status
    )


def _object_not_found() -> JSONResponse:
    return _error(404, "404", "not_found", "Object not found")


def _bucket_not_found() -> JSONResponse:
    return _error(404, "404", "Bucket not found", "Bucket not found")


def _ilike(pattern: str, text: str) -> bool:
    """SQL ``text ILIKE pattern`` (``%`` any run, ``_`` one character, ``\\`` escapes)."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.fullmatch("".join(out), text, flags=re.IGNORECASE | re.DOTALL) is not None


def _ticking_clock() -> Callable[[], datetime]:
    """Object timestamps without the wall clock: a fixed epoch, one second per write,
    so runs are reproducible and "updated" always follows "created"."""
    epoch = datetime(2024, 1, 1, tzinfo=UTC)
    ticks = count()
    return lambda: epoch + timedelta(seconds=next(ticks))


@dataclass(slots=True)
class StoredObject:
    id: str
    data: bytes
    mimetype: str
    cache_control: str
    created_at: datetime
    updated_at: datetime

    def metadata(self) -> dict[str, Any]:
        return {
            "eTag": f'"{hashlib.md5(self.data).hexdigest()}"',  # noqa: S324 - an ETag, not security
            "size": len(self.data),
            "mimetype": self.mimetype,
            "cacheControl": f"max-age={self.cache_control}",
            "lastModified": self.updated_at.isoformat(),
            "contentLength": len(self.data),
            "httpStatusCode": 200,
        }


@dataclass(slots=True)
class Bucket:
    id: str
    name: str
    public: bool
    created_at: datetime
    updated_at: datetime
    file_size_limit: int | None = None
    allowed_mime_types: list[str] | None = None
    objects: dict[str, StoredObject] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "owner": "",
            "public": self.public,
            "file_size_limit": self.file_size_limit,
            "allowed_mime_types": self.allowed_mime_types,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(slots=True)
class StorageFaults:
    stall_s: float = 0.0  # sleep this long before answering each request
    fail_next: int = 0  # answer this many of the next requests with fail_status
    fail_status: int = 503

    def take_failure(self) -> bool:
        if self.fail_next <= 0:
            return False
        self.fail_next -= 1
        return True


class StorageEmulator:
    """The emulated service: buckets, objects, faults, and a log of requests served."""

    def __init__(
        self,
        *,
        service_key: str | None = None,
        buckets: tuple[str, ...] = (),
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.service_key = service_key
        self.faults = StorageFaults()
        self.buckets: dict[str, Bucket] = {}
        self.requests: list[str] = []
        self._now = now or _ticking_clock()
        self._ids = count(1)
        for name in buckets:
            self._add_bucket(name, public=False)
        self.app = self._build_app()

    # ------------------------------------------------------------ state helpers

    def _add_bucket(self, name: str, *, public: bool) -> Bucket:
        now = self._now()
        bucket = Bucket(id=name, name=name, public=public, created_at=now, updated_at=now)
        self.buckets[name] = bucket
        return bucket

    def _new_id(self) -> str:
        # Shaped like the UUIDs the real service returns; deterministic for tests.
        return f"00000000-0000-4000-8000-{next(self._ids):012d}"

    def object_keys(self, bucket: str) -> list[str]:
        return sorted(self.buckets[bucket].objects)

    # ------------------------------------------------------------ middleware

    def _build_app(self) -> Starlette:
        routes = [
            Route("/_emulator/faults", self._set_faults, methods=["POST"]),
            Route(f"{_API}/bucket", self._list_buckets, methods=["GET"]),
            Route(f"{_API}/bucket", self._create_bucket, methods=["POST"]),
            Route(f"{_API}/bucket/{{bucket}}/empty", self._empty_bucket, methods=["POST"]),
            Route(f"{_API}/bucket/{{bucket}}", self._get_bucket, methods=["GET"]),
            Route(f"{_API}/bucket/{{bucket}}", self._update_bucket, methods=["PUT"]),
            Route(f"{_API}/bucket/{{bucket}}", self._delete_bucket, methods=["DELETE"]),
            Route(f"{_API}/object/list/{{bucket}}", self._list_objects, methods=["POST"]),
            Route(f"{_API}/object/info/{{bucket}}/{{path:path}}", self._object_info, methods=["GET"]),
            Route(f"{_API}/object/authenticated/{{bucket}}/{{path:path}}", self._download, methods=["GET"]),
            Route(f"{_API}/object/{{bucket}}/{{path:path}}", self._download, methods=["GET"]),
            Route(f"{_API}/object/{{bucket}}/{{path:path}}", self._upload, methods=["POST"]),
            Route(f"{_API}/object/{{bucket}}/{{path:path}}", self._update, methods=["PUT"]),
            Route(f"{_API}/object/{{bucket}}", self._remove, methods=["DELETE"]),
        ]
        app = Starlette(routes=routes)
        app.add_middleware(_FaultsAndAuth, emulator=self)
        return app

    async def _set_faults(self, request: Request) -> Response:
        body = await request.json()
        self.faults.stall_s = float(body.get("stall_s", self.faults.stall_s))
        self.faults.fail_next = int(body.get("fail_next", self.faults.fail_next))
        self.faults.fail_status = int(body.get("fail_status", self.faults.fail_status))
        return JSONResponse(
            {
                "stall_s": self.faults.stall_s,
                "fail_next": self.faults.fail_next,
                "fail_status": self.faults.fail_status,
            }
        )

    # ------------------------------------------------------------ buckets

    async def _list_buckets(self, request: Request) -> Response:
        return JSONResponse([b.as_json() for b in self.buckets.values()])

    async def _get_bucket(self, request: Request) -> Response:
        bucket = self.buckets.get(request.path_params["bucket"])
        return JSONResponse(bucket.as_json()) if bucket else _bucket_not_found()

    async def _create_bucket(self, request: Request) -> Response:
        body = await request.json()
        name = str(body.get("id") or body.get("name") or "")
        if not name or not _VALID_KEY.fullmatch(name) or "/" in name:
            return _error(400, "400", "Invalid Input", "The bucket name contains invalid characters")
        if name in self.buckets:
            return _error(409, "409", "Duplicate", "The resource already exists")
        bucket = self._add_bucket(name, public=bool(body.get("public", False)))
        bucket.file_size_limit = body.get("file_size_limit")
        bucket.allowed_mime_types = body.get("allowed_mime_types")
        return JSONResponse({"name": name})

    async def _update_bucket(self, request: Request) -> Response:
        bucket = self.buckets.get(request.path_params["bucket"])
        if bucket is None:
            return _bucket_not_found()
        body = await request.json()
        bucket.public = bool(body.get("public", bucket.public))
        bucket.file_size_limit = body.get("file_size_limit", bucket.file_size_limit)
        bucket.allowed_mime_types = body.get("allowed_mime_types", bucket.allowed_mime_types)
        bucket.updated_at = self._now()
        return JSONResponse({"message": "Successfully updated"})

    async def _empty_bucket(self, request: Request) -> Response:
        bucket = self.buckets.get(request.path_params["bucket"])
        if bucket is None:
            return _bucket_not_found()
        bucket.objects.clear()
        return JSONResponse({"message": "Successfully emptied"})

    async def _delete_bucket(self, request: Request) -> Response:
        bucket = self.buckets.get(request.path_params["bucket"])
        if bucket is None:
            return _bucket_not_found()
        if bucket.objects:
            return _error(409, "409", "InvalidRequest", "The bucket you tried to delete is not empty")
        del self.buckets[bucket.id]
        return JSONResponse({"message": "Successfully deleted"})

    # ------------------------------------------------------------ objects

    def _locate(self, request: Request) -> tuple[Bucket | None, str]:
        return self.buckets.get(request.path_params["bucket"]), request.path_params.get("path", "")

    async def _read_upload(self, request: Request) -> tuple[bytes, str, str]:
        """The file bytes, content type and cache control of an upload request."""
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            async with request.form() as form:
                upload = form.get("file")
                cache = str(form.get("cacheControl") or "3600")
                if upload is None or isinstance(upload, str):
                    return (upload or "").encode(), "text/plain;charset=UTF-8", cache
                data = await upload.read()
                return data, upload.content_type or "application/octet-stream", cache
        cache = request.headers.get("cache-control", "3600").removeprefix("max-age=")
        return await request.body(), content_type or "application/octet-stream", cache

    def _invalid_key(self, path: str) -> Response | None:
        if not path or not _VALID_KEY.fullmatch(path):
            return _error(400, "400", "InvalidKey", f"Invalid key: {path}")
        return None

    async def _store(self, request: Request, *, must_exist: bool) -> Response:
        bucket, path = self._locate(request)
        if bucket is None:
            return _bucket_not_found()
        if (bad := self._invalid_key(path)) is not None:
            return bad
        data, mimetype, cache = await self._read_upload(request)
        existing = bucket.objects.get(path)
        upsert = request.headers.get("x-upsert", "false").lower() == "true"
        if must_exist and existing is None:
            return _object_not_found()
        if not must_exist and existing is not None and not upsert:
            return _error(409, "409", "Duplicate", "The resource already exists")
        now = self._now()
        obj = StoredObject(
            id=existing.id if existing else self._new_id(),
            data=data,
            mimetype=mimetype,
            cache_control=cache,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        bucket.objects[path] = obj
        return JSONResponse({"Id": obj.id, "Key": f"{bucket.id}/{path}"})

    async def _upload(self, request: Request) -> Response:
        return await self._store(request, must_exist=False)

    async def _update(self, request: Request) -> Response:
        return await self._store(request, must_exist=True)

    def _find(self, request: Request) -> StoredObject | Response:
        """The object the request names, or the error response to send instead."""
        bucket, path = self._locate(request)
        if bucket is None:
            return _bucket_not_found()
        obj = bucket.objects.get(path)
        return _object_not_found() if obj is None else obj

    async def _download(self, request: Request) -> Response:
        obj = self._find(request)
        if isinstance(obj, Response):
            return obj
        return Response(
            obj.data, media_type=obj.mimetype, headers={"cache-control": f"max-age={obj.cache_control}"}
        )

    async def _object_info(self, request: Request) -> Response:
        obj = self._find(request)
        if isinstance(obj, Response):
            return obj
        bucket, path = self._locate(request)
        assert bucket is not None  # _find found the object in it
        return JSONResponse(
            {
                "id": obj.id,
                "name": path,
                "bucket_id": bucket.id,
                "size": len(obj.data),
                "content_type": obj.mimetype,
                "cache_control": f"max-age={obj.cache_control}",
                "etag": obj.metadata()["eTag"],
                "created_at": obj.created_at.isoformat(),
                "updated_at": obj.updated_at.isoformat(),
                "last_modified": obj.updated_at.isoformat(),
                "metadata": {},
            }
        )

    async def _remove(self, request: Request) -> Response:
        bucket, _ = self._locate(request)
        if bucket is None:
            return _bucket_not_found()
        body = await request.json()
        removed: list[dict[str, Any]] = []
        for name in body.get("prefixes") or []:
            obj = bucket.objects.pop(str(name), None)
            if obj is not None:
                removed.append(self._list_entry(str(name), bucket, obj))
        return JSONResponse(removed)

    def _list_entry(self, name: str, bucket: Bucket, obj: StoredObject) -> dict[str, Any]:
        return {
            "name": name,
            "bucket_id": bucket.id,
            "id": obj.id,
            "updated_at": obj.updated_at.isoformat(),
            "created_at": obj.created_at.isoformat(),
            "last_accessed_at": obj.updated_at.isoformat(),
            "metadata": obj.metadata(),
        }

    async def _list_objects(self, request: Request) -> Response:
        bucket = self.buckets.get(request.path_params["bucket"])
        if bucket is None:
            return _bucket_not_found()
        body = await request.json()
        prefix = str(body.get("prefix") or "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"  # the prefix always names a folder
        search = str(body.get("search") or "")
        limit = int(body.get("limit") or 100)
        offset = int(body.get("offset") or 0)
        sort_by = body.get("sortBy") or {}
        column = str(sort_by.get("column") or "name")
        descending = str(sort_by.get("order") or "asc").lower() == "desc"

        levels = len(prefix.split("/"))
        pattern = prefix + search + "%"
        folders: set[str] = set()
        files: list[tuple[str, StoredObject]] = []
        for name, obj in bucket.objects.items():
            if not _ilike(pattern, name):
                continue
            tokens = name.split("/")
            if len(tokens) == levels:
                files.append((tokens[-1], obj))
            else:
                folders.add(tokens[levels - 1])

        def file_order(item: tuple[str, StoredObject]) -> Any:
            name, obj = item
            if column in ("created_at", "updated_at", "last_accessed_at"):
                return (obj.created_at if column == "created_at" else obj.updated_at, name)
            return name

        folder_entries: list[dict[str, Any]] = [
            {
                "name": f,
                "id": None,
                "updated_at": None,
                "created_at": None,
                "last_accessed_at": None,
                "metadata": None,
            }
            for f in sorted(folders, reverse=descending)
        ]
        file_entries = [
            self._list_entry(n, bucket, o) for n, o in sorted(files, key=file_order, reverse=descending)
        ]
        return JSONResponse((folder_entries + file_entries)[offset : offset + limit])


class _FaultsAndAuth:
    """ASGI middleware: record the request, check the key, then apply the fault knobs."""

    def __init__(self, app: Any, emulator: StorageEmulator) -> None:
        self._app = app
        self._emulator = emulator

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self._app(scope, receive, send)
            return
        emu = self._emulator
        emu.requests.append(f"{scope['method']} {scope['path']}")
        if emu.faults.stall_s > 0:
            await trio.sleep(emu.faults.stall_s)
        if emu.faults.take_failure():
            status = emu.faults.fail_status
            response: Response = _error(status, str(status), "ServiceUnavailable", "injected failure")
        elif emu.service_key is not None and not self._authorised(scope, emu.service_key):
            response = _error(403, "403", "Unauthorized", "invalid signature")
        else:
            await self._app(scope, receive, send)
            return
        await response(scope, receive, send)

    @staticmethod
    def _authorised(scope: dict[str, Any], key: str) -> bool:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        return headers.get("authorization") == f"Bearer {key}" or headers.get("apikey") == key


async def serve_storage_emulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    emulator: StorageEmulator | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``emulator`` (a fresh one by default) until cancelled.

    Reports the base URL to use as ``SUPABASE_URL`` (storage lives under ``/storage/v1``)."""
    emu = emulator or StorageEmulator()
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.5

    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(
            partial(serve, emu.app, config)  # type: ignore[arg-type]  # Starlette's ASGI types vs hypercorn's
        )
        task_status.started(binds[0])


__all__ = [
    "Bucket",
    "StorageEmulator",
    "StorageFaults",
    "StoredObject",
    "serve_storage_emulator",
]
