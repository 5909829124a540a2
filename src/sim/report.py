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

_HEADLINE_LATENCIES = ("user.answer", "user.ack", "upload.e2e", "handler")


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
    details: dict[str, Any] = field(default_factory=dict)  # faults, logs, cpu, gauges, errors
    replay: dict[str, str] = field(default_factory=dict)  # what a replay must match

    @property
    def ok(self) -> bool:
        return all(self.invariants.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
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
        shown = [
            name for name in ("user.answer", "user.ack", "upload.e2e", "handler") if name in self.latency
        ]
        for name in shown:
            p = self.latency[name]
            lines.append(
                f"  {name:<12} p50 {p.p50:.3f} s  p95 {p.p95:.3f} s  p99 {p.p99:.3f} s  (n={p.count})"
            )
        faults = self.details.get("faults_injected") or {}
        if faults:
            lines.append("  faults injected: " + ", ".join(f"{k}={v}" for k, v in faults.items()))
        for error in self.details.get("errors", []):
            lines.append(f"  error: {error}")
        lines.append("  invariants:")
        lines += [f"    [{'ok' if good else 'FAIL'}] {name}" for name, good in self.invariants.items()]
        for note in self.details.get("invariant_notes", []):
            lines.append(f"      {note}")
        return "\n".join(lines)


def plot_report(report: Report, path: str) -> None:
    """A picture of the run over virtual time: each user's answer latency (by outcome)
    above the occupancy series, with the fault windows shaded on both."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    details = report.details
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(11, 7))
    colours = {"analysed": "tab:green", "failed_with_message": "tab:orange", "lost": "tab:red"}
    for outcome, colour in colours.items():
        points = [
            (sent, lat if lat is not None else 0.0)
            for sent, lat, o in details.get("answers", [])
            if o == outcome
        ]
        if points:
            top.scatter([p[0] for p in points], [p[1] for p in points], s=6, color=colour, label=outcome)
    top.set_ylabel("answer latency (s)")
    top.legend(loc="upper right", fontsize="small")
    columns = details.get("series_columns", [])
    series = details.get("series", [])
    for index, name in enumerate(columns[1:], start=1):
        bottom.plot([row[0] for row in series], [row[index] for row in series], label=name, linewidth=1)
    bottom.set_xlabel("virtual time (s)")
    bottom.legend(loc="upper right", fontsize="small")
    for start, end, target, kind in details.get("fault_windows", []):
        for axis in (top, bottom):
            axis.axvspan(start, max(end, start + 0.5), color="tab:red", alpha=0.12)
        top.annotate(f"{target} {kind}", (start, 1.0), xycoords=("data", "axes fraction"), fontsize="x-small")
    fig.suptitle(f"{report.scenario}  seed {report.seed}  trace {report.trace_hash[:12]}")
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
