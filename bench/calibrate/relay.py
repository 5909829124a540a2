"""A loopback TCP relay that counts round trips: each time the client speaks after
the server has, that is one more exchange the client waited for.

Counting on the wire rather than in the driver keeps the figure honest whatever the
client does (one statement per round trip today; pipeline mode would batch them).
"""

from __future__ import annotations

from dataclasses import dataclass

import trio


@dataclass
class TurnCounter:
    turns: int = 0
    _last: str = "server"  # a connection opens with the client speaking

    def saw(self, direction: str) -> None:
        if direction == "client" and self._last == "server":
            self.turns += 1
        self._last = direction


async def _pump(src: trio.SocketStream, dst: trio.SocketStream, direction: str, counter: TurnCounter) -> None:
    try:
        while chunk := await src.receive_some(65536):
            counter.saw(direction)
            await dst.send_all(chunk)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        with trio.move_on_after(1, shield=True):
            await dst.aclose()


async def serve_relay(
    upstream_host: str,
    upstream_port: int,
    counter: TurnCounter,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Relay 127.0.0.1:<port> to the upstream until cancelled; reports the port."""

    async def handle(client: trio.SocketStream) -> None:
        upstream = await trio.open_tcp_stream(upstream_host, upstream_port)
        async with trio.open_nursery() as pumps:
            pumps.start_soon(_pump, client, upstream, "client", counter)
            pumps.start_soon(_pump, upstream, client, "server", counter)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        task_status.started(port)
        await trio.serve_listeners(handle, listeners, handler_nursery=nursery)
