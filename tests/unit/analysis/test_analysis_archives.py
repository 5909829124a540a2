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


def test_a_zip_of_two_tables_profiles_each_with_its_member_name() -> None:
    profile = profile_of((DATA / "two_tables.zip").read_bytes(), "two_tables.zip")
    assert profile.n_rows == 15
    notes = {n.code: n.params for n in profile.notes}
    assert notes["archive"] == {"format": "zip", "member": "отчёт/продажи.csv"}
    assert notes["archive_parts"] == {"count": 2}
    assert "archive_others" not in notes
    (stock,) = profile.parts
    assert stock.file_name == "остатки.csv"
    assert {n.code: n.params for n in stock.notes}["archive"] == {"format": "zip", "member": "остатки.csv"}
    text = "\n".join(render_profile(profile, "ru"))
    assert "Распакован из архива zip: отчёт/продажи.csv" in text
    assert "В архиве таблиц: 2 — у каждой свой профиль, в порядке архива" in text
    assert text.index("отчёт/продажи.csv") < text.index("📊 <b>остатки.csv</b>")


def test_a_zip_of_several_tables_profiles_each_in_order_and_names_what_it_could_not_read() -> None:
    profile = profile_of((DATA / "three_tables.zip").read_bytes(), "выгрузка.zip")
    tables = [profile, *profile.parts]
    assert [p.file_name for p in tables] == ["выгрузка.zip", "02_остатки.csv", "03_цены.csv"]
    assert [(p.n_rows, p.n_columns) for p in tables] == [(15, 4), (5, 3), (3, 3)]
    assert profile.parts[0].encoding == "cp1251" and profile.parts[0].delimiter == ";"
    assert column(profile.parts[1], "price").total == 117.65
    notes = {n.code: n.params for n in profile.notes}
    assert notes["archive"]["member"] == "01_продажи.csv"
    assert notes["archive_parts"] == {"count": 3}
    assert notes["archive_unread"] == {"count": 1, "names": "пусто.csv"}  # the pdf is not a table's name
    messages = render_profile(profile, "en")
    starts = [i for i, m in enumerate(messages) if m.startswith("📊")]
    assert len(starts) == 3 and messages[starts[1]].startswith("📊 <b>02_остатки.csv</b>")
    again = Profile.from_json(profile.to_json())
    assert again == profile and again.parts[1].columns == profile.parts[1].columns


def test_the_bounds_of_a_zip_apply_to_its_tables_together() -> None:
    data = (DATA / "bomb_in_total.zip").read_bytes()
    limits = CsvLimits(max_bytes=1_000_000, max_unpack_ratio=10**6)  # each table alone is 0.4 MB
    refused = analyse_csv(data, "parts.zip", limits)
    assert isinstance(refused, CsvRejected)
    assert refused.code == "unpacked_too_big"
    roomy = CsvLimits(max_bytes=2_000_000, max_unpack_ratio=10**6)
    assert isinstance(analyse_csv(data, "parts.zip", roomy), Profile)


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
