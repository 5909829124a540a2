"""Plots of `just bench stack` results for BENCHMARKS.md.

    python bench/stack/plot.py bench/out/stack-....json docs/bench-stack.png

Left: p50 and p95 of each operation by phase (log scale). Right: messages the whole
deployment sent per second, per phase, against Telegram's 30/s.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot(result: Path, out: Path) -> None:
    data = json.loads(result.read_text())
    phases = data["phases"]
    ops = list(phases[0]["latency"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / max(1, len(phases))
    for i, phase in enumerate(phases):
        xs = [k + i * width for k in range(len(ops))]
        p95 = [phase["latency"][op]["p95"] for op in ops]
        p50 = [phase["latency"][op]["p50"] for op in ops]
        left.bar(xs, p95, width, label=f"{phase['phase']} p95", alpha=0.55)
        left.scatter(xs, p50, marker="_", s=200, color="black")
    left.set_xticks([k + 0.4 - width / 2 for k in range(len(ops))], ops, rotation=15)
    left.set_yscale("log")
    left.set_ylabel("seconds (bars p95, ticks p50)")
    left.legend(fontsize=8)
    for phase in phases:
        series = phase.get("send_per_second", [])
        right.plot(range(len(series)), series, label=phase["phase"], lw=1)
    right.axhline(30, color="red", ls="--", lw=1, label="Telegram 30/s")
    right.set_xlabel("seconds into the phase")
    right.set_ylabel("messages sent per second (all processes)")
    right.legend(fontsize=8)
    header = data["header"]
    fig.suptitle(
        f"just bench stack, {header['date']}, load {header['load_1m_before']:.1f} on {header['cpus']} CPUs, "
        f"{header['workers']} worker(s), limits {header['limits']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    plot(Path(sys.argv[1]), Path(sys.argv[2]))
