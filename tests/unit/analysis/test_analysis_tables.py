"""Interactive answers: group-by, top-N, correlations, charts and their exports."""

from __future__ import annotations

import csv
import io
import pickle

import pytest
from openpyxl import load_workbook

from bot.analysis import (
    MESSAGE_LIMIT,
    AnalysisError,
    TableResult,
    chart_correlations,
    chart_histogram,
    chart_timeseries,
    correlations,
    group_by,
    load_frame,
    rejection_text,
    render_table,
    top_n,
)

SALES = (
    "Дата;Город;Сумма;Кол-во\n"
    "01.01.2024;Москва;1 000,50;2\n"
    "15.01.2024;Казань;200;4\n"
    "03.02.2024;Москва;300;6\n"
    '20.02.2024;Пермь;=HYPERLINK("x");8\n'
    "05.03.2024;Казань;50,25;10\n"
    "06.03.2024;Пермь;100;1\n"
    "07.03.2024;Москва;10;1\n"
    "08.03.2024;Казань;20;1\n"
    "09.03.2024;Пермь;30;1\n"
    "10.03.2024;Москва;40;1\n"
    "11.03.2024;Казань;50;1\n"
    "Итого;;1 800,75;36\n"
).encode("cp1251")
PNG = b"\x89PNG\r\n\x1a\n"


def test_load_frame_types_and_names() -> None:
    frame = load_frame(SALES, "sales.csv")
    assert list(frame.columns) == ["Дата", "Город", "Сумма", "Кол-во"]
    assert len(frame) == 11  # totals row left out
    assert str(frame["Дата"].dtype).startswith("datetime64")
    assert frame["Кол-во"].dtype == "int64"
    assert frame["Сумма"].sum() == pytest.approx(1800.75)
    assert frame["Сумма"].isna().sum() == 1  # the formula-looking cell is not a number


def test_load_frame_refusal_is_an_analysis_error_with_a_text() -> None:
    with pytest.raises(AnalysisError) as caught:
        load_frame(b"", "empty.csv")
    assert caught.value.code == "empty"
    assert "empty" in rejection_text(caught.value.rejected, "en")
    assert pickle.loads(pickle.dumps(caught.value)).code == "empty"


def test_group_by_sum_and_count() -> None:
    result = group_by(SALES, "sales.csv", by=1, value=2, agg="sum")
    assert result.columns == ("Город", "sum(Сумма)")
    assert result.rows == (("Москва", 1350.5), ("Казань", 320.25), ("Пермь", 130.0))
    counted = group_by(SALES, "sales.csv", by=0, value=None, agg="count")
    assert counted.rows == (("2024-01", 2), ("2024-02", 2), ("2024-03", 7))
    mean = group_by(SALES, "sales.csv", by=1, value=3, agg="mean")
    assert dict(mean.rows) == pytest.approx({"Москва": 2.5, "Казань": 4.0, "Пермь": 10 / 3})


def test_group_by_refuses_a_bad_column() -> None:
    with pytest.raises(AnalysisError) as caught:
        group_by(SALES, "sales.csv", by=9, value=2, agg="sum")
    assert caught.value.code == "bad_column"
    with pytest.raises(AnalysisError):
        group_by(SALES, "sales.csv", by=2, value=1, agg="sum")  # text is not summed


def test_top_n_values_and_rows() -> None:
    values = top_n(SALES, "sales.csv", column=1, n=2)
    assert values.kind == "top_values"
    assert set(values.rows) == {("Москва", 4, 0.3636), ("Казань", 4, 0.3636)}
    rows = top_n(SALES, "sales.csv", column=3, n=2)
    assert rows.kind == "top_rows"
    assert [row[3] for row in rows.rows] == [10, 8]


def test_correlations() -> None:
    data = "x,y,z,t\n" + "".join(f"{i},{2 * i + 1},{(-1) ** i},a\n" for i in range(20))
    result = correlations(data.encode(), "c.csv")
    assert result.rows[0] == ("x", "y", 1.0, 20)
    assert {(a, b) for a, b, _, _ in result.rows} == {("x", "y"), ("x", "z"), ("y", "z")}


def test_csv_export_neutralises_formulas_and_opens_in_excel() -> None:
    result = TableResult(
        kind="top_values",
        columns=("=name", "count"),
        rows=(('=HYPERLINK("http://evil")', 1), ("+1+2", 2), ("-3", -3), ("@SUM(A1)", 4), ("ok", 5.5)),
        total_rows=5,
    )
    raw = result.to_csv_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["'=name", "count"]
    assert [r[0] for r in rows[1:]] == ['\'=HYPERLINK("http://evil")', "'+1+2", "-3", "'@SUM(A1)", "ok"]
    assert rows[3][1] == "-3"  # numbers stay numbers


def test_xlsx_export_never_holds_formulas() -> None:
    result = TableResult("top_values", ("a", "b"), (("=1+1", 2.5), (None, -1)), 2)
    sheet = load_workbook(io.BytesIO(result.to_xlsx_bytes())).active
    cells = [(c.value, c.data_type) for row in sheet.iter_rows() for c in row]
    assert cells == [("a", "s"), ("b", "s"), ("=1+1", "s"), (2.5, "n"), (None, "n"), (-1, "n")]


def test_group_by_result_exports_safely() -> None:
    result = group_by(SALES, "sales.csv", by=2, value=None, agg="count")
    text = result.to_csv_bytes().decode("utf-8-sig")
    assert "\n'=HYPERLINK" not in text  # the bad cell counted as missing, not echoed as a formula
    assert "Сумма" in text


def test_render_table_fits_and_escapes() -> None:
    rows = tuple((f"<b>name {i}</b>", i * 1000.5) for i in range(500))
    result = TableResult("group_by", ("<i>", "sum(x)"), rows, 500, {"by": "<i>", "value": "x", "agg": "sum"})
    for lang in ("ru", "en"):
        message = render_table(result, lang)
        assert len(message) <= MESSAGE_LIMIT
        assert "<b>name" not in message and "&lt;b&gt;name 0" in message
        assert message.count("<pre>") == 1 and message.count("</pre>") == 1
    assert "1\u202f000,5" in render_table(result, "ru")
    assert "1,000.5" in render_table(result, "en")


def test_charts_are_png() -> None:
    assert chart_histogram(SALES, "s.csv", 2, "ru").startswith(PNG)
    assert chart_histogram(SALES, "s.csv", 1, "en").startswith(PNG)
    assert chart_histogram(SALES, "s.csv", 0, "en").startswith(PNG)
    assert chart_timeseries(SALES, "s.csv", 2, 0, "M", "ru").startswith(PNG)
    assert chart_timeseries(SALES, "s.csv", 3, 0, "auto", "en").startswith(PNG)
    assert chart_correlations(SALES, "s.csv", "en").startswith(PNG)


def test_chart_refuses_wrong_kinds() -> None:
    with pytest.raises(AnalysisError):
        chart_timeseries(SALES, "s.csv", 1, 0, "M", "en")  # a city is not a number
    with pytest.raises(AnalysisError):
        chart_timeseries(SALES, "s.csv", 2, 1, "M", "en")  # a city is not a date
    with pytest.raises(AnalysisError):
        chart_histogram(SALES, "s.csv", 42, "en")
