"""A small HTTP/1.1 client for one JSON API on Trio: POST a JSON body, read the answer.

The Bot API's JSON calls (getUpdates, sendMessage, ...) are most of what the bot does per
update; through httpx2 each one cost about 0.6 ms of CPU in request and response models and
the connection pool's bookkeeping. Here each kept-alive connection is one sans-IO
``h11.Connection`` (h11 frames the request and parses the answer: status line, headers,
Content-Length, chunked, close-delimited) driven straight on a Trio stream, with nothing
else around it.

What it does and does not do:
- one host (``base_url``: http or https, with the system's or certifi's CA bundle);
  connections are kept alive and reused, an idle one at most ``idle_expiry_s`` (servers
  close idle connections: hypercorn after 5 s) and only if the server has not closed or
  written to it meanwhile; at most ``max_connections`` at once, ``max_idle`` kept;
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

import h11
import trio

MAX_HEADER_BYTES = 64 * 1024  # h11's max_incomplete_event_size: the status line and headers
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
    __slots__ = ("h11", "idle_since", "socket", "stream")

    def __init__(self, stream: trio.abc.Stream, sock: trio.socket.SocketType) -> None:
        self.stream = stream
        self.socket = sock
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.idle_since = 0.0

    def still_usable(self, now: float, idle_expiry_s: float) -> bool:
        """Not expired, and nothing to read: a readable idle connection was closed by the
        server (or carries bytes nobody asked for)."""
        if now - self.idle_since > idle_expiry_s or self.h11.trailing_data[0]:
            return False
        try:
            readable, _, _ = select.select([self.socket.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    async def read_response(self) -> tuple[int, bytes]:
        """The answer's status and body, as h11 frames it."""
        conn = self.h11
        status = 0
        chunks: list[bytes] = []
        total = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await self.stream.receive_some(RECEIVE_BYTES)
                except trio.BrokenResourceError:
                    data = b""  # a reset ends a close-delimited body; h11 judges the rest
                conn.receive_data(bytes(data))  # no copy when it is bytes already
            elif type(event) is h11.Response:
                status = event.status_code
            elif type(event) is h11.Data:
                total += len(event.data)
                if total > MAX_BODY_BYTES:
                    raise _Broken("response body too large")
                chunks.append(event.data)
            elif type(event) is h11.EndOfMessage:
                return status, b"".join(chunks)  # bytes, though h11 hands out bytearrays
            elif type(event) is h11.ConnectionClosed:
                raise _Broken("connection closed by the server")
            # h11.InformationalResponse (1xx): the final answer follows


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
        self._headers = [
            (b"Host", host_header.encode("ascii")),
            (b"User-Agent", user_agent.encode("ascii")),
            (b"Accept", b"application/json"),
            (b"Content-Type", b"application/json"),
        ]
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
        target = self._prefix + path.encode()
        if trio.current_effective_deadline() <= trio.current_time() + timeout_s:
            # The caller's own deadline comes first and will cut the call: no scope needed.
            return await self._post(target, body)
        with trio.move_on_after(timeout_s):
            return await self._post(target, body)
        raise HttpFailure("timed out", "no answer in time")

    async def _post(self, target: bytes, body: bytes) -> tuple[int, bytes]:
        async with self._slots:
            try:
                return await self._exchange(target, body)
            except (
                _Broken,
                h11.ProtocolError,
                OSError,
                trio.BrokenResourceError,
                trio.ClosedResourceError,
            ) as exc:
                detail = type(exc).__name__
        raise HttpFailure("network error", detail)  # outside `except`: nothing chained

    def _request_bytes(self, conn: h11.Connection, target: bytes, body: bytes) -> bytes:
        headers = [*self._headers, (b"Content-Length", b"%d" % len(body))]
        head = conn.send(h11.Request(method=b"POST", target=target, headers=headers))
        data = conn.send(h11.Data(data=body))
        end = conn.send(h11.EndOfMessage())
        return b"".join((head or b"", data or b"", end or b""))

    async def _exchange(self, target: bytes, body: bytes) -> tuple[int, bytes]:
        conn = self._idle_connection() or await self._connect()
        done = False
        try:
            await conn.stream.send_all(self._request_bytes(conn.h11, target, body))
            answer = await conn.read_response()
            # Both sides DONE: h11 found the answer framed and the connection kept alive.
            if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
                conn.h11.start_next_cycle()
                done = True
            return answer
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
