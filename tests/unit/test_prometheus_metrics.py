"""The production metrics recorder: Prometheus series, a snapshot for /stats, bounded memory."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable

from prometheus_client import generate_latest

from adapters.ops.prometheus import OTHER, PrometheusMetrics
from bot.metrics import MetricsRecorder
from bot.ports import Metrics

OPERATIONS = ("db.statement", "redis", "queue", "storage.upload", "telegram.call", "handler", "job.total")
OUTCOMES = ("ok", "ok", "ok", "timeout", "error")


def exposition(metrics: PrometheusMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_histograms_counters_gauges_and_process_series() -> None:
    metrics = PrometheusMetrics()
    metrics.observe("db.statement", 0.003, "ok")
    metrics.observe("db.statement", 12.0, "timeout")
    metrics.count("uploads", "rejected:too_big")
    metrics.count("uploads", "accepted", 2)
    metrics.count("telegram.429")
    metrics.gauge("updates.in_flight", 3)
    text = exposition(metrics)
    assert 'csvbot_operation_seconds_bucket{le="0.005",operation="db.statement",outcome="ok"} 1.0' in text
    assert 'csvbot_operation_seconds_count{operation="db.statement",outcome="timeout"} 1.0' in text
    assert 'csvbot_uploads_total{label="rejected",reason="too_big"} 1.0' in text
    assert 'csvbot_uploads_total{label="accepted",reason=""} 2.0' in text
    assert 'csvbot_telegram_429_total{label="",reason=""} 1.0' in text
    assert "csvbot_updates_in_flight 3.0" in text
    assert "process_resident_memory_bytes" in text
    assert "process_cpu_seconds_total" in text


def test_snapshot_estimates_percentiles_from_the_buckets() -> None:
    metrics = PrometheusMetrics(process_metrics=False)
    for i in range(100):
        metrics.observe("handler", 0.02 if i < 90 else 2.0, "ok" if i < 99 else "timeout")
    metrics.count("updates", amount=5)
    metrics.gauge("queue.depth", 7)
    snap = metrics.snapshot()
    handler = snap.operations["handler"]
    assert handler.count == 100
    assert handler.outcomes == {"ok": 99, "timeout": 1}
    assert 0.01 <= handler.p50 <= 0.025  # inside the bucket that holds the median
    assert 1.0 <= handler.p95 <= 2.0  # never above the largest value seen
    assert handler.max == 2.0
    assert snap.counters == {("updates", ""): 5}
    assert snap.gauges == {"queue.depth": 7}
    assert PrometheusMetrics(process_metrics=False).snapshot().operations == {}


def test_names_beyond_the_cap_are_folded_into_other() -> None:
    metrics = PrometheusMetrics(process_metrics=False)
    for i in range(500):
        metrics.observe(f"op{i}", 0.1, f"outcome{i % 20}")
        metrics.count("uploads", f"failed:reason{i}")
        metrics.gauge(f"g{i}", i)
    snap = metrics.snapshot()
    assert len(snap.operations) == 65 and OTHER in snap.operations
    assert len(snap.counters) == 65 and ("uploads", OTHER) in snap.counters
    assert len(snap.gauges) == 65 and snap.gauges[OTHER] == 499
    assert sum(s.count for s in snap.operations.values()) == 500


def _grow(metrics: Metrics, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        metrics.observe(OPERATIONS[i % len(OPERATIONS)], (i % 997) / 100.0, OUTCOMES[i % len(OUTCOMES)])
        if i % 10 == 0:
            metrics.count("uploads", "accepted")
            metrics.gauge("updates.in_flight", i % 64)


def _growth_blocks(make: Callable[[], Metrics], warm: int, total: int) -> int:
    """Memory blocks still allocated after ``total`` observations beyond those after ``warm``
    (every object the recorder keeps is at least one block; counting them costs nothing)."""
    metrics = make()
    _grow(metrics, warm)
    gc.collect()
    before = sys.getallocatedblocks()
    _grow(metrics, total - warm, start=warm)
    gc.collect()
    return sys.getallocatedblocks() - before


def test_a_million_observations_keep_memory_flat() -> None:
    growth = _growth_blocks(lambda: PrometheusMetrics(process_metrics=False), 10_000, 1_000_000)
    assert growth < 1_000, f"the recorder kept {growth} more memory blocks after a million observations"


def test_the_memory_measure_sees_a_recorder_that_keeps_every_number() -> None:
    # The exact in-memory recorder keeps each latency: the same measure must catch it.
    assert _growth_blocks(MetricsRecorder, 10_000, 110_000) > 50_000
