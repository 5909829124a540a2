"""A small HTTP/1.1 client for one JSON API on Trio: POST a JSON body, read the answer.

The Bot API's JSON calls (getUpdates, sendMessage, ...) are most of what the bot does per
update; through httpx2 each one cost about 0.6 ms of CPU in request and response models,
the connection pool's bookkeeping and h11's event machinery. Here a request is one
pre-formatted byte string on a kept-alive connection and the answer is read with a
few ``bytes.find`` calls: a fraction of that.

What it does and does not do:
- one host (``base_url``: http or https, with the system's or certifi's CA bundle);
  connections are kept alive and reused, an idle one at most ``idle_expiry_s`` (servers
  close idle connections: hypercorn after 5 s) and only if the server has not closed or
  written to it meanwhile; at most ``max_connections`` at once, ``max_idle`` kept;
- answers with ``Content-Length``, chunked, or delimited by the connection's end;
- no redirects, proxies, cookies, compression or retries: a failure is raised as
  :class:`HttpFailure` and the caller's policy decides (as it did with httpx2);
- a request that is cancelled or fails midway closes its connection (never reused
  half-read).

Nothing raised here quotes the path (it carries the bot token) or a lower exception.
"""

from __future__ import annotations

import select
import ssl
from urllib.parse import urlsplit

import trio

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
RECEIVE_BYTES = 65536


class HttpFailure(Exception):
    """No HTTP answer: ``kind`` is "timed out" or "network error" (never a URL)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind} ({detail})")
        self.kind = kind


class _Broken(Exception):
    """The connection broke or the answer is not HTTP; mapped to HttpFailure by the caller."""


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi  # httpx's default trust store, where installed

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


class _Connection:
    __slots__ = ("buffer", "idle_since", "socket", "stream")

    def __init__(self, stream: trio.abc.Stream, sock: trio.socket.SocketType) -> None:
        self.stream = stream
        self.socket = sock
        self.buffer = bytearray()
        self.idle_since = 0.0

    def still_usable(self, now: float, idle_expiry_s: float) -> bool:
        """Not expired, and nothing to read: a readable idle connection was closed by the
        server (or carries bytes nobody asked for)."""
        if now - self.idle_since > idle_expiry_s or self.buffer:
            return False
        try:
            readable, _, _ = select.select([self.socket.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    async def receive(self) -> None:
        data = await self.stream.receive_some(RECEIVE_BYTES)
        if not data:
            raise _Broken("connection closed by the server")
        self.buffer += data

    async def read_head(self) -> tuple[int, dict[bytes, bytes]]:
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buffer) > MAX_HEADER_BYTES:
                raise _Broken("response headers too large")
            await self.receive()
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise _Broken("not an HTTP/1.1 response")
        headers: dict[bytes, bytes] = {b":version": parts[0]}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise _Broken("malformed response header")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    async def read_exactly(self, size: int) -> bytes:
        if size > MAX_BODY_BYTES:
            raise _Broken("response body too large")
        while len(self.buffer) < size:
            await self.receive()
        body = bytes(self.buffer[:size])
        del self.buffer[:size]
        return body

    async def read_line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 2]
                return line
            if len(self.buffer) > MAX_HEADER_BYTES:
                raise _Broken("chunk header too large")
            await self.receive()

    async def read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_text = (await self.read_line()).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _Broken("malformed chunk size") from None
            if size == 0:
                while await self.read_line():  # trailers, up to the empty line
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _Broken("response body too large")
            chunks.append(await self.read_exactly(size))
            if await self.read_exactly(2) != b"\r\n":
                raise _Broken("malformed chunk")

    async def read_to_end(self) -> bytes:
        while True:
            try:
                data = await self.stream.receive_some(RECEIVE_BYTES)
            except trio.BrokenResourceError:
                data = b""
            if not data:
                body = bytes(self.buffer)
                self.buffer.clear()
                return body
            self.buffer += data
            if len(self.buffer) > MAX_BODY_BYTES:
                raise _Broken("response body too large")


class JsonHttpClient:
    """POST JSON bodies to paths of one ``base_url``; see the module doc."""

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int = 100,
        max_idle: int = 20,
        idle_expiry_s: float = 4.0,
        user_agent: str = "csvbot",
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL with a host")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        self._prefix = parts.path.rstrip("/").encode()
        default_port = (self._tls and self._port == 443) or (not self._tls and self._port == 80)
        host_header = parts.hostname if default_port else f"{parts.hostname}:{self._port}"
        if ":" in parts.hostname and not host_header.startswith("["):  # an IPv6 literal
            host_header = f"[{parts.hostname}]" + ("" if default_port else f":{self._port}")
        self._head_tail = (
            f" HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {user_agent}\r\n"
            "Accept: application/json\r\nContent-Type: application/json\r\nContent-Length: "
        ).encode("ascii")
        self._ssl = _ssl_context() if self._tls else None
        self._idle: list[_Connection] = []
        self._max_idle = max_idle
        self._idle_expiry_s = idle_expiry_s
        self._slots = trio.Semaphore(max_connections)
        self._closed = False

    def __repr__(self) -> str:
        return f"JsonHttpClient({'https' if self._tls else 'http'}://{self._host}:{self._port})"

    async def post(self, path: str, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        """(status, body) of ``POST base_url + path``; HttpFailure when no answer came."""
        request = b"".join(
            (
                b"POST ",
                self._prefix,
                path.encode(),
                self._head_tail,
                str(len(body)).encode(),
                b"\r\n\r\n",
                body,
            )
        )
        if trio.current_effective_deadline() <= trio.current_time() + timeout_s:
            # The caller's own deadline comes first and will cut the call: no scope needed.
            return await self._post(request)
        with trio.move_on_after(timeout_s):
            return await self._post(request)
        raise HttpFailure("timed out", "no answer in time")

    async def _post(self, request: bytes) -> tuple[int, bytes]:
        async with self._slots:
            try:
                return await self._exchange(request)
            except (_Broken, OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                detail = type(exc).__name__
        raise HttpFailure("network error", detail)  # outside `except`: nothing chained

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        conn = self._idle_connection() or await self._connect()
        done = False
        try:
            await conn.stream.send_all(request)
            status, headers = await conn.read_head()
            keep = headers.get(b"connection", b"").lower() != b"close" and headers[b":version"] != b"HTTP/1.0"
            length = headers.get(b"content-length")
            if headers.get(b"transfer-encoding", b"").lower().endswith(b"chunked"):
                body = await conn.read_chunked()
            elif length is not None:
                if not length.isdigit():
                    raise _Broken("malformed content-length")
                body = await conn.read_exactly(int(length))
            elif status in (204, 304) or 100 <= status < 200:
                body = b""
            else:
                body = await conn.read_to_end()
                keep = False
            done = keep
            return status, body
        finally:
            if done and not self._closed and len(self._idle) < self._max_idle:
                conn.idle_since = trio.current_time()
                self._idle.append(conn)
            else:
                await trio.aclose_forcefully(conn.stream)

    def _idle_connection(self) -> _Connection | None:
        now = trio.current_time()
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the likeliest still open
            if conn.still_usable(now, self._idle_expiry_s):
                return conn
            conn.socket.close()  # closed by the server, or expired: nothing to say to it
        return None

    async def _connect(self) -> _Connection:
        stream = await trio.open_tcp_stream(self._host, self._port)
        sock = stream.socket
        if self._ssl is None:
            return _Connection(stream, sock)
        tls = trio.SSLStream(stream, self._ssl, server_hostname=self._host, https_compatible=True)
        try:
            await tls.do_handshake()
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return _Connection(tls, sock)

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await trio.aclose_forcefully(conn.stream)


__all__ = ["HttpFailure", "JsonHttpClient"]
