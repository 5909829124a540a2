"""The lean JSON-over-HTTP/1.1 client of the Bot API adapter, against a raw loopback server
that answers as told: keep-alive, chunked and close-delimited bodies, idle connections the
server closed, silence, and a caller cancelled midway."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import trio

from adapters.json_http import HttpFailure, JsonHttpClient

SECRET_PATH = "/bot123:SECRET/sendMessage"

Answer = Callable[[int, bytes], Awaitable[bytes | None]]  # (request number, request) -> reply or None


class RawServer:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.close_after_reply = False

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        with contextlib.suppress(trio.BrokenResourceError):  # a client that hung up on an answer
            await self.converse(stream)

    async def converse(self, stream: trio.SocketStream) -> None:
        buffer = b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    buffer += data
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(rest) < length:
                    rest += await stream.receive_some(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                reply = await self.answer(len(self.requests), rest[:length])
                if reply is None:
                    return  # hang up without answering
                await stream.send_all(reply)
                if self.close_after_reply:
                    return


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def serve(nursery: trio.Nursery, server: RawServer) -> str:
    listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def echo(_: int, body: bytes) -> bytes:
    return ok(body)


async def test_a_connection_is_kept_alive_and_reused(nursery: trio.Nursery) -> None:
    server = RawServer(echo)
    client = JsonHttpClient(await serve(nursery, server))
    for n in range(3):
        assert await client.post(SECRET_PATH, b'{"n":%d}' % n, 5) == (200, b'{"n":%d}' % n)
    assert server.connections == 1
    head = server.requests[0].split(b"\r\n\r\n")[0]
    assert head.startswith(b"POST /bot123:SECRET/sendMessage HTTP/1.1\r\n")
    assert b"Content-Type: application/json" in head and b"Host: 127.0.0.1:" in head
    await client.aclose()


async def test_chunked_and_close_delimited_answers(nursery: trio.Nursery) -> None:
    async def answer(n: int, _: bytes) -> bytes:
        if n == 1:
            chunks = b'4\r\n{"a"\r\n3;x=1\r\n:1}\r\n0\r\n\r\n'
            return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
        if n == 2:
            return ok(b"{}", b"Connection: close\r\n")
        return b"HTTP/1.1 503 Unavailable\r\n\r\nbusy"  # no length: the body ends with the connection

    server = RawServer(answer)
    client = JsonHttpClient(await serve(nursery, server))
    assert await client.post(SECRET_PATH, b"{}", 5) == (200, b'{"a":1}')
    assert await client.post(SECRET_PATH, b"{}", 5) == (200, b"{}")
    server.close_after_reply = True
    assert await client.post(SECRET_PATH, b"{}", 5) == (503, b"busy")
    assert server.connections == 2  # the "Connection: close" answer was not reused
    await client.aclose()


async def test_an_idle_connection_the_server_closed_is_not_used(nursery: trio.Nursery) -> None:
    server = RawServer(echo)
    server.close_after_reply = True  # as a server whose keep-alive timeout passed
    client = JsonHttpClient(await serve(nursery, server))
    for _ in range(3):
        await trio.sleep(0.05)  # the server's close reaches us
        assert await client.post(SECRET_PATH, b"{}", 5) == (200, b"{}")
    assert server.connections == 3
    await client.aclose()


async def test_an_expired_idle_connection_is_replaced(nursery: trio.Nursery) -> None:
    server = RawServer(echo)
    client = JsonHttpClient(await serve(nursery, server), idle_expiry_s=0.05)
    await client.post(SECRET_PATH, b"{}", 5)
    await trio.sleep(0.1)
    await client.post(SECRET_PATH, b"{}", 5)
    assert server.connections == 2
    await client.aclose()


async def test_silence_times_out_and_a_hang_up_is_a_network_error(nursery: trio.Nursery) -> None:
    async def answer(n: int, body: bytes) -> bytes | None:
        if n == 1:
            await trio.sleep_forever()
        if n == 2:
            return None
        return ok(body)

    server = RawServer(answer)
    client = JsonHttpClient(await serve(nursery, server))
    with pytest.raises(HttpFailure) as slow:
        await client.post(SECRET_PATH, b"{}", 0.2)
    assert slow.value.kind == "timed out"
    with pytest.raises(HttpFailure) as gone:
        await client.post(SECRET_PATH, b"{}", 5)
    assert gone.value.kind == "network error"
    for failure in (slow.value, gone.value):
        assert "SECRET" not in str(failure) and failure.__cause__ is None
    assert await client.post(SECRET_PATH, b'{"ok":1}', 5) == (200, b'{"ok":1}')
    assert server.connections == 3  # neither broken connection was used again
    await client.aclose()


async def test_a_cancelled_call_never_leaves_its_answer_to_the_next(nursery: trio.Nursery) -> None:
    """The caller's deadline cuts a call whose answer comes late: that answer must not be
    read as the answer to the next request on the same connection."""

    async def answer(n: int, body: bytes) -> bytes:
        if n == 1:
            await trio.sleep(0.3)
        return ok(body)

    server = RawServer(answer)
    client = JsonHttpClient(await serve(nursery, server))
    with trio.move_on_after(0.1) as scope:
        await client.post(SECRET_PATH, b'{"first":1}', 60)
    assert scope.cancelled_caught
    await trio.sleep(0.4)
    assert await client.post(SECRET_PATH, b'{"second":1}', 5) == (200, b'{"second":1}')
    await client.aclose()


async def test_a_refused_connection_is_a_network_error() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = JsonHttpClient(f"http://127.0.0.1:{port}")
    with pytest.raises(HttpFailure) as info:
        await client.post(SECRET_PATH, b"{}", 5)
    assert info.value.kind == "network error" and "SECRET" not in str(info.value)
    await client.aclose()


async def test_an_answer_that_is_not_http_or_too_large_is_a_network_error(nursery: trio.Nursery) -> None:
    async def answer(n: int, body: bytes) -> bytes:
        if n == 1:
            return b"SMTP ready\r\n\r\n"
        if n == 2:
            return b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * (128 * 1024) + b"\r\n\r\n"
        return ok(body)

    server = RawServer(answer)
    client = JsonHttpClient(await serve(nursery, server))
    for _ in range(2):
        with pytest.raises(HttpFailure) as info:
            await client.post(SECRET_PATH, b"{}", 5)
        assert info.value.kind == "network error" and "SECRET" not in str(info.value)
    assert await client.post(SECRET_PATH, b'{"ok":1}', 5) == (200, b'{"ok":1}')
    assert server.connections == 3
    await client.aclose()
