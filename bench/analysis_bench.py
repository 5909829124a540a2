"""Benchmark: profile generated CSVs with our engine, DuckDB's SUMMARIZE and polars' describe.

    python bench/analysis_bench.py            # generate (seeded), run every engine, print tables
    python bench/analysis_bench.py --runs 9   # more runs per engine (the median is reported)
    python bench/analysis_bench.py --only main --wide-columns 20000

Three files: "main" (20 MB, 200k rows x 12 columns, UTF-8, commas), "cp1251" (a Russian export:
Windows-1251, semicolons, decimal commas, DD.MM.YYYY dates, space-grouped amounts) and "wide"
(2,000 rows x --wide-columns columns, 20,000 by default: one run per engine, --wide-runs for
more). A run past --timeout seconds (600) is stopped and reported as such. DuckDB and polars
cannot read Windows-1251: they get a UTF-8 copy made beforehand (not timed) and are told the
delimiter and the decimal comma, which we detect ourselves.

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


def generate_cp1251(path: Path, rows: int = ROWS // 2, seed: int = SEED) -> int:
    """A bank-statement-like export: what a Russian accountant uploads."""
    import numpy as np

    rng = np.random.default_rng(seed)
    names = np.array(['ООО "Ромашка"', "ИП Иванов", "АО Лютик", "ООО Василёк", "ПАО Сбербанк", "ИП Петрова"])
    purposes = np.array(["Оплата по счёту", "Возврат", "Комиссия банка", "Аванс по договору", "Зарплата"])
    day = rng.integers(1, 29, rows)
    month = rng.integers(1, 13, rows)
    amount = np.round(rng.lognormal(9, 1.5, rows), 2)
    lines = ["Дата;Контрагент;Назначение;Сумма;НДС;Номер документа"]
    for i in range(rows):
        whole, kopecks = divmod(round(amount[i] * 100), 100)
        grouped = f"{whole:,}".replace(",", " ")
        vat = f"{amount[i] * 0.2:.2f}".replace(".", ",")
        lines.append(
            f"{day[i]:02d}.{month[i]:02d}.2024;{names[i % len(names)]};{purposes[(i * 7) % len(purposes)]} "
            f"№{1000 + i};{grouped},{kopecks:02d};{vat};{100_000 + i}"
        )
    data = ("\r\n".join(lines) + "\r\n").encode("cp1251")
    path.write_bytes(data)
    return len(data)


def generate_wide(path: Path, columns: int, rows: int = 2000, seed: int = SEED) -> int:
    import numpy as np

    rng = np.random.default_rng(seed)
    values = rng.integers(0, 1000, (rows, columns))
    with path.open("w") as out:
        out.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        for row in values:
            out.write(",".join(map(str, row)) + "\n")
    return path.stat().st_size


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


_ROOMY_BYTES = 1 << 30  # the wide file is past the 20 MB upload limit: measured anyway


def _child(engine: str, path: str) -> None:
    start = time.perf_counter()
    russian = path.endswith("cp1251.csv")
    other = path.replace("cp1251.csv", "utf8.csv") if russian else path  # for DuckDB and polars
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
        from bot.analysis import CsvLimits, Profile, analyse_csv

        imported = time.perf_counter()
        result = analyse_csv(Path(path).read_bytes(), Path(path).name, CsvLimits(max_bytes=_ROOMY_BYTES))
        assert isinstance(result, Profile), result
        summary = f"{result.n_rows} rows, {result.n_columns} columns"
    elif engine == "polars":
        import polars as pl

        imported = time.perf_counter()
        options: dict[str, Any] = {"separator": ";", "decimal_comma": True} if russian else {}
        described = pl.read_csv(other, infer_schema_length=10_000, **options).describe()
        summary = f"{described.width - 1} columns described"
    else:
        import duckdb

        imported = time.perf_counter()
        options_sql = ", delim=';', decimal_separator=','" if russian else ""
        rows = duckdb.sql(f"SUMMARIZE SELECT * FROM read_csv('{other}'{options_sql})").fetchall()
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


def _run(engine: str, path: Path, timeout: float | None = None) -> dict[str, Any] | None:
    """One measured process; None when it ran past `timeout` seconds (it is then killed)."""
    started = time.perf_counter()
    try:
        out = subprocess.run(  # noqa: S603 - runs this very script
            [sys.executable, __file__, "--child", engine, str(path)],
            check=True,
            capture_output=True,
            text=True,
            env=_child_env(),
            timeout=timeout,
        ).stdout
    except subprocess.TimeoutExpired:
        return None
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["process"] = time.perf_counter() - started
    return result


ENGINES = ("ours", "duckdb", "polars", "imports", "ours+pandas")
OTHER_ENGINES = ("ours", "duckdb", "polars")


def _make(kind: str, path: Path, rows: int, wide_columns: int) -> str:
    """Write one benchmark file (in its own process: this one stays small) and describe it."""
    subprocess.run(  # noqa: S603 - runs this very script
        [sys.executable, __file__, "--generate", str(path), "--kind", kind, "--rows", str(rows),
         "--wide-columns", str(wide_columns)],
        check=True,
    )  # fmt: skip
    size = path.stat().st_size
    shapes = {
        "main": f"{rows} rows x 12 columns, UTF-8",
        "cp1251": f"{rows // 2} rows x 6 columns, Windows-1251, ';', decimal comma",
        "wide": f"2000 rows x {wide_columns} columns",
    }
    return f"{kind}: {size / 1e6:.1f} MB, {shapes[kind]}, seed {SEED}"


def _measure(kind: str, path: Path, runs_wanted: int, timeout: float) -> None:
    size = path.stat().st_size
    engines = ENGINES if kind == "main" else OTHER_ENGINES
    # Runs of the engines alternate, so a busy spell on a shared machine hits all alike.
    runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in engines}
    stopped: set[str] = set()  # engines that ran past the timeout: not run again
    for _ in range(runs_wanted):
        for engine in engines:
            if engine in stopped:
                continue
            result = _run(engine, path, timeout)
            if result is None:
                stopped.add(engine)
            else:
                runs[engine].append(result)
    results = {
        engine: {key: statistics.median(float(r[key]) for r in rs) for key in ("call", "process", "rss")}
        for engine, rs in runs.items()
        if rs
    }
    print(f"{'engine':12} {'call s':>8} {'process s':>10} {'peak RSS MB':>12} {'RSS/file':>9}  result")
    for engine in engines:
        if engine not in results:
            print(f"{engine:12} {'> ' + str(round(timeout)):>8}  stopped after {timeout:.0f} s")
            continue
        r = results[engine]
        print(
            f"{engine:12} {r['call']:8.3f} {r['process']:10.3f} {r['rss'] / 1e6:12.1f}"
            f" {r['rss'] / size:8.1f}x  {runs[engine][0]['summary']}"
        )
    if "ours" not in results:
        return
    ours = results["ours"]
    for other in (e for e in ("duckdb", "polars") if e in engines):
        if other not in results:
            print(f"time ratio ours/{other}: < {ours['call'] / timeout:.2f}x ({other} stopped)")
            continue
        pairs = list(zip(runs["ours"], runs[other], strict=False))
        ratios = sorted(a["call"] / b["call"] for a, b in pairs)
        print(
            f"time ratio ours/{other}: call {ours['call'] / results[other]['call']:.2f}x "
            f"(run by run {ratios[0]:.2f}-{ratios[-1]:.2f}x), "
            f"process {ours['process'] / results[other]['process']:.2f}x"
        )
    print(f"peak RSS / file size: ours {ours['rss'] / size:.1f}x (goal <= 10x)")
    if kind == "main":
        print(f"  ours with pandas loaded {results['ours+pandas']['rss'] / size:.1f}x")
        phases = _run("phases", path)
        assert phases is not None
        print("our steps (one run):        s from start   peak RSS MB")
        for name, seconds, rss in phases["steps"]:
            print(f"  {name:24} {seconds:14.3f} {rss:13.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "PATH"))
    parser.add_argument("--generate", metavar="PATH")
    parser.add_argument("--kind", default="main", choices=("main", "cp1251", "wide"))
    parser.add_argument("--only", choices=("main", "cp1251", "wide"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--wide-columns", type=int, default=20_000)
    parser.add_argument("--wide-runs", type=int, default=1, help="runs per engine on the wide file")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a run is stopped")
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    if args.generate:
        target = Path(args.generate)
        if args.kind == "main":
            generate(target, args.rows)
        elif args.kind == "cp1251":
            generate_cp1251(target, args.rows // 2)
            utf8 = target.with_name(target.name.replace("cp1251.csv", "utf8.csv"))
            utf8.write_bytes(target.read_bytes().decode("cp1251").encode())
        else:
            generate_wide(target, args.wide_columns)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for kind in (args.only,) if args.only else ("main", "cp1251", "wide"):
            path = Path(tmp) / ("bench.csv" if kind == "main" else f"{kind}.csv")
            print("\n" + _make(kind, path, args.rows, args.wide_columns))
            _measure(kind, path, args.wide_runs if kind == "wide" else args.runs, args.timeout)


if __name__ == "__main__":
    main()
