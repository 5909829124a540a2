"""The mutant catalogue stays measurable: every entry applies to the code as it is, and a
replacement that would not compile never counts as applied (its "catch" would be false)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.simulator.mutants import Mutant, load_catalogue

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = load_catalogue(ROOT / "mutants" / "catalogue.toml")


@pytest.mark.parametrize("mutant", CATALOGUE, ids=[m.id for m in CATALOGUE])
def test_every_mutant_applies_to_the_code_as_it_is(mutant: Mutant) -> None:
    source = (ROOT / mutant.file).read_text(encoding="utf-8")
    assert mutant.apply_to(source) is not None, f"{mutant.id}: its text moved in {mutant.file}"


def test_a_replacement_that_breaks_the_syntax_does_not_apply() -> None:
    source = "def f(x):\n    if x:\n        return 1\n    return 0\n"
    broken = Mutant("broken", "ordering", "f.py", "        return 1\n", "return 1\n", "breaks the block")
    fine = Mutant("fine", "ordering", "f.py", "return 1", "return 2", "a real change")
    assert broken.apply_to(source) is None
    assert fine.apply_to(source) == source.replace("return 1", "return 2")
