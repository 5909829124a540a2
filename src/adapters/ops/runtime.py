"""Everything a bot or worker process runs beside the bot itself, in one nursery:
the HTTP endpoint, the loop monitor, the dependency probes, the sampled gauges and
the housekeeping (old update claims pruned, expired data swept: bot.retention)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import trio

from adapters.ops.probes import LoopMonitor, Readiness, probe_forever, sample_forever
from adapters.ops.prometheus import PrometheusMetrics
from adapters.ops.server import build_app, serve_ops
from adapters.ops.settings import OpsSettings
from adapters.postgres.repository import PostgresRepository
from adapters.redis_queue import RedisJobQueue
from bot.guard import Guard
from bot.log import Logger
from bot.ports import BlobStore, Services
from bot.retention import Keeper, run_housekeeping
from bot.settings import Settings

# Listing a prefix that holds nothing: one cheap round trip to storage.
STORAGE_PROBE_PREFIX = "healthcheck/"


@dataclass(frozen=True, slots=True)
class OpsTargets:
    """The concrete adapters the probes and gauges look at."""

    services: Services
    metrics: PrometheusMetrics
    repo: PostgresRepository
    queue: RedisJobQueue
    blobs: BlobStore


async def run_ops(
    targets: OpsTargets,
    settings: Settings,
    ops: OpsSettings,
    *,
    poller: bool,
    task_status: trio.TaskStatus[str | None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run until cancelled; reports the endpoint's address (None if it could not bind:
    the bot runs on without it, and the error is logged)."""
    metrics = targets.metrics
    services = targets.services
    log = Logger(services.log, component="ops")
    guard = Guard(settings, metrics)
    loop = LoopMonitor(metrics)
    poll_budget = settings.poll_timeout_s + settings.deadline("telegram.poll")
    readiness = Readiness(
        metrics, ("postgres", "redis", "storage"), ops.ready_within_s, poll_budget if poller else None
    )
    probe = partial(probe_forever, every_s=ops.probe_every_s, guard=guard, readiness=readiness, log=log)
    pool = targets.repo.pool

    def sample_sessions() -> None:
        metrics.gauge("db.sessions_in_use", pool.sessions_in_use)
        metrics.gauge("db.sessions_waiting", pool.sessions_waiting)
        metrics.gauge("db.session_limit", pool.limit)

    def record_backlog(backlog: tuple[int, float | None]) -> None:
        depth, oldest = backlog
        metrics.gauge("queue.depth", depth)
        metrics.gauge(
            "queue.oldest_job_age_seconds", 0.0 if oldest is None else max(0.0, time.time() - oldest)
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(loop.run)
        nursery.start_soon(sample_forever, sample_sessions)
        nursery.start_soon(
            partial(probe, "postgres", targets.repo.ping, deadline_s=settings.deadline("db.statement"))
        )
        nursery.start_soon(
            partial(
                probe,
                "redis",
                targets.queue.backlog,
                deadline_s=settings.deadline("redis"),
                on_answer=record_backlog,
            )
        )
        nursery.start_soon(
            partial(
                probe,
                "storage",
                partial(targets.blobs.list_keys, STORAGE_PROBE_PREFIX),
                deadline_s=settings.deadline("storage.call"),
            )
        )
        keeper = Keeper(services.repo, services.blobs, guard, services.clock, log, settings)
        nursery.start_soon(
            partial(
                run_housekeeping,
                keeper,
                claims_retention_s=ops.processed_updates_retention_h * 3600.0,
                claims_every_s=ops.prune_every_s,
            )
        )
        app = build_app(metrics, loop, readiness)
        address: str | None = None
        try:
            address = await nursery.start(serve_ops, app, ops.metrics_host, ops.metrics_port)
        except* OSError as failed:  # the port is taken, the host is not ours
            error = _first_leaf(failed)
            log.error("ops.endpoint_failed", host=ops.metrics_host, port=ops.metrics_port, error=str(error))
        else:
            log.info("ops.endpoint", address=address, paths="/metrics /healthz /readyz")
        task_status.started(address)


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


__all__ = ["STORAGE_PROBE_PREFIX", "OpsTargets", "run_ops"]
