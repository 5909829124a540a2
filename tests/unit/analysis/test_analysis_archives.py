"""Compressed uploads are unpacked within bounds; a decompression bomb gets a clear refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import column, profile_of

from bot.analysis import CsvLimits, CsvRejected, Profile, analyse_csv, rejection_text, render_profile

DATA = Path(__file__).resolve().parents[2] / "data" / "analysis"


@pytest.mark.parametrize(("name", "format_"), [("sales.csv.gz", "gzip"), ("sales.csv.bz2", "bz2")])
def test_a_compressed_csv_is_profiled(name: str, format_: str) -> None:
    profile = profile_of((DATA / name).read_bytes(), name)
    plain = profile_of((DATA / "concatenated_exports.csv").read_bytes())
    assert profile.n_rows == plain.n_rows == 15
    assert column(profile, "Сумма").total == column(plain, "Сумма").total
    assert {n.code: n.params for n in profile.notes}["archive"] == {"format": format_, "member": ""}


def test_a_zip_names_the_table_it_profiled_and_the_others() -> None:
    profile = profile_of((DATA / "two_tables.zip").read_bytes(), "two_tables.zip")
    assert profile.n_rows == 15
    notes = {n.code: n.params for n in profile.notes}
    assert notes["archive"] == {"format": "zip", "member": "отчёт/продажи.csv"}
    assert notes["archive_others"] == {"count": 1, "names": "остатки.csv"}
    text = "\n".join(render_profile(profile, "ru"))
    assert "Распакован из архива zip: отчёт/продажи.csv" in text
    assert "остатки.csv — пришлите их по одной" in text


@pytest.mark.parametrize(
    ("name", "code", "limits"),
    [
        # The size bound, with the ratio bound out of the way (these bombs trip both).
        ("bomb_size.csv.gz", "unpacked_too_big", CsvLimits(max_unpack_ratio=10**6)),
        ("bomb.zip", "unpacked_too_big", CsvLimits(max_unpack_ratio=10**6)),
        ("bomb_size.csv.gz", "unpack_ratio", CsvLimits()),
        ("bomb_ratio.csv.gz", "unpack_ratio", CsvLimits()),
        ("truncated.csv.gz", "archive_broken", CsvLimits()),
    ],
)
def test_bombs_and_broken_archives_are_refused_clearly(name: str, code: str, limits: CsvLimits) -> None:
    refused = analyse_csv((DATA / name).read_bytes(), name, limits)
    assert isinstance(refused, CsvRejected)
    assert refused.code == code
    for lang in ("ru", "en"):
        assert "{" not in rejection_text(refused, lang)
    if code == "archive_broken":
        assert refused.params == {"format": "gzip"}
        assert "This gzip archive (a compressed file) is damaged" in rejection_text(refused, "en")
    if code == "unpacked_too_big":
        assert "20 МБ" in rejection_text(refused, "ru")


def test_the_ratio_bound_is_a_setting() -> None:
    data = (DATA / "sales.csv.gz").read_bytes()
    assert isinstance(analyse_csv(data, "x.gz"), Profile)
    tight = analyse_csv(data, "x.gz", CsvLimits(max_unpack_ratio=2))
    assert tight == CsvRejected("unpack_ratio", {"limit": 2})
