"""The full report as an XLSX workbook: a sheet per part, in the reader's language, no formulas."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from analysis_helpers import profile_of
from openpyxl import load_workbook

from bot.analysis import report_xlsx, report_xlsx_name

DATA = Path(__file__).resolve().parents[2] / "data" / "analysis"


def _sheets(book_bytes: bytes) -> dict[str, list[tuple[object, ...]]]:
    book = load_workbook(io.BytesIO(book_bytes))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def test_one_sheet_per_part_in_the_users_language() -> None:
    profile = profile_of((DATA / "formula_names.csv").read_bytes(), "отчёт.csv")
    ru = _sheets(report_xlsx(profile.to_json(), "ru"))
    names = ["Обзор", "Столбцы", "Предупреждения", "Как прочитан файл", "Корреляции", "Группировки"]
    assert list(ru) == names
    en = _sheets(report_xlsx(profile.to_json(), "en"))
    assert list(en) == ["Overview", "Columns", "Alerts", "Reading notes", "Correlations", "Groupings"]
    overview = dict(ru["Обзор"][1:])
    assert overview["Файл"] == "отчёт.csv" and overview["Строк"] == 40 and overview["Столбцов"] == 6
    columns = ru["Столбцы"]
    assert columns[0][:3] == ("№", "Столбец", "Тип")
    assert [row[1] for row in columns[1:]] == [c.name for c in profile.columns]
    amounts = columns[4]
    assert amounts[2] == "число" and amounts[columns[0].index("Сумма")] == profile.columns[3].total
    assert ("Кодировка: UTF-8",) in ru["Как прочитан файл"]
    (pair,) = ru["Корреляции"][1:]
    assert pair[:2] == ('=HYPERLINK("http://x.test","open")', "+SUM(A1)") and pair[2] >= 0.99
    regions = [row for row in ru["Группировки"][1:] if row[0] == "Регион"]
    assert sum(row[2] for row in regions) == 40
    assert {row[1] for row in regions} == {"Москва", "Казань", "Пермь"}
    assert any("меняются согласованно" in str(row[2]) for row in ru["Предупреждения"][1:])
    assert report_xlsx_name("отчёт.csv") == "отчёт_profile.xlsx"


def test_no_cell_is_ever_a_formula() -> None:
    profile = profile_of((DATA / "formula_names.csv").read_bytes())
    data = report_xlsx(profile.to_json(), "en")
    book = load_workbook(io.BytesIO(data))
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    texts = [c for c in cells if isinstance(c.value, str)]
    risky = [c for c in texts if c.value[:1] in ("=", "+", "-", "@")]
    expected = {'=HYPERLINK("http://x.test","open")', "+SUM(A1)", "@cmd", "-2+3", "=1+1"}
    assert {c.value for c in risky} >= expected
    assert all(c.data_type == "s" for c in risky)
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        sheets = [n for n in package.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(b"<f>" in package.read(n) or b"<f " in package.read(n) for n in sheets)


def test_a_zip_of_tables_shares_the_sheets_with_a_column_naming_the_table() -> None:
    profile = profile_of((DATA / "three_tables.zip").read_bytes(), "выгрузка.zip")
    sheets = _sheets(report_xlsx(profile.to_json(), "en"))
    columns = sheets["Columns"]
    assert columns[0][:3] == ("Table", "#", "Column")
    expected = [*["выгрузка.zip"] * 4, *["02_остатки.csv"] * 3, *["03_цены.csv"] * 3]
    assert [row[0] for row in columns[1:]] == expected
    assert "Groupings" in sheets
