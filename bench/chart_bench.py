"""Benchmark: CPU time of one chart, and of one profile, on the stack benchmark's files.

    just bench chart                 # 20 files of 5-49 KB, each chart kind, median CPU ms
    just bench chart --files 40

What a button press costs the bot's CPU pool (the file read again, typed, drawn, encoded as
PNG) and what an upload costs the worker's analysis pool, in the process's CPU time
(``time.process_time``), after one warm-up call that loads pandas and matplotlib.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from stack.users import sample_csv  # noqa: E402

from bot import analysis  # noqa: E402
from bot.jobs import analyse_and_serialise  # noqa: E402

# Columns of the sample files: date, city, amount, qty, note.
KINDS: dict[str, Callable[[bytes], object]] = {
    "histogram (numbers)": lambda data: analysis.chart_histogram(data, "f.csv", 2, "ru"),
    "bars (top values)": lambda data: analysis.chart_histogram(data, "f.csv", 1, "ru"),
    "rows per period": lambda data: analysis.chart_histogram(data, "f.csv", 0, "en"),
    "time series": lambda data: analysis.chart_timeseries(data, "f.csv", 2, 0, "auto", "ru"),
    "correlations": lambda data: analysis.chart_correlations(data, "f.csv", "en"),
    "profile (analysis)": lambda data: analyse_and_serialise(data, "f.csv"),
}


def cpu_ms(fn: Callable[[bytes], object], files: list[bytes]) -> list[float]:
    fn(files[0])  # warm-up: imports, caches
    spent = []
    for data in files:
        start = time.process_time()
        fn(data)
        spent.append((time.process_time() - start) * 1000)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    files = [sample_csv(rng) for _ in range(args.files)]
    print(f"{len(files)} files, {sum(map(len, files)) / len(files) / 1024:.1f} KB on average")
    print("| what | CPU ms p50 | p95 |\n|---|---:|---:|")
    for name, fn in KINDS.items():
        spent = sorted(cpu_ms(fn, files))
        p95 = spent[min(len(spent) - 1, round(0.95 * (len(spent) - 1)))]
        print(f"| {name} | {statistics.median(spent):.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
