"""The production recorder: ``bot.ports.Metrics`` on prometheus-client, in bounded memory.

The simulator's exact recorder (``bot.metrics.MetricsRecorder``) keeps every
latency; a process that runs for months cannot. Here each named operation is one
histogram series per outcome with fixed buckets, each counter and gauge one
series, and the number of names and labels is capped: a name beyond the cap is
folded into ``other``. Memory therefore stops growing once every name has been
seen, however many observations follow (tests/unit/test_prometheus_metrics.py
records a million).

Series:
- ``csvbot_operation_seconds{operation, outcome}``: histogram of each named deadline;
- ``csvbot_<name>_total{label, reason}``: ``count(name, "rejected:too_big")`` gives
  label ``rejected``, reason ``too_big``;
- ``csvbot_<name>``: each gauge (``updates.in_flight`` is ``csvbot_updates_in_flight``);
- ``process_*``: CPU seconds, resident memory, open files (prometheus-client's collector).
"""

from __future__ import annotations

import logging
import math
import re
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from bot.metrics import MetricsSnapshot, Summary

# One set for every operation: from a Redis round trip (ms) to a whole job (minutes).
OPERATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0,
)  # fmt: skip
MAX_OPERATIONS = 64
MAX_OUTCOMES = 8
MAX_COUNTERS = 32
MAX_LABELS_PER_COUNTER = 64
MAX_GAUGES = 64
OTHER = "other"

_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
_log = logging.getLogger("csvbot.metrics")


def metric_name(name: str) -> str:
    """``updates.in_flight`` -> ``csvbot_updates_in_flight``."""
    return "csvbot_" + _UNSAFE.sub("_", name).strip("_").lower()


class _Capped:
    """Remembers up to ``limit`` distinct values; any further one becomes ``OTHER``."""

    def __init__(self, limit: int, what: str) -> None:
        self._seen: set[str] = set()
        self._limit = limit
        self._what = what
        self._warned = False

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) < self._limit:
            self._seen.add(value)
            return value
        if not self._warned:
            self._warned = True
            _log.warning(
                "metrics: more than %d %s; the rest are counted as %r", self._limit, self._what, OTHER
            )
        return OTHER


def _quantile(q: float, bounds: list[float], cumulative: list[float], largest: float) -> float:
    """Prometheus' ``histogram_quantile``: linear within the bucket holding rank q."""
    total = cumulative[-1] if cumulative else 0.0
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return largest  # beyond the last finite bucket: the largest seen is the best bound
            inside = count - below
            estimate = bound if inside <= 0 else lower + (bound - lower) * (rank - below) / inside
            return min(estimate, largest)
        lower, below = bound, count
    return largest


class PrometheusMetrics:
    """Implements :class:`bot.ports.Metrics`; serve :attr:`registry` at ``/metrics``."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self._latency = Histogram(
            "csvbot_operation_seconds",
            "Duration of each named operation (deadline name), by outcome",
            ["operation", "outcome"],
            buckets=OPERATION_BUCKETS,
            registry=self.registry,
        )
        self._series: dict[tuple[str, str], Histogram] = {}
        self._operation = _Capped(MAX_OPERATIONS, "operation names")
        self._outcome = _Capped(MAX_OUTCOMES, "outcomes")
        self._counter_name = _Capped(MAX_COUNTERS, "counter names")
        self._gauge_name = _Capped(MAX_GAUGES, "gauge names")
        self._counters: dict[str, Counter | None] = {}
        self._counter_labels: dict[str, _Capped] = {}
        self._gauges: dict[str, Gauge | None] = {}
        # What snapshot() reports beside the histograms; bounded by the caps above.
        self._largest: dict[str, float] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._gauge_values: dict[str, float] = {}
        self._last_ok: dict[str, float] = {}

    # ---- bot.ports.Metrics

    def observe(self, name: str, seconds: float, outcome: str) -> None:
        operation = self._operation(name)
        key = (operation, self._outcome(outcome))
        series = self._series.get(key)
        if series is None:  # labels() takes a lock and builds a tuple: look it up once
            series = self._series[key] = self._latency.labels(*key)
        series.observe(seconds)
        if seconds > self._largest.get(operation, -math.inf):
            self._largest[operation] = seconds
        if outcome == "ok":
            self._last_ok[operation] = time.monotonic()

    def count(self, name: str, label: str = "", amount: int = 1) -> None:
        name = self._counter_name(name)
        counter = self._counter(name)
        label = self._counter_labels.setdefault(name, _Capped(MAX_LABELS_PER_COUNTER, f"labels of {name}"))(
            label
        )
        key = (name, label)
        self._counts[key] = self._counts.get(key, 0) + amount
        if counter is not None:
            kind, _, reason = label.partition(":")
            counter.labels(kind, reason).inc(amount)

    def gauge(self, name: str, value: float) -> None:
        name = self._gauge_name(name)
        self._gauge_values[name] = value
        gauge = self._gauge(name)
        if gauge is not None:
            gauge.set(value)

    def snapshot(self) -> MetricsSnapshot:
        return MetricsSnapshot(self._summaries(), dict(self._counts), dict(self._gauge_values))

    # ---- for the probes

    def seconds_since_ok(self, name: str) -> float:
        """Seconds since ``name`` last finished ``ok`` in this process (inf if never)."""
        at = self._last_ok.get(name)
        return math.inf if at is None else time.monotonic() - at

    # ---- internals

    def _counter(self, name: str) -> Counter | None:
        if name not in self._counters:
            try:
                self._counters[name] = Counter(
                    metric_name(name), f"Count of {name}", ["label", "reason"], registry=self.registry
                )
            except ValueError:  # the name clashes with another series: keep the count, skip the series
                _log.warning("metrics: counter %r clashes with an existing series", name)
                self._counters[name] = None
        return self._counters[name]

    def _gauge(self, name: str) -> Gauge | None:
        if name not in self._gauges:
            try:
                self._gauges[name] = Gauge(metric_name(name), f"Current {name}", registry=self.registry)
            except ValueError:
                _log.warning("metrics: gauge %r clashes with an existing series", name)
                self._gauges[name] = None
        return self._gauges[name]

    def _summaries(self) -> dict[str, Summary]:
        # Sum the outcome series of each operation into one cumulative histogram.
        buckets: dict[str, dict[float, float]] = {}
        outcomes: dict[str, dict[str, int]] = {}
        for family in self._latency.collect():
            for sample in family.samples:
                operation = sample.labels["operation"]
                if sample.name.endswith("_bucket"):
                    per_bound = buckets.setdefault(operation, {})
                    bound = float(sample.labels["le"])
                    per_bound[bound] = per_bound.get(bound, 0.0) + sample.value
                elif sample.name.endswith("_count"):
                    per_outcome = outcomes.setdefault(operation, {})
                    per_outcome[sample.labels["outcome"]] = int(sample.value)
        out: dict[str, Summary] = {}
        for operation in sorted(buckets):
            bounds = sorted(buckets[operation])
            cumulative = [buckets[operation][b] for b in bounds]
            largest = self._largest.get(operation, math.nan)
            out[operation] = Summary(
                count=int(cumulative[-1]) if cumulative else 0,
                p50=_quantile(0.50, bounds, cumulative, largest),
                p95=_quantile(0.95, bounds, cumulative, largest),
                p99=_quantile(0.99, bounds, cumulative, largest),
                max=largest,
                outcomes=dict(sorted(outcomes.get(operation, {}).items())),
            )
        return out


__all__ = ["OPERATION_BUCKETS", "OTHER", "PrometheusMetrics", "metric_name"]
