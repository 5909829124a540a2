"""Benchmark: profile a generated 20 MB CSV with our engine and with DuckDB's SUMMARIZE.

    python bench/analysis_bench.py            # generate (seeded), run both, print the table
    python bench/analysis_bench.py --runs 9   # more runs per engine (the median is reported)

Each run is a fresh Python process, so peak RSS is that engine's alone. "call" is the time of the
profiling call itself with the file's bytes as input (what a warm worker process pays per upload);
"process" adds interpreter start and imports. "ours+pandas" is our call in a process that has
imported pandas first, as a worker has after drawing a chart. A last run reports our pipeline
step by step. DuckDB is a dev/bench dependency only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROWS = 200_000
SEED = 20240601


def generate(path: Path, rows: int = ROWS, seed: int = SEED) -> int:
    """Write a CSV of ints, floats, dates, datetimes, categories and free text; returns its size."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    words = np.array(
        [
            *("order", "payment", "refund", "delivery", "late", "ok", "customer"),
            *("asked", "invoice", "call", "back", "address", "wrong"),
        ]
    )
    cities = np.array(["Moscow", "Kazan", "Perm", "Omsk", "Tver", "Sochi", "Ufa", "Samara"])
    score = np.round(rng.normal(50, 15, rows), 1).astype(object)
    score[rng.random(rows) < 0.03] = ""  # some missing values
    frame = pd.DataFrame(
        {
            "id": np.arange(1, rows + 1),
            "qty": rng.integers(1, 50, rows),
            "price": np.round(rng.lognormal(5, 1, rows), 2),
            "discount": np.round(rng.random(rows) * 0.3, 3),
            "order_date": (np.datetime64("2022-01-01") + rng.integers(0, 900, rows)).astype(str),
            "created_at": (
                np.datetime64("2022-01-01T00:00:00")
                + rng.integers(0, 900 * 86400, rows).astype("timedelta64[s]")
            ).astype(str),
            "city": cities[rng.integers(0, len(cities), rows)],
            "status": np.array(["new", "paid", "shipped", "cancelled"])[rng.integers(0, 4, rows)],
            "customer": np.char.add("C", rng.integers(0, 20_000, rows).astype(str)),
            "comment": [" ".join(words[rng.integers(0, len(words), k)]) for k in rng.integers(1, 7, rows)],
            "score": score,
            "flag": np.array(["true", "false"])[rng.integers(0, 2, rows)],
        }
    )
    data = frame.to_csv(index=False).encode()
    path.write_bytes(data)
    return len(data)


def _peak_rss() -> int:
    """Peak resident set of this process in bytes. VmHWM belongs to the address space made by
    exec, whereas getrusage's ru_maxrss also remembers the parent's size before the exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _phases(path: str) -> dict[str, object]:
    """Our pipeline step by step: seconds and peak RSS (MB) after each step."""
    from bot.analysis.frame import Loaded
    from bot.analysis.infer import type_table
    from bot.analysis.limits import CsvLimits
    from bot.analysis.profile import build_profile
    from bot.analysis.reader import RawTable, read_table

    steps: list[tuple[str, float, float]] = []
    started = time.perf_counter()

    def mark(name: str) -> None:
        steps.append((name, time.perf_counter() - started, _peak_rss() / 1e6))

    mark("imports")
    data = Path(path).read_bytes()
    mark("file read")
    table = read_table(data, CsvLimits())
    assert isinstance(table, RawTable), table
    mark("parsed (text columns)")
    columns, decimal = type_table(table)
    mark("typed")
    loaded = Loaded(table, columns, decimal)
    del columns  # build_profile releases each column once profiled: hold no other reference
    profile = build_profile(loaded, Path(path).name, len(data))
    mark("profiled")
    return {"steps": steps, "summary": f"{profile.n_rows} rows, {profile.n_columns} columns"}


def _child(engine: str, path: str) -> None:
    start = time.perf_counter()
    if engine == "phases":
        print(json.dumps(_phases(path)))
        return
    if engine == "imports":  # what a worker process holds before it reads anything
        import bot.analysis  # noqa: F401

        imported = time.perf_counter()
        summary = "import bot.analysis only"
    elif engine in ("ours", "ours+pandas"):
        if engine == "ours+pandas":  # a worker that has drawn a chart before: pandas is loaded
            import pandas  # noqa: F401
        from bot.analysis import Profile, analyse_csv

        imported = time.perf_counter()
        result = analyse_csv(Path(path).read_bytes(), Path(path).name)
        assert isinstance(result, Profile), result
        summary = f"{result.n_rows} rows, {result.n_columns} columns"
    else:
        import duckdb

        imported = time.perf_counter()
        rows = duckdb.sql(f"SUMMARIZE SELECT * FROM read_csv('{path}')").fetchall()
        summary = f"{len(rows)} columns summarised"
    done = time.perf_counter()
    print(
        json.dumps(
            {"call": done - imported, "imports": imported - start, "rss": _peak_rss(), "summary": summary}
        )
    )


def _child_env() -> dict[str, str]:
    # Some machines set these for old OpenBLAS builds; they slow a current numpy. Dropped for the
    # measured processes only (both engines), never for tests.
    return {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}


def _run(engine: str, path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run(  # noqa: S603 - runs this very script
        [sys.executable, __file__, "--child", engine, str(path)],
        check=True,
        capture_output=True,
        text=True,
        env=_child_env(),
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["process"] = time.perf_counter() - started
    return result


ENGINES = ("ours", "duckdb", "imports", "ours+pandas")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "PATH"))
    parser.add_argument("--generate", metavar="PATH")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    if args.generate:
        generate(Path(args.generate), args.rows)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        # Generated in its own process too: this one stays small while it starts the runs.
        subprocess.run(  # noqa: S603 - runs this very script
            [sys.executable, __file__, "--generate", str(path), "--rows", str(args.rows)], check=True
        )
        size = path.stat().st_size
        print(
            f"file: {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB), {args.rows} rows x 12 columns, seed {SEED}"
        )
        # Runs of the engines alternate, so a busy spell on a shared machine hits both alike.
        runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in ENGINES}
        for _ in range(args.runs):
            for engine in ENGINES:
                runs[engine].append(_run(engine, path))
        phases = _run("phases", path)
    results = {
        engine: {key: statistics.median(float(r[key]) for r in rs) for key in ("call", "process", "rss")}
        for engine, rs in runs.items()
    }
    print(f"{'engine':12} {'call s':>8} {'process s':>10} {'peak RSS MB':>12} {'RSS/file':>9}  result")
    for engine, r in results.items():
        print(
            f"{engine:12} {r['call']:8.3f} {r['process']:10.3f} {r['rss'] / 1e6:12.1f}"
            f" {r['rss'] / size:8.1f}x  {runs[engine][0]['summary']}"
        )
    ours, duck = results["ours"], results["duckdb"]
    ratios = sorted(a["call"] / b["call"] for a, b in zip(runs["ours"], runs["duckdb"], strict=True))
    print(
        f"time ratio ours/duckdb: call {ours['call'] / duck['call']:.2f}x (goal <= 1.5x; run by run "
        f"{ratios[0]:.2f}-{ratios[-1]:.2f}x), process {ours['process'] / duck['process']:.2f}x"
    )
    with_pandas = results["ours+pandas"]["rss"] / size
    print(
        f"peak RSS / file size: ours {ours['rss'] / size:.1f}x (goal <= 10x), "
        f"ours with pandas loaded {with_pandas:.1f}x, duckdb {duck['rss'] / size:.1f}x"
    )
    print("our steps (one run):        s from start   peak RSS MB")
    for name, seconds, rss in phases["steps"]:
        print(f"  {name:24} {seconds:14.3f} {rss:13.1f}")


if __name__ == "__main__":
    main()
