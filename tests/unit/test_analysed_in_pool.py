"""The CPU pool hands back a readable file's messages already rendered; they must be the
very messages the loop would render from the stored profile (a resumed job renders them
there), and the whole outcome must cross a process boundary."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from bot import analysis
from bot.jobs import Analysed, analyse_and_serialise

DATA = Path(__file__).resolve().parents[1] / "data" / "analysis"
FILES = ["bank_statement_cp1251.csv", "three_tables.zip", "wide_300_columns.csv"]


@pytest.mark.parametrize("name", FILES)
def test_messages_made_in_the_pool_are_those_rendered_from_the_stored_profile(name: str) -> None:
    outcome = analyse_and_serialise((DATA / name).read_bytes(), name)
    assert isinstance(outcome, Analysed)
    stored = Analysed(analysis.Profile.from_json(outcome.payload), outcome.payload, {})
    for lang in ("ru", "en", "ru-RU", "de", ""):
        assert outcome.messages_in(lang) == stored.messages_in(lang)
        assert outcome.messages_in(lang) == analysis.render_profile(outcome.profile, lang)
    assert outcome.messages_in("ru") != outcome.messages_in("en")


def test_the_outcome_crosses_a_process_boundary() -> None:
    name = "marketplace_alerts.csv"
    outcome = analyse_and_serialise((DATA / name).read_bytes(), name)
    copy = pickle.loads(pickle.dumps(outcome))
    assert isinstance(copy, Analysed)
    assert copy.payload == outcome.payload
    assert copy.messages_in("en") == outcome.messages_in("en")
