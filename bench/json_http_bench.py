"""Benchmark: the client's CPU per Bot API JSON call, for the JSON client and its alternatives.

    python bench/json_http_bench.py                        # 3000 sendMessage-shaped POSTs each
    python bench/json_http_bench.py --requests 5000 --rounds 3 --chunked
    python bench/json_http_bench.py --clients h11,httpx2   # a subset

Clients: ``h11`` (adapters.json_http as it is), ``h11-raw`` (the same, but the request sent as
pre-formatted bytes and h11's state moved on through its private ``_process_event``: what
skipping h11's request writer would save), ``hand-written`` (adapters/json_http.py of the last
revision that parsed HTTP itself, read with ``git show``; ``--baseline REV`` picks another)
and ``httpx2`` (an ``httpx2.AsyncClient`` as the adapter used before). Each POSTs ``requests``
sendMessage bodies one after the other to a trivial keep-alive server in a subprocess (so
its work is not counted) and reports this process's CPU (time.process_time) per request,
the median over ``rounds``. CPU, not wall time: it holds on a loaded machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path

import h11
import orjson
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from adapters import json_http  # noqa: E402

PATH = "/bot123:SECRET/sendMessage"
ANSWER = orjson.dumps(
    {
        "ok": True,
        "result": {
            "message_id": 4711,
            "from": {"id": 42, "is_bot": True, "first_name": "csvbot", "username": "csvbot"},
            "chat": {"id": 1001, "first_name": "u1001", "type": "private"},
            "date": 1765000000,
            "text": "Send me a CSV file and I will describe it.",
        },
    }
)

SERVER = r"""
import sys, trio
answer, chunked = sys.argv[1].encode(), sys.argv[2] == "1"
if chunked:
    reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
             + b"%x\r\n" % len(answer) + answer + b"\r\n0\r\n\r\n")
else:
    reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
             % len(answer) + answer)

async def handle(stream):
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
            buffer = rest[length:]
            await stream.send_all(reply)

async def main():
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, handle, 0)
        print(listeners[0].socket.getsockname()[1], flush=True)

trio.run(main)
"""

Post = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]


def _git(*args: str) -> str:
    command = ["git", "-C", str(ROOT), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603 - git, on our own history


def hand_written_module(rev: str | None) -> types.ModuleType:
    """adapters/json_http.py of ``rev``, or of the last revision without h11."""
    file = "src/adapters/json_http.py"
    if rev is None:
        for candidate in _git("log", "--format=%H", "--", file).split():
            if "import h11" not in _git("show", f"{candidate}:{file}"):
                rev = candidate
                break
        else:
            raise SystemExit("no revision of json_http.py without h11")
    source = _git("show", f"{rev}:{file}")
    spec = importlib.util.spec_from_loader("json_http_hand_written", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{rev[:10]}:{file}", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


class RawRequestClient(json_http.JsonHttpClient):
    """The h11 client sending pre-formatted request bytes; h11's state is moved on through its
    private ``_process_event`` (one cached Request event: only its framing and keep-alive matter
    to the state machine). Measured only: h11 has no public way to do this."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        head = b"".join(b"%s: %s\r\n" % pair for pair in self._headers)
        self._head_tail = b" HTTP/1.1\r\n" + head + b"Content-Length: "
        self._event = h11.Request(
            method=b"POST", target=b"/", headers=[*self._headers, (b"Content-Length", b"0")]
        )
        self._end = h11.EndOfMessage()

    def _request_bytes(self, conn: h11.Connection, target: bytes, body: bytes) -> bytes:
        conn._process_event(h11.CLIENT, self._event)  # the variant under test
        conn._process_event(h11.CLIENT, self._end)
        return b"".join((b"POST ", target, self._head_tail, b"%d" % len(body), b"\r\n\r\n", body))


async def run_client(name: str, base_url: str, requests: int, hand_written: types.ModuleType) -> float:
    """CPU ms per request of ``requests`` POSTs (after a warm-up)."""
    closers: list[Callable[[], Awaitable[None]]] = []
    post: Post
    if name == "httpx2":
        import httpx2

        client = httpx2.AsyncClient(base_url=base_url, timeout=10.0)
        closers.append(client.aclose)

        async def post(path: str, body: bytes) -> tuple[int, bytes]:
            response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
            return response.status_code, response.content

    else:
        if name == "h11":
            lean = json_http.JsonHttpClient(base_url)
        elif name == "h11-raw":
            lean = RawRequestClient(base_url)
        elif name == "hand-written":
            lean = hand_written.JsonHttpClient(base_url)
        else:
            raise SystemExit(f"unknown client {name}")
        closers.append(lean.aclose)

        async def post(path: str, body: bytes) -> tuple[int, bytes]:
            return await lean.post(path, body, 10.0)  # type: ignore[no-any-return]

    bodies = [orjson.dumps({"chat_id": 1000 + n % 100, "text": f"answer {n}" * 8}) for n in range(100)]
    for n in range(100):  # warm-up: connection, caches
        await post(PATH, bodies[n])
    start = time.process_time()
    for n in range(requests):
        status, answer = await post(PATH, bodies[n % 100])
        assert status == 200 and answer == ANSWER
    spent = time.process_time() - start
    for close in closers:
        await close()
    return spent / requests * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", default="hand-written,h11,h11-raw,httpx2")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the clients interleaved")
    parser.add_argument("--chunked", action="store_true", help="chunked answers instead of Content-Length")
    parser.add_argument("--baseline", default=None, help="revision of the hand-written client")
    args = parser.parse_args()
    names = args.clients.split(",")
    hand_written = hand_written_module(args.baseline)
    server = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", SERVER, ANSWER.decode(), "1" if args.chunked else "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        results: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for name in names:
                ms = trio.run(run_client, name, base_url, args.requests, hand_written)
                results[name].append(ms)
                print(f"round {round_} {name:13} {ms:.3f} ms CPU per request", flush=True)
    finally:
        server.terminate()
        server.wait(10)
    framing = "chunked" if args.chunked else "content-length"
    print(f"\n{args.requests} requests x {args.rounds} rounds, {framing} answers\n")
    print("| client | CPU ms per request (median) | min | max |\n|---|---:|---:|---:|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} | {max(values):.3f} |")


if __name__ == "__main__":
    main()
