"""The per-process endpoint on the real adapters: /metrics, /healthz, /readyz, the
sampled gauges, and the pruning of old update claims."""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import trio

from adapters.compose import RealConfig, real_adapters
from adapters.ops.probes import LoopMonitor, Readiness
from adapters.ops.prometheus import PrometheusMetrics
from adapters.ops.runtime import run_ops
from adapters.ops.settings import OpsSettings
from bot.settings import Settings
from contract.pg_fixtures import aio_loop, database_url, fresh_schema

__all__ = ["aio_loop"]  # fixture, imported for pytest

DASHBOARD = Path(__file__).resolve().parents[2] / "ops" / "grafana" / "csvbot-dashboard.json"


def dashboard_series() -> set[str]:
    exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p.get("targets", [])]
    names = set(re.findall(r"\b((?:csvbot|process)_[a-z0-9_]+)", " ".join(exprs)))
    assert len(names) > 15
    return names


OPS = OpsSettings(metrics_port=0, probe_every_s=0.2, ready_within_s=30.0)


async def test_endpoint_on_real_services(aio_loop: None, tmp_path: Path) -> None:
    async with fresh_schema(database_url()) as schema:
        config = RealConfig(
            telegram_token="4242:TEST",
            database_url=database_url(),
            redis_url=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
            data_dir=tmp_path,
            db_schema=schema,
            redis_prefix=f"test-{uuid.uuid4().hex[:8]}:",
            cpu="thread",
        )
        async with real_adapters(config) as adapters, trio.open_nursery() as nursery:
            repo = adapters.services.repo
            now = datetime.now(UTC)
            assert await repo.claim_update(1, now - timedelta(days=3)) is True  # beyond retention
            assert await repo.claim_update(2, now) is True
            base: str = await nursery.start(partial(run_ops, adapters, Settings(), OPS, poller=True))
            async with httpx.AsyncClient(base_url=base) as http:
                health = await http.get("/healthz")
                assert health.status_code == 200 and health.json()["ok"] is True

                # Every dependency answers, but the poller has not polled yet.
                async def only_poller_missing() -> bool:
                    body = (await http.get("/readyz")).json()
                    checks = body["checks"]
                    return all(checks[d]["ok"] for d in ("postgres", "redis", "storage")) and not body["ok"]

                with trio.fail_after(30):
                    while not await only_poller_missing():
                        await trio.sleep(0.1)
                assert (await http.get("/readyz")).status_code == 503
                adapters.metrics.observe("telegram.poll", 0.2, "ok")
                ready = await http.get("/readyz")
                assert ready.status_code == 200, ready.text

                text = (await http.get("/metrics")).text
                for line in (
                    "csvbot_postgres_up 1.0",
                    "csvbot_redis_up 1.0",
                    "csvbot_storage_up 1.0",
                    "csvbot_queue_depth 0.0",
                    "csvbot_db_session_limit 4.0",
                    'csvbot_operation_seconds_count{operation="telegram.poll",outcome="ok"} 1.0',
                ):
                    assert line in text, line
                assert "csvbot_queue_oldest_job_age_seconds" in text
                assert "csvbot_db_sessions_waiting" in text
                assert "process_resident_memory_bytes" in text

                # Every series the dashboard charts exists once the bot has polled and counted.
                adapters.metrics.gauge("updates.in_flight", 0)
                for name, label in (("updates", ""), ("uploads", "rejected:too_big"), ("retries", "x")):
                    adapters.metrics.count(name, label)
                adapters.metrics.count("telegram.429")
                text = (await http.get("/metrics")).text
                for series in dashboard_series():
                    assert f"\n{series}" in text, f"the dashboard charts {series}, which nothing exports"

            # The claim older than the retention window was pruned at start, the other kept.
            with trio.fail_after(30):
                while not await repo.claim_update(1, now):
                    await trio.sleep(0.1)
            assert await repo.claim_update(2, now) is False

            # A second endpoint on the same port cannot bind: the process goes on without it.
            port = int(base.rsplit(":", 1)[1])
            taken = OpsSettings(metrics_port=port, probe_every_s=0.2)
            assert await nursery.start(partial(run_ops, adapters, Settings(), taken, poller=False)) is None
            nursery.cancel_scope.cancel()


def test_readiness_needs_recent_answers_and_a_polling_poller() -> None:
    metrics = PrometheusMetrics(process_metrics=False)
    readiness = Readiness(metrics, ("postgres",), ready_within_s=20.0, poll_budget_s=35.0)
    ready, checks = readiness.report()
    assert not ready and checks["postgres"]["last_answer_s_ago"] is None
    readiness.answered("postgres")
    metrics.observe("telegram.poll", 25.0, "ok")
    assert readiness.report()[0]
    readiness._answered["postgres"] -= 21.0  # answered 21 s ago
    ready, checks = readiness.report()
    assert not ready and not checks["postgres"]["ok"] and checks["poller"]["ok"]
    worker = Readiness(metrics, (), ready_within_s=20.0, poll_budget_s=None)
    assert worker.report() == (True, {})
    assert math.isinf(PrometheusMetrics(process_metrics=False).seconds_since_ok("telegram.poll"))


def test_health_fails_when_the_loop_stops_ticking() -> None:
    loop = LoopMonitor(PrometheusMetrics(process_metrics=False))
    assert loop.healthy()[0]
    loop._last_tick -= 1.5
    healthy, age = loop.healthy()
    assert not healthy and age >= 1.5
