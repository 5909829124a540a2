"""A scenario's expectations, judged against its report.

Without an ``[expect]`` table a scenario expects every checked invariant to hold.
A demonstration of a failure (log-storm-sync) names the invariants it exists to
break in ``invariants_fail``: it passes when exactly the story plays out, those
fail and every other one holds. Latency targets and the success share are checked
the same way, so the capacity targets of the audit read as verdicts too.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from sim.simulator.scenario import Expect, Scenario

if TYPE_CHECKING:
    from sim.simulator.report import Report


def evaluate(report: Report, expect: Expect) -> dict[str, bool]:
    """``name -> met`` for every expectation; the run passes when all are met."""
    verdicts: dict[str, bool] = {}
    for name, held in report.invariants.items():
        if name in expect.invariants_may_fail:
            continue
        if name in expect.invariants_fail:
            verdicts[f"{name} fails"] = not held
        else:
            verdicts[f"{name} holds"] = held
    for operation, limit in expect.p95_max.items():
        measured = report.latency.get(operation)
        p95 = measured.p95 if measured is not None else math.nan
        verdicts[f"p95 {operation} < {limit:g} s"] = measured is not None and p95 < limit
    if expect.success_min > 0:
        verdicts[f"success >= {expect.success_min:.0%}"] = report.success_rate >= expect.success_min
    return verdicts


def with_known_failures_optional(scenario: Scenario) -> Scenario:
    """The scenario with its expected failures allowed, not required. The fault suite
    judges a bot by what breaks: a bug that moves the timing can make a known failure
    vanish, and that is no sign of the bug."""
    expect = scenario.expect
    relaxed = expect.model_copy(
        update={
            "invariants_fail": (),
            "invariants_may_fail": expect.invariants_may_fail + expect.invariants_fail,
        }
    )
    return dataclasses.replace(scenario, expect=relaxed)


def headline_p95(report: Report, operation: str = "user.answer") -> float:
    measured = report.latency.get(operation)
    return measured.p95 if measured is not None else math.nan


def contrast_story(report: Report, contrast: Report, expect: Expect, operation: str = "user.answer") -> str:
    """One sentence that sets this run beside its contrast run (the bug beside the fix)."""
    ours, theirs = headline_p95(report, operation), headline_p95(contrast, operation)
    story = expect.story or f"{report.scenario}"
    label = expect.contrast_label or "in the contrast run"
    blocked = report.details.get("log", {}).get("blocked_s", 0.0)
    extra = f"; the loop was blocked {blocked:.1f} s of {report.virtual_seconds:.0f} s" if blocked else ""
    failed = [name for name, held in report.invariants.items() if not held]
    broke = f"; failed: {', '.join(failed)}" if failed else ""
    held = "all invariants held" if contrast.invariants_ok else "its invariants failed too"
    return f"{story}: p95 {operation} {ours:.2f} s vs {theirs:.2f} s {label} ({held} there){extra}{broke}"
