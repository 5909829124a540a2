"""Scenarios of processes that die or are stopped mid-work: they hold now, and fail
with the fix taken out (the part-by-part outbox, the hand-back on SIGTERM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.jobs import JobRunner
from sim.fakes.repository import MemoryRepository
from sim.simulator.runner import run_scenario
from sim.simulator.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _broken(name: str) -> tuple[list[str], list[str]]:
    report = run_scenario(load_scenario(SCENARIOS / f"{name}.toml"))
    return [k for k, held in report.invariants.items() if not held], report.details["invariant_notes"]


def test_a_kill_mid_delivery_repeats_no_part_already_sent() -> None:
    assert _broken("kill-mid-delivery") == ([], [])


def test_without_the_outbox_a_kill_mid_delivery_resends_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    async def forget(self: MemoryRepository, *args: object) -> None:
        return None  # parts are no longer recorded as sent: delivery resumes from the first

    monkeypatch.setattr(MemoryRepository, "mark_parts_sent", forget)
    broken, notes = _broken("kill-mid-delivery")
    assert broken == ["each_part_once", "whole_answer_once"], notes
    assert "6 chat(s) got profile parts again" in notes[0]


def test_a_stopped_worker_jobs_are_resumed_within_seconds() -> None:
    assert _broken("stop-hands-back") == ([], [])


def test_without_the_hand_back_a_stopped_worker_jobs_wait_out_their_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def keep(self: JobRunner, delivery: object) -> None:
        return None  # the job keeps its lease and its stream entry, as before the fix

    monkeypatch.setattr(JobRunner, "_hand_back", keep)
    broken, notes = _broken("stop-hands-back")
    assert broken == ["every_user_answered_within_deadline"], notes
