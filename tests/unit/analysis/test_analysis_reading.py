"""Messy files people send: each is read with the right encoding, delimiter, types and figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import column, profile_of

DATA = Path(__file__).resolve().parents[2] / "data" / "analysis"


def test_cp1251_semicolon_decimal_comma_thousands_title_lines_and_totals_row() -> None:
    profile = profile_of((DATA / "bank_statement_cp1251.csv").read_bytes())
    assert profile.encoding == "cp1251"
    assert profile.delimiter == ";"
    assert profile.decimal == ","
    assert profile.header is True
    assert profile.preamble_lines == 3  # two title lines and a blank one
    assert profile.totals_row_removed is True
    assert (profile.n_rows, profile.n_columns) == (4, 5)
    amount = column(profile, "Сумма")
    assert amount.type == "float"
    assert amount.total == pytest.approx(12689.06)
    assert amount.minimum == pytest.approx(-500.0)
    assert amount.maximum == pytest.approx(12000.0)
    assert column(profile, "Дата").type == "date"
    assert column(profile, "Дата").date_min == "2024-03-01T00:00:00"
    assert column(profile, "Дата").date_max == "2024-03-20T00:00:00"
    # A quoted field holding the delimiter stays one value.
    purpose = column(profile, "Назначение платежа")
    assert ("Оплата по счёту №15; НДС не облагается", 1) in purpose.top
    assert column(profile, "Контрагент").top[0] == ('ООО "Ромашка"', 2)


def test_utf16_with_bom_and_tabs() -> None:
    profile = profile_of((DATA / "marketplace_utf16.tsv.csv").read_bytes())
    assert profile.encoding == "utf-16"
    assert profile.delimiter == "\t"
    assert profile.n_rows == 40
    assert column(profile, "sold_at").type == "datetime"
    assert column(profile, "qty").type == "integer"
    assert column(profile, "qty").total == 120
    assert column(profile, "price").mean == pytest.approx(119.4)
    assert column(profile, "name").distinct == 4


def test_utf16_without_bom() -> None:
    data = "a;b\n1;x\n2;y\n".encode("utf-16-le")
    profile = profile_of(data)
    assert profile.encoding == "utf-16"
    assert profile.n_rows == 2
    assert column(profile, "a").total == 3


def test_utf8_with_bom_does_not_leak_into_first_name() -> None:
    data = "\ufeffid,город\n1,Казань\n2,Пермь\n".encode()
    profile = profile_of(data)
    assert profile.encoding == "utf-8-sig"
    assert [c.name for c in profile.columns] == ["id", "город"]


def test_plain_utf8_comma_with_dot_decimals() -> None:
    profile = profile_of(b"x,y\n1.5,a\n2.5,b\n3.5,c\n")
    assert (profile.encoding, profile.delimiter, profile.decimal) == ("utf-8", ",", ".")
    assert column(profile, "x").mean == pytest.approx(2.5)
    assert column(profile, "x").median == pytest.approx(2.5)


def test_pipe_delimiter() -> None:
    profile = profile_of(b"id|name|amount\n1|a|10\n2|b|20\n3|c|30\n")
    assert profile.delimiter == "|"
    assert column(profile, "amount").total == 60


def test_no_header_gets_numbered_columns() -> None:
    profile = profile_of("01.02.2024;100;Москва\n02.02.2024;200;Казань\n03.02.2024;300;Москва\n".encode())
    assert profile.header is False
    assert profile.n_rows == 3
    assert [c.name for c in profile.columns] == ["column_1", "column_2", "column_3"]
    assert profile.columns[0].type == "date"
    assert profile.columns[1].total == 600


def test_dates_day_first_and_iso_with_times() -> None:
    data = (
        b"d1,d2,d3\n"
        b"31.12.2023,2024-01-02T10:00:00,05.01.2024 14:30\n"
        b"01.01.2024,2024-01-03T11:30:00.250Z,06.01.2024 09:05\n"
        b"15.01.2024,2024-01-04 12:00:00,07.01.2024 23:59\n"
    )
    profile = profile_of(data)
    d1, d2, d3 = profile.columns
    assert (d1.type, d1.date_min, d1.date_max) == ("date", "2023-12-31T00:00:00", "2024-01-15T00:00:00")
    assert (d2.type, d2.date_max) == ("datetime", "2024-01-04T12:00:00")
    assert (d3.type, d3.date_max) == ("datetime", "2024-01-07T23:59:00")


def test_month_first_when_days_exceed_twelve() -> None:
    profile = profile_of(b"when,v\n12/31/2023,1\n01/15/2024,2\n02/20/2024,3\n")
    when = profile.columns[0]
    assert when.type == "date"
    assert when.date_min == "2023-12-31T00:00:00"


def test_english_thousands_separators_in_quotes() -> None:
    profile = profile_of(b'item,amount\na,"1,234.50"\nb,"2,000.00"\nc,"10.25"\n')
    assert profile.decimal == "."
    assert column(profile, "amount").total == pytest.approx(3244.75)


def test_decimal_comma_with_no_break_spaces_and_currency() -> None:
    data = "товар;цена\nA;1\u00a0234,50 ₽\nB;99,90 ₽\nC;2\u202f000 ₽\n".encode()
    profile = profile_of(data)
    assert column(profile, "цена").total == pytest.approx(3334.4)


def test_quoted_fields_with_newlines_and_doubled_quotes() -> None:
    data = b'id,comment,v\n1,"line one\nline two",10\n2,"say ""hi"", ok",20\n3,plain,30\n'
    profile = profile_of(data)
    assert profile.n_rows == 3
    assert column(profile, "v").total == 60
    tops = {v for v, _ in column(profile, "comment").top}
    assert "line one\nline two" in tops
    assert 'say "hi", ok' in tops


def test_quoted_newline_inside_the_header() -> None:
    profile = profile_of(b'"first\nname",age\nann,30\nbob,40\n')
    assert [c.name for c in profile.columns] == ["first name", "age"]  # one line, for buttons
    assert profile.n_rows == 2


def test_trailing_delimiter_column_is_dropped() -> None:
    profile = profile_of(b"a;b;\n1;2;\n3;4;\n")
    assert [c.name for c in profile.columns] == ["a", "b"]


def test_excel_sep_line() -> None:
    profile = profile_of(b"sep=,\na,b\n1;2,3\n4;5,6\n")
    assert profile.delimiter == ","
    assert [c.name for c in profile.columns] == ["a", "b"]
    assert column(profile, "b").total == 9


def test_missing_markers_and_mixed_values() -> None:
    rows = ["name,score"] + [f"n{i},{i}" for i in range(1, 20)] + ["x,-", "y,", "z,n/a", "w,oops"]
    profile = profile_of("\n".join(rows).encode())
    score = column(profile, "score")
    assert score.type == "integer"
    assert score.count == 19
    assert score.missing == 4
    assert score.invalid == 1
    assert score.invalid_example == "oops"
    assert any(a.code == "mixed_types" and a.params["example"] == "oops" for a in profile.alerts)


def test_leading_zero_codes_stay_text() -> None:
    profile = profile_of(b"inn,v\n0012345678,1\n0098765432,2\n7701234567,3\n")
    assert column(profile, "inn").kind in ("category", "text")


def test_cp1251_text_is_not_mistaken_for_koi8() -> None:
    data = "Город;Выручка\nМосква;100\nСанкт-Петербург;200\nЕкатеринбург;300\n".encode("cp1251")
    profile = profile_of(data)
    assert profile.encoding == "cp1251"
    assert column(profile, "Город").top[0][0] in {"Москва", "Санкт-Петербург", "Екатеринбург"}


def test_koi8r_is_recognised() -> None:
    data = "город;сумма\nмосква;1\nказань;2\nпермь;3\n".encode("koi8-r")
    profile = profile_of(data)
    assert profile.encoding == "koi8-r"
    assert column(profile, "город").distinct == 3


def test_old_mac_line_endings() -> None:
    profile = profile_of(b"a;b\r1;2\r3;4\r")
    assert (profile.n_rows, profile.n_columns) == (2, 2)
    assert column(profile, "b").total == 6


def test_western_accents_are_not_read_as_cyrillic() -> None:
    profile = profile_of("name,city\nJosé,Málaga\nZoë,Köln\n".encode("latin-1"))
    assert profile.encoding != "cp1251"
    assert {v for v, _ in column(profile, "city").top} == {"Málaga", "Köln"}


def test_hostile_inputs_end_in_an_answer() -> None:
    from bot.analysis import CsvRejected, analyse_csv

    for data in (b"a," * 5_000_000, b'"' * 100_000, ("привет мир " * 100_000).encode(), b";;;\n;;;\n"):
        result = analyse_csv(data, "x.csv")
        assert isinstance(result, CsvRejected)
        assert len(str(result.params)) < 200  # no file content echoed back at length
