"""Mutation testing (``just mutants``): how many realistic bugs does the fault suite catch?

``mutants/catalogue.toml`` lists fault-handling bugs as data: a file, an exact text and
its replacement. Each mutant is applied, one at a time, to a temporary copy of the
checkout (the working tree is never touched), then the fault suite
(:mod:`sim.simulator.faultsuite`) runs against the copy with an early exit on the first
failing check. A mutant is

- **caught**: some check failed; the report names it and the time it took;
- **survived**: the whole suite passed with the bug in;
- **does not apply**: its text is not in the file exactly once (the code has moved).

At most two mutants run at once (``--jobs``), each suite one check at a time. The
summary is caught / applicable, with the wall-clock time of the whole run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

CATALOGUE = Path("mutants/catalogue.toml")
CATEGORIES = (
    *("ordering", "shield", "deadline", "backpressure", "dedupe"),
    *("lease", "limiter", "blocking", "crash"),
)
# What the fault suite reads from a checkout.
_COPIED = ("src", "tests", "scenarios", "pyproject.toml")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", "swarm-failures", "*.png", ".data")


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Mutant:
    id: str
    category: str
    file: str
    old: str
    new: str
    why: str

    def apply_to(self, text: str) -> str | None:
        """The mutated text, or None when ``old`` is not there exactly once or the result
        does not compile (a mutant caught by a syntax error would be a false catch)."""
        if text.count(self.old) != 1:
            return None
        mutated = text.replace(self.old, self.new)
        try:
            compile(mutated, self.file, "exec")
        except SyntaxError:
            return None
        return mutated


@dataclass(slots=True)
class MutantResult:
    id: str
    category: str
    status: str  # "caught", "survived", "does not apply"
    caught_by: str = ""
    seconds: float = 0.0  # until the catching check failed (or the suite passed)
    detail: str = ""


def load_catalogue(path: Path) -> list[Mutant]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    mutants: list[Mutant] = []
    for entry in data.get("mutant", []):
        missing = {"id", "category", "file", "old", "new", "why"} - set(entry)
        if missing:
            raise CatalogueError(f"{path}: mutant {entry.get('id', '?')} lacks {sorted(missing)}")
        if entry["category"] not in CATEGORIES:
            raise CatalogueError(f"{path}: mutant {entry['id']}: unknown category {entry['category']!r}")
        if entry["old"] == entry["new"]:
            raise CatalogueError(f"{path}: mutant {entry['id']} changes nothing")
        mutants.append(Mutant(**{k: entry[k] for k in ("id", "category", "file", "old", "new", "why")}))
    ids = [m.id for m in mutants]
    if len(set(ids)) != len(ids):
        raise CatalogueError(f"{path}: mutant ids repeat")
    return mutants


def copy_checkout(root: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for name in _COPIED:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=_IGNORED)
        elif source.exists():
            shutil.copy2(source, into / name)
    return into


def _forget_bytecode(path: Path) -> None:
    for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        cached.unlink()


def run_mutant(
    mutant: Mutant, root: Path, copy: Path, *, swarm_seeds: int | None, echo: bool = True
) -> MutantResult:
    # The copy, not the working tree: it is the checkout as it was when the run began.
    original = (copy / mutant.file).read_text(encoding="utf-8") if (copy / mutant.file).exists() else ""
    mutated = mutant.apply_to(original)
    if mutated is None:
        found = original.count(mutant.old)
        return MutantResult(mutant.id, mutant.category, "does not apply", detail=f"text found {found} times")
    target = copy / mutant.file
    target.write_text(mutated, encoding="utf-8")
    _forget_bytecode(target)
    report = copy / f"suite-{mutant.id}.json"
    argv = [sys.executable, "-m", "sim", "faults", "--jobs", "1", "--exitfirst", "--root", str(copy)]
    argv += ["--json", str(report)] + ([] if swarm_seeds is None else ["--swarm-seeds", str(swarm_seeds)])
    started = time.perf_counter()
    try:
        proc = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
            argv, cwd=copy, env=_env(copy), capture_output=True, check=False
        )
    finally:
        target.write_text(original, encoding="utf-8")
        _forget_bytecode(target)
    seconds = round(time.perf_counter() - started, 1)
    outcomes = json.loads(report.read_text())["outcomes"] if report.exists() else []
    failed = [o for o in outcomes if o["status"] == "failed"]
    if proc.returncode == 0:
        return MutantResult(mutant.id, mutant.category, "survived", seconds=seconds)
    if not failed:
        tail = (proc.stdout + proc.stderr).decode(errors="replace")[-500:]
        return MutantResult(mutant.id, mutant.category, "caught", "the suite itself", seconds, tail)
    first = failed[0]
    caught_at = round(first["started_s"] + first["seconds"], 1)
    why = _why_failed(first["tail"])
    return MutantResult(mutant.id, mutant.category, "caught", first["name"], caught_at, why)


def _why_failed(tail: str) -> str:
    """The most telling line of a failed check's output (a broken invariant, an assertion)."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for marker in ("[FAIL]", "FAILED", "AssertionError", "Error", "seed"):
        picked = [line for line in lines if marker in line]
        if picked:
            return "; ".join(picked[:3])[:300]
    return (lines[-1] if lines else "")[:300]


def _env(copy: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy / "src")
    env["PYTHONHASHSEED"] = "0"
    return env


def interleaved(mutants: Sequence[Mutant]) -> list[Mutant]:
    """One mutant of each category in turn, so a run cut short still covers every category."""
    by_category: dict[str, list[Mutant]] = {}
    for mutant in mutants:
        by_category.setdefault(mutant.category, []).append(mutant)
    order: list[Mutant] = []
    while any(by_category.values()):
        for group in by_category.values():
            if group:
                order.append(group.pop(0))
    return order


def run_catalogue(
    mutants: Sequence[Mutant],
    root: Path,
    *,
    jobs: int,
    swarm_seeds: int | None,
    echo: bool = True,
    report: Path | None = None,
) -> list[MutantResult]:
    results: dict[str, MutantResult] = {}
    queue = interleaved(mutants)
    began = time.perf_counter()
    lock = threading.Lock()

    def work(slot: Path) -> None:
        copy_checkout(root, slot)
        while True:
            with lock:
                if not queue:
                    return
                mutant = queue.pop(0)
            result = run_mutant(mutant, root, slot, swarm_seeds=swarm_seeds)
            with lock:
                results[mutant.id] = result
                if report is not None:  # after each mutant: a run cut short keeps what it found
                    write_report(report, list(results.values()), time.perf_counter() - began, len(mutants))
                if echo:
                    by = f" by {result.caught_by} in {result.seconds:.0f} s" if result.caught_by else ""
                    when = f" ({result.seconds:.0f} s)" if result.status == "survived" else ""
                    print(f"{result.status:14} {mutant.id}{by}{when}", flush=True)
                    if result.detail:
                        print(f"               {result.detail}", flush=True)

    with tempfile.TemporaryDirectory(prefix="csvbot-mutants-") as tmp:
        threads = [threading.Thread(target=work, args=(Path(tmp) / f"slot{n}",)) for n in range(jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return [results[m.id] for m in mutants if m.id in results]


def write_report(path: Path, results: Sequence[MutantResult], seconds: float, total: int) -> None:
    data = {"seconds": round(seconds, 1), "mutants": total, "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(data, indent=1))


def summary(results: Sequence[MutantResult], seconds: float) -> str:
    applicable = [r for r in results if r.status != "does not apply"]
    caught = [r for r in applicable if r.status == "caught"]
    share = 100.0 * len(caught) / len(applicable) if applicable else 0.0
    lines = [f"caught {len(caught)}/{len(applicable)} ({share:.0f} %) in {seconds / 60:.1f} min wall clock"]
    lines += [f"  does not apply: {r.id}" for r in results if r.status == "does not apply"]
    lines += [f"  survived: {r.id}" for r in results if r.status == "survived"]
    if caught:
        times = sorted(r.seconds for r in caught)
        lines.append(f"  time to catch: median {times[len(times) // 2]:.0f} s, max {times[-1]:.0f} s")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE)
    parser.add_argument("--only", default="", help="comma-separated mutant ids")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (at most 2)")
    parser.add_argument("--swarm-seeds", type=int, default=None, help="the fault suite's swarm size")
    parser.add_argument("--check", action="store_true", help="only say which mutants apply")
    parser.add_argument("--report", type=Path, help="write the results as JSON here")
    args = parser.parse_args(list(argv))
    root = Path.cwd().resolve()
    mutants = load_catalogue(args.catalogue)
    if args.only:
        wanted = set(args.only.split(","))
        mutants = [m for m in mutants if m.id in wanted]
    if args.check:
        stale = [m for m in mutants if m.apply_to((root / m.file).read_text(encoding="utf-8")) is None]
        for m in stale:
            print(f"does not apply: {m.id} ({m.file})")
        print(f"{len(mutants) - len(stale)}/{len(mutants)} mutants apply")
        return 1 if stale else 0
    jobs = max(1, min(args.jobs, 2))
    print(f"{len(mutants)} mutants, {jobs} at once, fault suite with early exit", flush=True)
    started = time.perf_counter()
    results = run_catalogue(mutants, root, jobs=jobs, swarm_seeds=args.swarm_seeds, report=args.report)
    seconds = time.perf_counter() - started
    print(summary(results, seconds))
    if args.report is not None:
        write_report(args.report, results, seconds, len(mutants))
    return 0
