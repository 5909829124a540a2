"""The full profile as an XLSX workbook: one sheet per part, in the reader's language.

Sheets: overview, columns, alerts, reading notes, correlations, and groupings (the counts of the
frequent values of category columns) when there are any. A zip's tables share the sheets, with
a first column naming the table. Built from the stored profile alone, like the HTML report.

Every text cell is written as a string, never a formula, whatever it starts with (= + - @): a
column name or a value from an upload must not run in the reader's spreadsheet.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from .fmt import lang_of
from .model import ColumnProfile, Profile
from .render import alert_text, note_text
from .texts import text

if TYPE_CHECKING:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

Value = str | int | float | None
_TAG = re.compile(r"<[^>]+>")
_COLUMN_FIELDS = (
    *("count", "missing", "distinct", "minimum", "maximum", "mean", "median", "q1", "q3", "std"),
    *("total", "skew", "zeros", "outliers", "date_min", "date_max", "invalid", "errors"),
)


def _plain(markup: str) -> str:
    """A message line without its HTML: the text a cell shows."""
    return html.unescape(_TAG.sub("", markup))


def _overview(profile: Profile, lang: str) -> Iterator[list[Value]]:
    yield [text(lang, "x.file"), profile.file_name]
    yield [text(lang, "x.rows_total"), profile.n_rows]
    yield [text(lang, "x.columns_total"), profile.n_columns]
    yield [text(lang, "x.size"), profile.size_bytes]
    yield [text(lang, "x.encoding"), profile.encoding]
    yield [text(lang, "x.delimiter"), profile.delimiter]
    yield [text(lang, "x.decimal"), profile.decimal]
    yield [text(lang, "x.duplicates"), profile.duplicate_rows]
    yield [text(lang, "x.alerts"), len(profile.alerts)]


def _top(column: ColumnProfile) -> str:
    return "; ".join(f"{value} ({count})" for value, count in column.top)


def _columns(profile: Profile, lang: str) -> Iterator[list[Value]]:
    for column in profile.columns:
        share = column.missing / profile.n_rows if profile.n_rows else 0.0
        figures: list[Value] = [getattr(column, f) for f in _COLUMN_FIELDS]
        yield [
            column.index + 1,
            column.name,
            text(lang, f"t.{column.type}"),
            *figures[:2],
            round(share, 4),
            *figures[2:],
            column.date_format,
            _top(column),
            column.invalid_example,
        ]


def _column_headings(lang: str) -> list[Value]:
    named = [text(lang, f"x.c.{f}") for f in _COLUMN_FIELDS]
    return [
        text(lang, "r.number"),
        text(lang, "r.column"),
        text(lang, "r.type"),
        *named[:2],
        text(lang, "x.c.missing_share"),
        *named[2:],
        text(lang, "x.c.date_format"),
        text(lang, "x.c.top"),
        text(lang, "x.c.invalid_example"),
    ]


def _alerts(profile: Profile, lang: str) -> Iterator[list[Value]]:
    for alert in profile.alerts:
        column = None if alert.column is None else profile.columns[alert.column].name
        yield [column, alert.code, _plain(alert_text(alert, profile, lang))]


def _correlations(profile: Profile, lang: str) -> Iterator[list[Value]]:
    del lang
    for alert in profile.alerts:
        if alert.code == "correlated" and alert.column is not None:
            yield [profile.columns[alert.column].name, str(alert.params["other"]), alert.params["r"]]


def _groupings(profile: Profile, lang: str) -> Iterator[list[Value]]:
    del lang
    for column in profile.columns:
        if column.kind != "category":
            continue
        for value, count in column.top:
            yield [column.name, value, count, round(count / column.count, 4) if column.count else None]


def report_xlsx(payload: str, lang: str) -> bytes:
    """The workbook of a stored profile (its JSON), as the bytes of an .xlsx file."""
    from openpyxl import Workbook

    lang = lang_of(lang)
    profile = Profile.from_json(payload)
    tables = (profile, *profile.parts)
    several = len(tables) > 1
    book = Workbook(write_only=True)

    def sheet(key: str, headings: Sequence[Value], rows: list[tuple[Profile, list[Value]]]) -> None:
        page = book.create_sheet(text(lang, f"x.sheet.{key}")[:31])
        table_heading: list[Value] = [text(lang, "x.table")] if several else []
        page.append([_cell(page, v) for v in [*table_heading, *headings]])
        for table, row in rows:
            prefix: list[Value] = [table.file_name] if several else []
            page.append([_cell(page, v) for v in [*prefix, *row]])

    def rows(make: Callable[[Profile, str], Iterator[list[Value]]]) -> list[tuple[Profile, list[Value]]]:
        return [(t, row) for t in tables for row in make(t, lang)]

    sheet("overview", [text(lang, "x.what"), text(lang, "x.value")], rows(_overview))
    sheet("columns", _column_headings(lang), rows(_columns))
    sheet("alerts", [text(lang, "r.column"), text(lang, "x.code"), text(lang, "x.alert")], rows(_alerts))
    notes: list[tuple[Profile, list[Value]]] = [
        (t, [_plain(note_text(n, lang))]) for t in tables for n in t.notes
    ]
    sheet("notes", [text(lang, "x.note")], notes)
    correlated = [text(lang, "r.column"), text(lang, "x.other"), "r"]
    sheet("correlations", correlated, rows(_correlations))
    groupings = rows(_groupings)
    if groupings:
        keys = ("r.column", "x.value", "x.rows", "x.share")
        sheet("groupings", [text(lang, key) for key in keys], groupings)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(sheet: WriteOnlyWorksheet, value: Value) -> WriteOnlyCell:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        item = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        item.data_type = "s"  # never a formula, whatever the text starts with
        return item
    if isinstance(value, float) and not math.isfinite(value):
        return WriteOnlyCell(sheet, value=None)
    return WriteOnlyCell(sheet, value=value)


def report_xlsx_name(profile_file_name: str) -> str:
    stem = profile_file_name.rsplit("/", 1)[-1].split(".", 1)[0] or "profile"
    return f"{stem[:60]}_profile.xlsx"
