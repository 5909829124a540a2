"""``python -m sim <scenario> [--seed N] [--json] [--check-determinism] [--plot F]`` (``just simulate``).

A scenario name resolves to ``scenarios/<name>.toml``; a path is used as given.
``python -m sim capacity [...]`` runs the capacity sweep instead (see sim.simulator.capacity);
``python -m sim swarm --seeds N [--from S]`` runs the swarm (see sim.simulator.swarm);
``python -m sim faults`` the fault suite (sim.simulator.faultsuite); ``python -m sim mutants``
the mutant catalogue against it (sim.simulator.mutants).
Exit status: 0 the scenario's expectations were met (by default: every invariant
held), 1 they were not, 2 bad usage or scenario, 3 the determinism check found two
different traces for one seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.simulator.expect import with_known_failures_optional
from sim.simulator.growth import plot_growth
from sim.simulator.kernel.determinism import hash_seed_pinned, reexec_with_pinned_hash_seed
from sim.simulator.kernel.trace import first_divergence
from sim.simulator.report import plot_report
from sim.simulator.runner import add_contrast, simulate
from sim.simulator.scenario import ScenarioError, load_scenario, resolve_scenario_path

EXIT_OK, EXIT_INVARIANT, EXIT_USAGE, EXIT_NONDETERMINISTIC = 0, 1, 2, 3

_REPO_SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim", description="Replay a scenario in the simulator.")
    parser.add_argument("scenario", help="a name in scenarios/ (without .toml) or a path to a .toml file")
    parser.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    parser.add_argument("--json", action="store_true", help="print the full JSON report")
    parser.add_argument(
        "--check-determinism",
        action="store_true",
        help="run twice with the same seed and report the first divergent trace event",
    )
    parser.add_argument("--plot", metavar="FILE.png", help="also draw the run over virtual time")
    parser.add_argument(
        "--bugs-only",
        action="store_true",
        help="an invariant the scenario expects to fail may hold (the fault suite: a known failure "
        "that does not show is no sign of a broken bot)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if argv is None and not hash_seed_pinned():
        # Set iteration order of str/bytes depends on the hash seed: pin it, in a new process.
        reexec_with_pinned_hash_seed("sim", args_list)
    if args_list[:1] == ["capacity"]:
        from sim.simulator.capacity import main as capacity_main

        return capacity_main(args_list[1:])
    if args_list[:1] == ["swarm"]:
        from sim.simulator.swarm import main as swarm_main

        return swarm_main(args_list[1:])
    if args_list[:1] == ["faults"]:
        from sim.simulator.faultsuite import main as faults_main

        return faults_main(args_list[1:])
    if args_list[:1] == ["mutants"]:
        from sim.simulator.mutants import main as mutants_main

        return mutants_main(args_list[1:])
    args = _parser().parse_args(args_list)
    try:
        path = resolve_scenario_path(args.scenario, (Path.cwd() / "scenarios", _REPO_SCENARIOS))
        scenario = load_scenario(path)
        if args.bugs_only:
            scenario = with_known_failures_optional(scenario)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    first = simulate(scenario, args.seed, keep_trace=args.check_determinism)
    report = first.report
    add_contrast(report, scenario, args.seed)
    status = EXIT_OK if report.ok else EXIT_INVARIANT
    divergence_text = ""
    if args.check_determinism:
        second = simulate(scenario, args.seed, keep_trace=True)
        divergence = first_divergence(first.trace.events, second.trace.events)
        identical = divergence is None and second.report.trace_hash == report.trace_hash
        divergence_text = divergence.describe() if divergence is not None else ""
        report.details["determinism"] = {
            "identical": identical,
            "second_trace_hash": second.report.trace_hash,
            "divergence": divergence_text,
        }
        if not identical:
            status = EXIT_NONDETERMINISTIC

    if args.plot:
        plot_report(report, args.plot)
        growth = report.details.get("growth")
        if growth:  # a [soak] run: its state over time beside it, as <name>-growth.png
            target = Path(args.plot)
            plot_growth(
                growth,
                f"{report.scenario}  seed {report.seed}",
                str(target.with_stem(target.stem + "-growth")),
            )
    if args.json:
        print(report.to_json())
    else:
        print(report.to_text())
        if args.check_determinism:
            verdict = "identical traces" if status != EXIT_NONDETERMINISTIC else "TRACES DIFFER"
            print(f"  determinism: two runs of seed {report.seed}: {verdict}")
            if divergence_text:
                print(divergence_text)
    return status


if __name__ == "__main__":
    sys.exit(main())
