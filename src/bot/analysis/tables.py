"""Interactive table answers (group-by, top-N, correlations) and their safe CSV/XLSX exports."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

import numpy as np

from .frame import load_frame
from .limits import AnalysisError

if TYPE_CHECKING:
    import pandas as pd

Cell = str | int | float | None
Agg = Literal["sum", "mean", "median", "min", "max", "count"]
AGGREGATIONS: tuple[str, ...] = ("sum", "mean", "median", "min", "max", "count")
MAX_EXPORT_ROWS = 10_000
MAX_CORRELATION_COLUMNS = 30
# Excel and LibreOffice run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True, slots=True)
class TableResult:
    kind: str  # group_by, top_values, top_rows, correlations
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    total_rows: int  # before cutting to MAX_EXPORT_ROWS
    params: dict[str, str | int] = field(default_factory=dict)  # names for the title

    def to_csv_bytes(self) -> bytes:
        """UTF-8 with a BOM (so Excel opens it as UTF-8), formula-looking text neutralised."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([neutralise(c) for c in self.columns])
        for row in self.rows:
            writer.writerow(["" if c is None else neutralise(c) if isinstance(c, str) else c for c in row])
        return buffer.getvalue().encode("utf-8-sig")

    def to_xlsx_bytes(self) -> bytes:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        book = Workbook(write_only=True)
        sheet = book.create_sheet("result")

        def cell(value: Cell) -> WriteOnlyCell:
            if isinstance(value, str):
                item = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
                item.data_type = "s"  # never a formula, whatever the text starts with
                return item
            if isinstance(value, float) and not math.isfinite(value):
                return WriteOnlyCell(sheet, value=None)
            return WriteOnlyCell(sheet, value=value)

        sheet.append([cell(c) for c in self.columns])
        for row in self.rows:
            sheet.append([cell(c) for c in row])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def neutralise(value: str) -> str:
    """Prefix a quote to text a spreadsheet would run as a formula; plain numbers stay numbers."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def _cell(value: object) -> Cell:
    """A plain Python value; pandas' NaT is turned to None by the caller (it is a datetime too)."""
    if value is None:
        return None
    if isinstance(value, datetime | date):  # pandas' Timestamp included
        return value.isoformat()
    if isinstance(value, np.integer | int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, np.floating | float):
        number = float(value)
        return None if math.isnan(number) else number
    return str(value)  # text, pandas' Period


def _column(frame: pd.DataFrame, index: int) -> str:
    if not 0 <= index < frame.shape[1]:
        raise AnalysisError("bad_column", {"column": index})
    return str(frame.columns[index])


def _is_numeric(series: pd.Series) -> bool:
    import pandas as pd  # loaded only for the interactive answers: the profile does without

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _rows(frame: pd.DataFrame) -> tuple[tuple[Cell, ...], ...]:
    import pandas as pd

    head = frame.head(MAX_EXPORT_ROWS)
    rows = head.itertuples(index=False, name=None)
    return tuple(tuple(None if v is pd.NaT else _cell(v) for v in row) for row in rows)


def group_by(data: bytes, file_name: str, by: int, value: int | None, agg: str) -> TableResult:
    """`agg` of column `value` for each value of column `by` (dates grouped by month)."""
    import pandas as pd

    if agg not in AGGREGATIONS:
        raise AnalysisError("bad_column", {"column": agg})
    frame = load_frame(data, file_name)
    by_name = _column(frame, by)
    keys = frame[by_name]
    by_date = pd.api.types.is_datetime64_any_dtype(keys)
    if by_date:
        keys = keys.dt.to_period("M").astype("str")
    if agg == "count":
        result = keys.groupby(keys, dropna=False, sort=False).size()
        label = "count"
        value_name = ""
    else:
        if value is None:
            raise AnalysisError("bad_column", {"column": "value"})
        value_name = _column(frame, value)
        values = frame[value_name]
        if not _is_numeric(values):
            raise AnalysisError("bad_column", {"column": value_name})
        result = values.groupby(keys, dropna=False, sort=False).agg(agg)
        label = f"{agg}({value_name})"
    # Months read best in order; anything else largest first.
    result = result.sort_index() if by_date else result.sort_values(ascending=False, kind="stable")
    table = pd.DataFrame({by_name: result.index, label: result.to_numpy()})
    return TableResult(
        kind="group_by",
        columns=(by_name, label),
        rows=_rows(table),
        total_rows=len(table),
        params={"by": by_name, "value": value_name, "agg": agg},
    )


def top_n(data: bytes, file_name: str, column: int, n: int) -> TableResult:
    """Numeric column: the n rows with the largest values. Otherwise: the n most frequent values."""
    import pandas as pd

    frame = load_frame(data, file_name)
    name = _column(frame, column)
    n = max(1, min(int(n), 1000))
    series = frame[name]
    if _is_numeric(series):
        top = frame.nlargest(n, name, keep="first")
        return TableResult(
            kind="top_rows",
            columns=tuple(str(c) for c in frame.columns),
            rows=_rows(top),
            total_rows=len(top),
            params={"column": name, "n": n},
        )
    counts = series.value_counts(dropna=True)
    present = int(counts.sum())
    head = counts.head(n)
    shares = (head / present).round(4) if present else head * 0.0
    table = pd.DataFrame({name: head.index, "count": head.to_numpy(), "share": shares.to_numpy()})
    return TableResult(
        kind="top_values",
        columns=(name, "count", "share"),
        rows=_rows(table),
        total_rows=len(table),
        params={"column": name, "n": n},
    )


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric columns that vary, up to MAX_CORRELATION_COLUMNS of them."""
    names = [str(c) for c in frame.columns if _is_numeric(frame[c]) and frame[c].nunique(dropna=True) > 1]
    return names[:MAX_CORRELATION_COLUMNS]


def correlations(data: bytes, file_name: str) -> TableResult:
    """Pearson correlation of every pair of numeric columns, strongest first."""
    frame = load_frame(data, file_name)
    names = numeric_columns(frame)
    numbers = frame[names].astype("float64")
    matrix = numbers.corr(min_periods=3)
    present = numbers.notna().astype("float64")
    pairs_n = present.T @ present
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            r = float(matrix.to_numpy()[i, names.index(b)])
            if not math.isnan(r):
                rows.append((a, b, round(r, 3), int(pairs_n.to_numpy()[i, names.index(b)])))
    rows.sort(key=lambda row: -abs(row[2]))
    return TableResult(
        kind="correlations",
        columns=("column_a", "column_b", "r", "n"),
        rows=tuple(rows[:MAX_EXPORT_ROWS]),
        total_rows=len(rows),
    )
