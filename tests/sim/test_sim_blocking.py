"""Blocking on the event loop is a failed invariant that names its call site.

Each test runs a small bot that blocks in one way, beside the real one, and checks that
``no_blocking_call`` (or ``no_long_step``) fails and says where; and that what the
simulator permits (imports, work offloaded to the CPU runner) is not reported.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
import trio

from bot.app import run_bot
from sim.simulator.invariants import BlockingCallOnLoop, LongStepOnLoop
from sim.simulator.kernel.blocking import BlockingWatch, permitted, watching
from sim.simulator.runner import Report, simulate
from sim.simulator.scenario import parse_scenario

THIS_FILE = os.path.basename(__file__)


def _run(misdeed: Callable[[], Any], **invariants: Any) -> Report:
    """The real bot, plus one task of the bot's that does ``misdeed`` once, early on."""

    async def bot_with_misdeed(*args: Any, task_status: Any = trio.TASK_STATUS_IGNORED, **kw: Any) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: run_bot(*args, task_status=task_status, **kw))
            task_status.started(None)
            await trio.sleep(1.0)
            misdeed()

    data: dict[str, Any] = {
        "scenario": {"name": "blocking", "duration_s": 300},
        "users": {"count": 3},
        "invariants": invariants,
    }
    return simulate(parse_scenario(data, "blocking.toml"), bot_main=bot_with_misdeed).report


def _notes(report: Report) -> str:
    return " ".join(report.details["invariant_notes"])


def test_a_clean_run_blocks_nothing() -> None:
    report = _run(lambda: None)
    assert report.invariants["no_blocking_call"] and report.invariants["no_long_step"]
    assert report.details["blocking"]["calls"] == 0


@pytest.mark.parametrize(
    ("misdeed", "event"),
    [
        (lambda: open(os.devnull, "wb").close(), "open("),
        (lambda: time.sleep(0.001), "time.sleep("),
        (lambda: socket.socket().close(), "socket.__new__("),
        (lambda: os.listdir("."), "os.listdir("),
    ],
    ids=["file", "sleep", "socket", "listdir"],
)
def test_a_blocking_call_fails_the_run_and_names_its_site(misdeed: Callable[[], Any], event: str) -> None:
    report = _run(misdeed)
    assert report.invariants["no_blocking_call"] is False
    notes = _notes(report)
    assert event in notes and f"{THIS_FILE}:" in notes, notes
    with pytest.raises(BlockingCallOnLoop):
        from sim.simulator.invariants import Verdict

        Verdict("no_blocking_call", False, (notes,), BlockingCallOnLoop).raise_if_broken()


def test_a_step_that_burns_cpu_past_the_budget_is_reported() -> None:
    def burn() -> None:
        end = time.thread_time() + 0.05
        while time.thread_time() < end:
            pass

    report = _run(burn, step_budget_s=0.02)
    assert report.invariants["no_long_step"] is False
    assert "ms of CPU in one step" in _notes(report)
    assert issubclass(LongStepOnLoop, AssertionError)


def test_imports_and_offloaded_work_are_permitted() -> None:
    def import_and_offload() -> None:
        sys.modules.pop("colorsys", None)
        importlib.import_module("colorsys")  # the import system reads the module's file
        with permitted():  # what the simulated CPU runner does on a worker's behalf
            open(os.devnull, "rb").close()
            end = time.thread_time() + 0.05
            while time.thread_time() < end:
                pass

    report = _run(import_and_offload, step_budget_s=0.02)
    assert report.invariants["no_blocking_call"], _notes(report)
    assert report.invariants["no_long_step"], _notes(report)


def test_calls_off_the_loop_or_outside_a_run_are_not_findings() -> None:
    watch = BlockingWatch()
    with watching(watch):
        open(os.devnull, "rb").close()  # no trio run: not the simulation's loop
    assert watch.calls_seen == 0
