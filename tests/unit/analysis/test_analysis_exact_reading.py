"""Inputs that used to give a silently wrong number, each from an example file in tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import column, profile_of

from bot.analysis import render_profile
from bot.analysis.model import Profile

DATA = Path(__file__).resolve().parents[2] / "data" / "analysis"


def _read(name: str) -> Profile:
    return profile_of((DATA / name).read_bytes(), name)


def _notes(profile: Profile) -> dict[str, dict[str, int | float | str]]:
    return {n.code: n.params for n in profile.notes}


def _text(profile: Profile, lang: str = "ru") -> str:
    return "\n".join(render_profile(profile, lang))


def test_space_delimited_file_is_not_merged_into_grouped_numbers() -> None:
    profile = _read("space_delimited.txt")
    assert profile.delimiter == " "
    assert [c.name for c in profile.columns] == ["store", "qty", "price"]
    assert profile.n_rows == 12
    assert column(profile, "qty").minimum >= 100  # "5 162 60" is 5, 162 and 60, never 516260
    assert column(profile, "store").maximum <= 9
    # "2 140 500" also reads as one grouped number: the profile says which reading it took.
    assert "space_ambiguous" in _notes(profile)


def test_space_grouped_amounts_in_one_column_stay_numbers() -> None:
    profile = _read("space_grouped_amounts.csv")
    assert profile.n_columns == 1
    amount = column(profile, "Сумма")
    assert amount.type == "integer"
    assert amount.total == 5_162_600 + 1_234 + 17 + 12_000_000 + 950


def test_groups_of_other_than_three_digits_are_not_a_number() -> None:
    profile = _read("space_groups_broken.csv")
    amount = column(profile, "Сумма")
    assert amount.invalid == 1
    assert amount.invalid_example == "5 162 60"
    assert amount.total == sum((1 + i) * 1000 + 234 + i * 11 for i in range(9))


def test_repeated_header_lines_are_dropped_and_counted() -> None:
    profile = _read("concatenated_exports.csv")
    assert profile.n_rows == 15
    assert _notes(profile)["repeated_headers"] == {"count": 2}
    assert column(profile, "Дата").type == "date"
    assert column(profile, "Количество").type == "integer"
    assert all(c.invalid == 0 for c in profile.columns)
    assert not profile.alerts
    assert "Повторы строки заголовков внутри данных не учитывались: 2" in _text(profile)


def test_metadata_lines_and_blank_lines_above_the_header_are_reported_exactly() -> None:
    profile = _read("preamble_1c.csv")
    assert [c.name for c in profile.columns] == ["Номер документа", "Дата", "Контрагент", "Сумма"]
    assert profile.n_rows == 8
    assert _notes(profile)["header"] == {"line": 6}
    assert _notes(profile)["skipped_lines"] == {"count": 5, "lines": "1–5"}
    assert profile.preamble_lines == 5
    assert "Пропущены строки над таблицей (заголовок отчёта, комментарии, пустые): 1–5" in _text(profile)


def test_quoted_column_names_lose_their_quotes() -> None:
    profile = _read("quoted_header_spaces.csv")
    assert [c.name for c in profile.columns] == ["Name", "City", "Amount"]
    assert column(profile, "Amount").total == pytest.approx(37.75)


def test_money_keeps_its_kopecks_the_same_way_on_every_line() -> None:
    profile = _read("money_precision.csv")
    amount = column(profile, "Сумма")
    assert amount.decimals == 2
    text = _text(profile)
    assert "мин 70\u202f905,68 · макс 2\u202f443\u202f460,05" in text
    assert "квартили 100\u202f000,00 – 183\u202f200,00 · сумма 2\u202f912\u202f566,23" in text
    assert "2,443,460.05" in _text(profile, "en")


def test_prices_written_with_two_places_show_two() -> None:
    profile = _read("missing_and_errors.csv")
    assert column(profile, "Цена").decimals == 2
    assert "мин 75,00 · макс 250,00" in _text(profile)


def test_years_ids_and_codes_are_not_amounts() -> None:
    profile = _read("years_codes.csv")
    year = column(profile, "Год")
    assert (year.type, year.total, year.mean) == ("year", None, None)
    for name in ("Номер документа", "ИНН"):
        assert (column(profile, name).type, column(profile, name).total) == ("id", None)
    text = _text(profile)
    assert "годы 2007 – 2012" in text
    assert "2\u202f007" not in text and "7\u202f707" not in text
    assert not any(a.code == "high_cardinality" for a in profile.alerts)
    assert column(profile, "Сумма").total == pytest.approx(sum(1000 + i * 250 + i / 100 for i in range(12)))


def test_yyyymmdd_integers_are_dates() -> None:
    profile = _read("years_codes.csv")
    dates = column(profile, "Дата операции")
    assert (dates.type, dates.total) == ("date", None)
    assert (dates.date_min, dates.date_max) == ("2024-01-01T00:00:00", "2024-01-23T00:00:00")


@pytest.mark.parametrize(
    ("name", "type_", "first", "last"),
    [
        ("ru_full", "date", "2024-01-05", "2024-12-16"),
        ("ru_abbr", "date", "2024-01-24", "2024-12-13"),
        ("en_dmy", "date", "1995-01-01", "1995-12-12"),
        ("en_mdy", "date", "1995-01-01", "1995-12-12"),
        ("quarter_en", "quarter", "2020-01-01", "2022-10-01"),
        ("quarter_compact", "quarter", "1974-01-01", "1976-10-01"),
        ("quarter_ru", "quarter", "2021-01-01", "2023-10-01"),
        ("yyyymmdd", "date", "1999-01-01", "1999-12-01"),
    ],
)
def test_dates_with_month_names_and_quarters(name: str, type_: str, first: str, last: str) -> None:
    dates = column(_read("month_names_quarters.csv"), name)
    assert (dates.type, dates.kind, dates.invalid) == (type_, "datetime", 0)
    assert (dates.date_min, dates.date_max) == (f"{first}T00:00:00", f"{last}T00:00:00")


def test_quarters_read_as_quarters() -> None:
    profile = _read("month_names_quarters.csv")
    assert "с I кв. 2021 по IV кв. 2023" in _text(profile)
    assert "from 2021 Q1 to 2023 Q4" in _text(profile, "en")
    assert not any(a.code == "high_cardinality" for a in profile.alerts)


def test_missing_value_tokens_are_missing_and_excel_errors_are_errors() -> None:
    profile = _read("missing_and_errors.csv")
    price, stock, markup = (column(profile, n) for n in ("Цена", "Остаток", "Наценка"))
    assert (price.type, price.missing, price.invalid) == ("float", 3, 0)
    assert (stock.type, stock.missing, stock.invalid) == ("integer", 3, 0)
    assert (markup.errors, markup.error_example, markup.invalid) == (4, "#ДЕЛ/0!", 0)
    codes = [(a.code, a.column) for a in profile.alerts]
    assert codes == [("excel_errors", markup.index)]
    assert "ошибок Excel в исходных данных: 4 (например, #ДЕЛ/0!)" in _text(profile)


def test_a_tiny_file_gets_no_share_alerts() -> None:
    profile = _read("tiny.csv")
    assert profile.n_rows == 2
    assert profile.alerts == ()


def test_prices_with_one_written_place_show_kopecks_on_every_line() -> None:
    profile = _read("marketplace_utf16.tsv.csv")
    text = _text(profile)
    assert "мин 99,90 · макс 138,90" in text
    assert "среднее 119,40 · медиана 119,40" in text
    assert "квартили 109,65 – 129,15 · сумма 4\u202f776,00" in text
