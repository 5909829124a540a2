"""A process's own figures, written as JSON when it stops (``CSVBOT_METRICS_FILE``).

Benchmarks read them: each named deadline's latencies and outcomes, and the
database session limiter (peak sessions in use, the wait for a session).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from adapters.postgres.repository import PostgresRepository
from bot.metrics import percentile
from bot.ports import Services


def figures(services: Services) -> dict[str, Any]:
    out: dict[str, Any] = {}
    snapshot = services.metrics.snapshot()  # from histogram buckets in production: estimates
    out["latency"] = {k: dataclasses.asdict(v) for k, v in snapshot.operations.items()}
    out["gauges"] = dict(snapshot.gauges)
    if isinstance(services.repo, PostgresRepository):
        pool = services.repo.pool
        waits = sorted(pool.waits_s)
        out["sessions"] = {
            "limit": pool.limit,
            "max_in_use": pool.max_sessions_in_use,
            "checkouts": pool.checkouts,
            "waited": len(waits),
            "wait_p50_s": percentile(waits, 50) if waits else 0.0,
            "wait_p95_s": percentile(waits, 95) if waits else 0.0,
            "wait_max_s": waits[-1] if waits else 0.0,
            "opened": pool.opened,
        }
    return out


def write_metrics(path: Path, services: Services) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures(services), indent=1, default=str), encoding="utf-8")


__all__ = ["figures", "write_metrics"]
