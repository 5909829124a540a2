"""The fault suite (``just faults``): everything on the simulated path that can fail a broken bot.

One list of checks, each a command run in its own process from the checkout's root:

- the property-based fault tests (``tests/property``), the flow tests on the simulated
  world (``tests/flows``), the unit tests of the fault-handling parts (deadlines and
  retries, the send limiter, the poller, update claims, on virtual time) and the
  simulator's own tests that run the bot (``tests/sim``, without the determinism replays
  of the shipped scenarios, which run below once);
- a bounded swarm (``--swarm-seeds``, in chunks, so a failure ends a chunk early);
- every shipped scenario and every regression scenario at its default seed.

``--jobs`` checks run at once (at most the machine's cores); ``--exitfirst`` stops at the
first failing check (what ``just mutants`` wants: the first check that catches a
broken bot, and how long it took). ``--json FILE`` writes the per-check results.
The order puts cheap checks that cover much first, so a broken bot is caught early.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_SWARM_SEEDS = 200
# Seeds the bot as shipped fails, left out until it is fixed (each kept in
# scenarios/regressions/ once it is).
KNOWN_FAILING_SEEDS: tuple[int, ...] = ()
SWARM_CHUNK = 25
# Scenarios run right after the first swarm chunk: cheap (1-4 s of CPU each), and each
# keeps a promise that nothing else tests as directly.
QUICK_SCENARIOS = (
    *("smoke", "restart-mid-job", "worker-crash", "telegram-refuses-replies", "failure-notice-waits"),
    *("db-outage-outlasts-job", "db-back-takeover-waits", "long-attempt-keeps-lease", "worker-backlog"),
    *("telegram-poll-hangs", "telegram-sends-hang", "restart-while-uploads-held"),
)
# tests/sim files whose tests run the bot (or judge its runs); the scenario replays of
# test_sim_scenarios.py are left out, every shipped scenario runs below once instead.
SIM_TESTS = (
    "tests/sim/test_sim_end_to_end.py",
    "tests/sim/test_sim_invariants.py",
    "tests/sim/test_sim_telegram_limits.py",
    "tests/sim/test_sim_faults.py",
    "tests/sim/test_sim_parts.py",
    "tests/sim/test_sim_workload.py",
    "tests/sim/test_sim_blocking.py",
    "tests/sim/test_sim_calls_cut.py",
    "tests/sim/test_sim_work_limits.py",
)

# tests/unit files that test one fault-handling part of the bot on virtual time: a
# retry policy or a limiter broken in a way the whole bot's other defences hide (a 429
# not retried is answered again later anyway) still fails here.
FAULT_UNIT_TESTS = (
    "tests/unit/test_guard.py",
    "tests/unit/test_retry.py",
    "tests/unit/test_ratelimit.py",
    "tests/unit/test_send_lanes.py",
    "tests/unit/test_update_poller.py",
    "tests/unit/test_duplicate_updates.py",
    "tests/unit/test_claim_batcher.py",
    "tests/unit/test_sweep.py",
    "tests/unit/test_reconciler.py",
    "tests/unit/test_job_takeover.py",
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    argv: tuple[str, ...]


@dataclass(slots=True)
class Outcome:
    name: str
    status: str  # "passed", "failed", "skipped" (not run: an earlier check failed)
    seconds: float = 0.0
    started_s: float = 0.0  # since the suite began
    tail: str = ""  # the end of a failed check's output


@dataclass(slots=True)
class SuiteResult:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # user + system time of every check's process

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def _pytest(*paths: str) -> tuple[str, ...]:
    # Tests that need a real Postgres or Redis are not on the simulated path: without the
    # services (the suite points DATABASE_URL and REDIS_URL nowhere) they would fail on any bot.
    pytest = (sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--no-header")
    return (*pytest, "-m", "not services", *paths)


def _scenario(path: Path, root: Path) -> Check:
    rel = path.relative_to(root)
    return Check(f"scenario {rel.with_suffix('')}", (sys.executable, "-m", "sim", str(rel), "--bugs-only"))


def checks(root: Path, swarm_seeds: int) -> list[Check]:
    """The suite, cheapest-per-catch first."""
    swarm = []
    # A short first chunk: most broken bots fail within the first few seeds.
    starts = [1, 11, *range(11 + SWARM_CHUNK, swarm_seeds + 1, SWARM_CHUNK)]
    for first, after in zip(starts, [*starts[1:], swarm_seeds + 1], strict=True):
        if first > swarm_seeds:
            break
        count = min(after, swarm_seeds + 1) - first
        skip = ",".join(str(seed) for seed in KNOWN_FAILING_SEEDS)
        argv: tuple[str, ...] = ("-m", "sim", "swarm", "--exitfirst", "--from", str(first))
        argv += ("--seeds", str(count), "--skip", skip)
        swarm.append(Check(f"swarm seeds {first}-{first + count - 1}", (sys.executable, *argv)))
    shipped = sorted((root / "scenarios").glob("*.toml"))
    regressions = sorted((root / "scenarios" / "regressions").glob("*.toml"))
    by_name = {p.stem: p for p in shipped}
    quick = [by_name.pop(n) for n in QUICK_SCENARIOS if n in by_name]
    sim_tests = tuple(t for t in SIM_TESTS if (root / t).exists())
    suite: list[Check] = [*swarm[:1], *(_scenario(p, root) for p in quick)]
    unit_tests = tuple(t for t in FAULT_UNIT_TESTS if (root / t).exists())
    suite += [Check("tests/unit (fault handling)", _pytest(*unit_tests))]
    suite += [Check(t, _pytest(t)) for t in ("tests/property", "tests/flows")]
    suite += [*swarm[1:2], Check("tests/sim", _pytest(*sim_tests))]
    suite += [_scenario(p, root) for p in [*regressions, *by_name.values()]]
    suite += swarm[2:]
    return suite


def _environment(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root / "src"), env.get("PYTHONPATH", "")) if p)
    env["PYTHONHASHSEED"] = "0"
    # The simulated path needs no services; the tests' conftest would otherwise start
    # embedded Postgres and Redis for every pytest process.
    env.setdefault("DATABASE_URL", "postgresql://unused@127.0.0.1:1/unused")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")
    return env


def run_suite(
    root: Path, suite: Sequence[Check], *, jobs: int, exitfirst: bool, echo: bool = True
) -> SuiteResult:
    env = _environment(root)
    result = SuiteResult([Outcome(c.name, "skipped") for c in suite])
    lock = threading.Lock()
    running: dict[int, subprocess.Popen[bytes]] = {}
    pending = list(range(len(suite)))
    stop = threading.Event()
    began = time.perf_counter()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)

    def work() -> None:
        while True:
            with lock:
                if stop.is_set() or not pending:
                    return
                index = pending.pop(0)
                check = suite[index]
                start = time.perf_counter()
                proc = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                    check.argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                )
                running[index] = proc
            out, _ = proc.communicate()
            seconds = time.perf_counter() - start
            with lock:
                running.pop(index, None)
                outcome = result.outcomes[index]
                outcome.seconds, outcome.started_s = round(seconds, 2), round(start - began, 2)
                if stop.is_set() and proc.returncode != 0:
                    continue  # killed by the early exit: stays "skipped"
                outcome.status = "passed" if proc.returncode == 0 else "failed"
                if outcome.status == "failed":
                    outcome.tail = out.decode(errors="replace")[-3000:]
                if echo:
                    print(f"  {outcome.status:7} {seconds:7.1f} s  {check.name}", flush=True)
                    if outcome.status == "failed":
                        print("    " + "\n    ".join(outcome.tail.splitlines()[-25:]), flush=True)
                if outcome.status == "failed" and exitfirst:
                    stop.set()
                    for other in running.values():
                        other.kill()  # our own children, by handle

    threads = [threading.Thread(target=work) for _ in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = round(time.perf_counter() - began, 2)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    result.cpu_seconds = round(used, 1)
    return result


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="checks run at once")
    parser.add_argument("--exitfirst", "-x", action="store_true", help="stop at the first failing check")
    parser.add_argument("--swarm-seeds", type=int, default=DEFAULT_SWARM_SEEDS, help="bounded swarm size")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the checkout to test")
    parser.add_argument("--json", dest="json_out", type=Path, help="write the per-check results here")
    parser.add_argument("--list", action="store_true", help="print the checks and exit")
    args = parser.parse_args(list(argv))
    root = args.root.resolve()
    suite = checks(root, args.swarm_seeds)
    if args.list:
        for check in suite:
            print(f"{check.name}: {' '.join(check.argv[1:])}")
        return 0
    print(f"fault suite: {len(suite)} checks, {args.jobs} at once, in {root}", flush=True)
    result = run_suite(root, suite, jobs=min(args.jobs, os.cpu_count() or 1), exitfirst=args.exitfirst)
    passed = sum(1 for o in result.outcomes if o.status == "passed")
    print(
        f"{passed}/{len(suite)} checks passed in {result.seconds:.0f} s wall clock, "
        f"{result.cpu_seconds:.0f} s of CPU"
    )
    if args.json_out is not None:
        data = {
            "seconds": result.seconds,
            "cpu_seconds": result.cpu_seconds,
            "outcomes": [asdict(o) for o in result.outcomes],
        }
        args.json_out.write_text(json.dumps(data, indent=1))
    return 1 if result.failed else 0
