"""State growth over a long run: what the bot keeps, sampled over virtual time.

A bot that runs for months must hold a bounded amount of state: the metrics recorder,
the tables (the in-memory repository's row counts, named as in Postgres), blob storage
and Redis (conversation keys, job stream entries, send-bucket keys). The sampler
records them every ``[soak] sample_every_s``; :func:`flatness` judges whether each is
flat once the retention windows have passed; :func:`plot_growth` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio

from sim.fakes.send_bucket import MemorySendBucket
from sim.simulator.compose import SimStack

GROWTH_COLUMNS = (
    "t",
    "recorder",  # numbers the metrics recorder holds
    "users",
    "uploads",
    "jobs",
    "results",
    "processed_updates",
    "blobs",
    "redis_state_keys",  # conversation state (live keys, as Redis's expiry keeps them)
    "redis_queue_entries",  # job stream entries, waiting and unacknowledged
    "redis_send_keys",  # send-bucket keys (the global one and each recent chat's)
)


def growth_row(stack: SimStack, now: float) -> list[float]:
    counts = stack.repo.counts()
    bucket = stack.services.send_bucket
    send_keys = bucket.key_count() if isinstance(bucket, MemorySendBucket) else 0
    return [
        round(now, 3),
        stack.metrics.size(),
        counts["users"],
        counts["uploads"],
        counts["jobs"],
        counts["results"],
        counts["processed_updates"],
        len(stack.blobs.keys()),
        stack.state.live_keys(),
        stack.queue.depth(),
        send_keys,
    ]


async def sample_growth(stack: SimStack, rows: list[list[float]], every_s: float) -> None:
    while True:
        rows.append(growth_row(stack, trio.current_time()))
        await trio.sleep(every_s)


@dataclass(frozen=True, slots=True)
class Flatness:
    column: str
    early: float  # mean over the first third of the judged span
    late: float  # mean over the last third
    peak: float
    flat: bool


def flatness(rows: list[list[float]], after_s: float, tolerance: float, slack: float = 5.0) -> list[Flatness]:
    """Per column, flat after ``after_s``: the mean of the last third of the samples is
    within ``tolerance`` (a share) plus ``slack`` (an absolute count, for small numbers
    that wobble) of the mean of the first third. Growth that goes on shows as a
    late mean well above the early one."""
    judged = [row for row in rows if row[0] >= after_s]
    third = len(judged) // 3
    if third < 2:
        raise ValueError(f"too few samples after {after_s:g} s to judge ({len(judged)})")
    verdicts = []
    for index, column in enumerate(GROWTH_COLUMNS[1:], start=1):
        values = [row[index] for row in judged]
        early = sum(values[:third]) / third
        late = sum(values[-third:]) / third
        flat = late <= early * (1 + tolerance) + slack
        verdicts.append(Flatness(column, round(early, 1), round(late, 1), max(values), flat))
    return verdicts


def growth_details(rows: list[list[float]], after_s: float | None, tolerance: float) -> dict[str, Any]:
    details: dict[str, Any] = {"columns": list(GROWTH_COLUMNS), "rows": rows}
    judged = sum(1 for row in rows if row[0] >= after_s) if after_s is not None else 0
    if after_s is not None and judged < 6:
        details["not_judged"] = f"{judged} samples after {after_s:g} s: too few to judge (a shortened run)"
    elif after_s is not None:
        verdicts = flatness(rows, after_s, tolerance)
        details["flat_after_s"] = after_s
        details["flat"] = {v.column: v.flat for v in verdicts}
        details["early_late_peak"] = {v.column: [v.early, v.late, v.peak] for v in verdicts}
    return details


_PANELS = (
    ("recorder", ("recorder",)),
    ("rows", ("users", "uploads", "jobs", "results", "processed_updates")),
    ("blobs and Redis keys", ("blobs", "redis_state_keys", "redis_queue_entries", "redis_send_keys")),
)


def plot_growth(growth: dict[str, Any], title: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns, rows = growth["columns"], growth["rows"]
    days = [row[0] / 86400 for row in rows]
    fig, axes = plt.subplots(len(_PANELS), 1, sharex=True, figsize=(11, 8))
    for axis, (label, names) in zip(axes, _PANELS, strict=True):
        for name in names:
            index = columns.index(name)
            axis.plot(days, [row[index] for row in rows], label=name, linewidth=1.2)
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)
        axis.legend(loc="upper left", fontsize="x-small", ncol=3)
        if growth.get("flat_after_s") is not None:
            axis.axvline(growth["flat_after_s"] / 86400, color="grey", linestyle="--", linewidth=0.8)
    axes[-1].set_xlabel("virtual time (days)")
    flat = growth.get("flat")
    verdict = (
        ""
        if flat is None
        else (
            "  all flat"
            if all(flat.values())
            else "  GROWING: " + ", ".join(name for name, ok in flat.items() if not ok)
        )
    )
    fig.suptitle(f"{title}{verdict}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = [
    "GROWTH_COLUMNS",
    "Flatness",
    "flatness",
    "growth_details",
    "growth_row",
    "plot_growth",
    "sample_growth",
]
