"""An in-memory metrics recorder (implements ports.Metrics).

Good enough for one process: the simulator reads it for its report, the real bot
logs a summary of it, and ``/stats`` shows its :meth:`MetricsRecorder.snapshot`.
Latencies are kept per name as plain lists; callers that run for days should use
:meth:`drain`, or bound what is kept with ``max_samples``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(slots=True)
class Summary:
    count: int
    p50: float
    p95: float
    p99: float
    max: float
    outcomes: dict[str, int]


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """What the metrics say at one moment; what ``/stats`` shows."""

    operations: Mapping[str, Summary]
    counters: Mapping[tuple[str, str], int]
    gauges: Mapping[str, float]

    def counter(self, name: str, label: str = "") -> int:
        return self.counters.get((name, label), 0)

    def counted(self, name: str) -> int:
        """The sum of counter ``name`` over all its labels."""
        return sum(n for (counter, _), n in self.counters.items() if counter == name)


@dataclass(slots=True)
class MetricsRecorder:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    gauges: dict[str, float] = field(default_factory=dict)
    gauge_peaks: dict[str, float] = field(default_factory=dict)
    counters: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    # Latencies kept per name (the most recent ones); None keeps every one. Counts of
    # outcomes stay exact either way. A run of days sets it (scenarios/soak-week.toml).
    max_samples: int | None = None

    def observe(self, name: str, seconds: float, outcome: str) -> None:
        samples = self.latencies[name]
        samples.append(seconds)
        self.outcomes[name][outcome] += 1
        bound = self.max_samples
        if bound is not None and len(samples) > bound + bound // 20:
            del samples[: len(samples) - bound]  # amortised: once per bound/20 calls, 5 % slack

    def size(self) -> int:
        """Numbers held: latencies kept, outcome counts, counters, gauges (what grows, if anything)."""
        held = sum(len(samples) for samples in self.latencies.values())
        held += sum(len(outcomes) for outcomes in self.outcomes.values())
        return held + len(self.counters) + len(self.gauges) + len(self.gauge_peaks)

    def gauge(self, name: str, value: float) -> None:
        self.gauges[name] = value
        if value > self.gauge_peaks.get(name, -math.inf):
            self.gauge_peaks[name] = value

    def count(self, name: str, label: str = "", amount: int = 1) -> None:
        self.counters[(name, label)] += amount

    def snapshot(self) -> MetricsSnapshot:
        return MetricsSnapshot(
            operations=self.summary(), counters=dict(self.counters), gauges=dict(self.gauges)
        )

    def summary(self) -> dict[str, Summary]:
        out: dict[str, Summary] = {}
        for name in sorted(self.latencies):
            values = sorted(self.latencies[name])
            out[name] = Summary(
                count=len(values),
                p50=percentile(values, 50),
                p95=percentile(values, 95),
                p99=percentile(values, 99),
                max=values[-1] if values else math.nan,
                outcomes=dict(sorted(self.outcomes[name].items())),
            )
        return out

    def drain(self) -> dict[str, Summary]:
        result = self.summary()
        self.latencies.clear()
        self.outcomes.clear()
        return result
