"""The simulation report: JSON for machines, a short text for people.

Virtual seconds everywhere except ``wall_seconds``, the one real measurement (it is
not part of the trace, so it never affects the trace hash).
"""

from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

import trio

from bot.metrics import MetricsRecorder, percentile

_HEADLINE_LATENCIES = ("user.answer", "user.ack", "user.start", "handler")


@dataclass(frozen=True, slots=True)
class Percentiles:
    count: int
    p50: float
    p95: float
    p99: float
    max: float
    outcomes: dict[str, int] = field(default_factory=dict)


def percentiles(values: list[float], outcomes: dict[str, int] | None = None) -> Percentiles:
    ordered = sorted(values)
    return Percentiles(
        count=len(ordered),
        p50=round(percentile(ordered, 50), 6),
        p95=round(percentile(ordered, 95), 6),
        p99=round(percentile(ordered, 99), 6),
        max=round(ordered[-1], 6),
        outcomes=dict(outcomes or {}),
    )


def latency_table(metrics: MetricsRecorder, extra: dict[str, list[float]]) -> dict[str, Percentiles]:
    """Percentiles per operation: the core's guarded calls plus the workload's own."""
    table: dict[str, Percentiles] = {}
    for name, summary in metrics.summary().items():
        if summary.count:
            table[name] = percentiles(metrics.latencies[name], summary.outcomes)
    for name in sorted(extra):
        if extra[name]:
            table[name] = percentiles(extra[name])
    return dict(sorted(table.items()))


@dataclass(slots=True)
class Report:
    scenario: str
    seed: int
    trace_hash: str
    trace_events: int
    virtual_seconds: float
    wall_seconds: float
    users: dict[str, int]
    uploads: dict[str, int]
    latency: dict[str, Percentiles]
    invariants: dict[str, bool]
    success_rate: float = 1.0  # good files analysed, bad ones refused with a reason
    timeouts: int = 0  # named deadlines that expired
    retries: int = 0  # retried calls (Telegram, storage)
    expectations: dict[str, bool] = field(default_factory=dict)  # see sim.simulator.expect
    story: list[str] = field(default_factory=list)  # plain sentences on what the run showed
    details: dict[str, Any] = field(default_factory=dict)  # faults, logs, cpu, gauges, errors
    replay: dict[str, str] = field(default_factory=dict)  # what a replay must match

    @property
    def invariants_ok(self) -> bool:
        return all(self.invariants.values())

    @property
    def ok(self) -> bool:
        """The scenario's expectations were met (by default: every invariant held)."""
        if self.expectations:
            return all(self.expectations.values())
        return self.invariants_ok

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["invariants_ok"] = self.invariants_ok
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(_finite(self.to_dict()), indent=indent, ensure_ascii=False)

    def to_text(self) -> str:
        u = self.uploads
        lines = [
            f"scenario {self.scenario}  seed {self.seed}  {'OK' if self.ok else 'FAILED'}",
            f"  virtual {self.virtual_seconds:.1f} s in {self.wall_seconds:.2f} s wall, "
            f"{self.trace_events} trace events, trace {self.trace_hash[:16]}",
            f"  users {self.users.get('total', 0)} (arrived {self.users.get('arrived', 0)})   "
            f"uploads sent {u.get('sent', 0)}: analysed {u.get('analysed', 0)}, "
            f"failed with a message {u.get('failed_with_message', 0)}, lost {u.get('lost', 0)} "
            f"(acknowledged {u.get('accepted', 0)})",
        ]
        lines.append(
            f"  success {self.success_rate:.1%}   timeouts {self.timeouts}   retries {self.retries}   "
            f"db sessions peak {self.details.get('db', {}).get('max_sessions_in_use', 0)}"
            f"/{self.details.get('db', {}).get('session_limit')} "
            f"(peak waiting {self.details.get('db', {}).get('peak_waiting', 0)})"
        )
        shown = [name for name in _HEADLINE_LATENCIES if name in self.latency]
        shown += [name for name in sorted(self.latency) if name not in shown]
        for name in shown:
            p = self.latency[name]
            outcomes = ", ".join(f"{k} {v}" for k, v in p.outcomes.items() if k != "ok")
            lines.append(
                f"  {name:<17} p50 {p.p50:7.3f} s  p95 {p.p95:7.3f} s  p99 {p.p99:7.3f} s  (n={p.count})"
                + (f"  [{outcomes}]" if outcomes else "")
            )
        faults = self.details.get("faults_injected") or {}
        if faults:
            lines.append("  faults injected: " + ", ".join(f"{k}={v}" for k, v in faults.items()))
        for error in self.details.get("errors", []):
            lines.append(f"  error: {error}")
        log = self.details.get("log", {})
        if log.get("blocked_s"):
            lines.append(
                f"  log: {log.get('records', 0)} records, peak {log.get('peak_per_second', 0)}/s, "
                f"loop blocked {log['blocked_s']:.1f} s by synchronous writes"
            )
        elif log.get("writer_lag_peak_s", 0) > 0.5:
            lines.append(
                f"  log: {log.get('records', 0)} records, peak {log.get('peak_per_second', 0)}/s; the queued "
                f"writer fell {log['writer_lag_peak_s']:.1f} s behind, the loop was never blocked"
            )
        growth = self.details.get("growth") or {}
        if growth.get("early_late_peak"):
            days = growth["flat_after_s"] / 86400
            lines.append(f"  state from day {days:g} on (early mean, late mean, peak):")
            for name, (early, late, peak) in growth["early_late_peak"].items():
                verdict = "flat" if growth["flat"][name] else "GROWING"
                lines.append(f"    {name:<20} {early:>10.1f} {late:>10.1f} {peak:>10.0f}  {verdict}")
        lines.append("  invariants:")
        lines += [f"    [{'ok' if good else 'FAIL'}] {name}" for name, good in self.invariants.items()]
        for note in self.details.get("invariant_notes", []):
            lines.append(f"      {note}")
        if self.expectations and set(self.expectations) != {f"{n} holds" for n in self.invariants}:
            lines.append("  expected:")
            lines += [
                f"    [{'met' if good else 'NOT MET'}] {name}" for name, good in self.expectations.items()
            ]
        lines += [f"  {sentence}" for sentence in self.story]
        return "\n".join(lines)


def _bucketed(points: list[tuple[float, float]], width: float) -> tuple[list[float], dict[int, list[float]]]:
    """p50/p95/p99 of (time, value) points per time bucket of ``width`` seconds."""
    buckets: dict[int, list[float]] = {}
    for at, value in points:
        buckets.setdefault(int(at // width), []).append(value)
    times = [(key + 0.5) * width for key in sorted(buckets)]
    lines: dict[int, list[float]] = {q: [] for q in (50, 95, 99)}
    for key in sorted(buckets):
        ordered = sorted(buckets[key])
        for q, line in lines.items():
            line.append(percentile(ordered, q))
    return times, lines


def plot_report(report: Report, path: str) -> None:
    """The run over virtual time, fault windows shaded: answer latency percentiles (per
    bucket of send time) over each user's point, queue depth, semaphore occupancy, errors."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    details = report.details
    fig, axes = plt.subplots(4, 1, sharex=True, figsize=(12, 10), height_ratios=(3, 2, 2, 2))
    latency_ax, queue_ax, occupancy_ax, errors_ax = axes
    answers = details.get("answers", [])
    colours = {"analysed": "tab:green", "failed_with_message": "tab:orange", "lost": "tab:red"}
    for outcome, colour in colours.items():
        points = [(row[0], row[1] if row[1] is not None else 0.0) for row in answers if row[2] == outcome]
        if points:
            latency_ax.scatter(
                [p[0] for p in points], [p[1] for p in points], s=4, color=colour, alpha=0.35, label=outcome
            )
    span = max(report.virtual_seconds, 1.0)
    width = max(1.0, span / 60)
    answered = [(row[0], row[1]) for row in answers if row[1] is not None]
    times, lines = _bucketed(answered, width)
    for q, style in ((50, ":"), (95, "-"), (99, "--")):
        if times:
            latency_ax.plot(times, lines[q], style, color="black", linewidth=1, label=f"answer p{q}")
    acked = [(row[0], row[3]) for row in answers if len(row) > 3 and row[3] is not None]
    times, lines = _bucketed(acked, width)
    if times:
        latency_ax.plot(times, lines[95], "-", color="tab:blue", linewidth=1, label="receipt p95")
    latency_ax.set_ylabel("latency (s)\nby send time")
    latency_ax.legend(loc="upper right", fontsize="x-small", ncol=3)

    columns = details.get("series_columns", [])
    series = details.get("series", [])
    t = [row[0] for row in series]

    def draw(axis: Any, names: tuple[str, ...], label: str) -> None:
        for name in names:
            if name in columns:
                index = columns.index(name)
                axis.plot(t, [row[index] for row in series], label=name, linewidth=1)
        axis.set_ylabel(label)
        axis.legend(loc="upper right", fontsize="x-small", ncol=3)

    draw(queue_ax, ("queue_depth", "users_waiting", "updates_in_flight"), "depth")
    draw(occupancy_ax, ("db_sessions", "db_waiting", "cpu_in_use"), "occupancy")
    limit = details.get("db", {}).get("session_limit")
    if limit:
        occupancy_ax.axhline(limit, color="grey", linewidth=0.8, linestyle="--")
    draw(errors_ax, ("errors", "faults"), "per interval")
    errors_ax.set_xlabel("virtual time (s)")
    for start, end, target, kind in details.get("fault_windows", []):
        for axis in axes:
            axis.axvspan(start, max(end, start + span / 400), color="tab:red", alpha=0.12)
        latency_ax.annotate(
            f"{target} {kind}",
            (start, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize="x-small",
            va="bottom",
        )
    verdict = "OK" if report.ok else "FAILED"
    fig.suptitle(f"{report.scenario}  seed {report.seed}  trace {report.trace_hash[:12]}  {verdict}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def replay_header(seed: int, hash_seed_pinned: bool) -> dict[str, str]:
    return {
        "seed": str(seed),
        "python": platform.python_version(),
        "trio": trio.__version__,
        "PYTHONHASHSEED": "0" if hash_seed_pinned else "unpinned",
    }


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: render them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
