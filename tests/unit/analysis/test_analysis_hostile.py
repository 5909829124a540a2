"""Hostile files get a clear refusal (or a clear note), never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import column, profile_of

from bot.analysis import CsvLimits, CsvRejected, analyse_csv, rejection_text

DATA = Path(__file__).resolve().parents[2] / "data" / "analysis"
ROOMY = CsvLimits(max_unpack_ratio=10**6)  # these files are packed only to keep the repository small


@pytest.mark.parametrize(
    ("name", "code", "params"),
    [
        ("one_long_line.csv.gz", "line_too_long", {"limit": 1 << 20}),
        ("30k_columns.zip", "too_many_columns", {"columns": 30_000, "limit": 20_000}),
    ],
)
def test_hostile_shapes_are_refused_with_a_reason(name: str, code: str, params: dict[str, int]) -> None:
    refused = analyse_csv((DATA / name).read_bytes(), name, ROOMY)
    assert refused == CsvRejected(code, params)
    assert "{" not in rejection_text(refused, "ru")


def test_stray_nul_bytes_are_dropped_and_noted() -> None:
    profile = profile_of((DATA / "stray_nul.csv").read_bytes())
    assert {n.code: n.params for n in profile.notes}["nul_bytes"] == {"count": 2}
    assert column(profile, "b").invalid == 0
    assert profile.n_rows == 20_011


def test_a_file_full_of_nul_bytes_is_not_text() -> None:
    refused = analyse_csv(b"a,b\n" + b"1,\x00\x00\n" * 100, "x.csv")
    assert isinstance(refused, CsvRejected) and refused.code == "binary"
    assert "управляющих символов" in rejection_text(refused, "ru")
