"""``/metrics``, ``/healthz`` and ``/readyz`` over HTTP: starlette on hypercorn's Trio worker.

Served on the bot's own event loop, so ``/healthz`` answering at all says the loop
runs; it also reports how long ago the loop monitor last ticked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.ops.probes import LoopMonitor, Readiness
from adapters.ops.prometheus import PrometheusMetrics


def build_app(metrics: PrometheusMetrics, loop: LoopMonitor, readiness: Readiness) -> Starlette:
    async def scrape(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        healthy, age = loop.healthy()
        return JSONResponse(
            {"ok": healthy, "loop_tick_s_ago": round(age, 3)}, status_code=200 if healthy else 503
        )

    async def readyz(request: Request) -> Response:
        ready, checks = readiness.report()
        return JSONResponse({"ok": ready, "checks": checks}, status_code=200 if ready else 503)

    return Starlette(
        routes=[
            Route("/metrics", scrape),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ]
    )


async def serve_ops(
    app: Starlette,
    host: str,
    port: int,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; reports the bound address (``http://host:port``)."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None  # a scrape every few seconds is not worth a log line
    config.loglevel = "WARNING"
    config.graceful_timeout = 1.0
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(partial(serve, app, config, shutdown_trigger=shutdown_trigger))  # type: ignore[arg-type]
        task_status.started(binds[0])


__all__ = ["build_app", "serve_ops"]
