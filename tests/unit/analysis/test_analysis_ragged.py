"""Rows with too few or too many fields are read as DuckDB's null_padding reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import column, profile_of, rejected_of

from bot.analysis import render_profile

DATA = Path(__file__).resolve().parents[2] / "data" / "analysis"


def test_short_rows_are_padded_and_extra_fields_kept_with_their_line_numbers() -> None:
    profile = profile_of((DATA / "ragged_rows.csv").read_bytes())
    assert profile.n_rows == 20  # nothing dropped
    assert [c.name for c in profile.columns] == ["Дата", "Товар", "Кол-во", "Сумма", "extra_fields"]
    notes = {n.code: n.params for n in profile.notes}
    assert notes["padded_rows"] == {"count": 2, "lines": "5, 10"}
    assert notes["overflow_rows"] == {"count": 1, "lines": "15"}
    assert column(profile, "Кол-во").missing == 1
    assert column(profile, "Сумма").missing == 2
    assert column(profile, "Сумма").total == pytest.approx(
        sum(i * 100 + 0.5 for i in range(1, 21)) - 400.5 - 900.5
    )
    assert column(profile, "extra_fields").top == (("срочно;самовывоз", 1),)
    # The rows stay in the file's order: the dates ascend with no gap.
    assert column(profile, "Дата").distinct == 20
    assert {a.code for a in profile.alerts} == {"correlated"}  # Сумма is 100 × Кол-во: no noise
    text = "\n".join(render_profile(profile, "ru"))
    assert "недостающие считаются пропусками): 2 (строки: 5, 10)" in text


def test_a_file_whose_rows_mostly_disagree_is_refused() -> None:
    refused = rejected_of((DATA / "structure_lost.csv").read_bytes())
    assert refused.code == "unreadable"
    assert refused.params == {"bad_rows": 16, "rows": 20}
