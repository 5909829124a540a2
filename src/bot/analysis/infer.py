"""Decide each column's type from a sample, then convert the whole column in one pass."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from . import arrays
from .reader import RawTable
from .samples import SampleFacts, sample_facts
from .values import (
    YYYYMMDD,
    DateFormat,
    Decimal,
    choose_date_format,
    choose_decimal,
    to_dates,
    to_numbers,
)

_SAMPLE = 300  # values looked at in Python to pick a type; the conversion then sees all
_TYPED_SHARE = 0.9  # of non-missing values that must parse for a column to take the type
_VARIED_SHARE = 0.9  # of a sample's values distinct: the column's distinct values are counted by sorting
_MIXED_SHARE = 0.5  # numbers and dates below the typed share but above this: flagged as mixed
# A kind counts in a mixed column with this many values and this share of the column: a 4-row
# file with one date and one word among numbers says nothing yet.
_MIN_MIXED_VALUES = 5
_MIN_KIND_VALUES = 2
_MIN_KIND_SHARE = 0.02
# Excel's error values: errors in the source, not values of another type.
EXCEL_ERRORS = (
    *("#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!", "#GETTING_DATA"),
    *("#ДЕЛ/0!", "#ЗНАЧ!", "#ССЫЛКА!", "#ИМЯ?", "#ЧИСЛО!", "#ПУСТО!", "#ПЕРЕНОС!", "#ВЫЧИСЛ!"),
)
_EXCEL_SET = arrays.strings(list(EXCEL_ERRORS))
# Column names of whole numbers that count nothing: identifiers, codes and years.
_ID_NAME = re.compile(
    r"(?:^|[^a-zа-яё])(?:id|ид|код|code|номер|№|инн|кпп|бик|огрн|огрнип|окпо|оквэд"
    r"|артикул|sku|ean|barcode|штрихкод|телефон|phone|zip|postcode|account|счет|счёт)"
    r"(?:$|[^a-zа-яё])|_id$|id$",
    re.IGNORECASE,
)
_YEAR_NAME = re.compile(r"(?:^|[^a-zа-яё])(?:год|year|yr|г\.)(?:$|[^a-zа-яё])", re.IGNORECASE)
_YEARS = (1900, 2100)
_MIN_YEAR_VALUES = 10  # without a telling name, this many years in range before calling it years
_BOOL_WORDS = frozenset(
    {"true", "false", "yes", "no", "y", "n", "t", "f", "on", "off"}
    | {"да", "нет", "д", "н", "истина", "ложь", "вкл", "выкл"}
)


@dataclass(slots=True)
class TypedColumn:
    name: str
    type: str  # integer, float, date, datetime, boolean, text (category is decided by the profile)
    # Arrow columns (no pandas copy): float64 or int64 for numbers, timestamp[ms] for dates,
    # strings otherwise. frame.load_frame turns them into a DataFrame when a table needs one.
    values: pa.ChunkedArray
    count: int  # non-missing values in the file
    invalid: int = 0  # values that did not parse for the column's type (now missing)
    invalid_example: str | None = None
    # A text column that mixes kinds: percent of its values that are numbers, dates and text.
    mixed: dict[str, int] | None = None
    errors: int = 0  # Excel error values, made missing
    error_example: str | None = None
    date_format: str | None = None  # the label of the dates' format
    written_places: int = 0  # most digits after the decimal mark in the sample (as the file writes them)
    varied: bool = False  # a number column whose sample hardly repeats a value (nearly all distinct)


def _sample(array: pa.Array) -> pa.Array:
    """Up to _SAMPLE present values spread over the column, as one Arrow array (no Python strings:
    a wide file's samples hold millions of values), Excel errors left out."""
    n = len(array)
    if n <= _SAMPLE * 2:
        values = array.drop_null()
    else:
        # Spread over the file: exports are often sorted, so the head alone misleads.
        idx = np.unique(np.linspace(0, n - 1, _SAMPLE * 2).astype(np.int64))
        values = array.take(arrays.from_numpy(idx)).drop_null()
        if len(values) < _SAMPLE // 10:
            values = array.drop_null().slice(0, _SAMPLE)
    values = values.slice(0, _SAMPLE)
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if len(values) and pc.any(pc.starts_with(values, pattern="#")).as_py():
        values = values.filter(pc.invert(pc.is_in(values, value_set=_EXCEL_SET)))
    return values


def file_decimal(column_votes: list[dict[Decimal, int]], delimiter: str) -> Decimal:
    votes = {mark: sum(v[mark] for v in column_votes) for mark in (".", ",")}
    if votes["."] != votes[","]:
        return "." if votes["."] > votes[","] else ","
    return "," if delimiter == ";" else "."


def _first_invalid(raw: pa.Array, converted: pa.Array) -> str | None:
    mask = pc.and_(pc.is_valid(raw), pc.is_null(converted))
    position = pc.index(mask, arrays.TRUE).as_py()
    return None if position < 0 else str(raw[position].as_py())


def _numeric(name: str, raw: pa.Array, decimal: Decimal, count: int, plain: bool) -> TypedColumn | None:
    numbers = to_numbers(raw, decimal, plain)
    parsed = len(numbers) - numbers.null_count
    if parsed < _TYPED_SHARE * count:
        return None
    integral, any_nan = True, False
    for chunk in numbers.chunks:  # chunk by chunk: no copy of the whole column
        values = arrays.floats(chunk)
        nan = np.isnan(values)  # nulls, and "NaN" texts a plain cast let through
        any_nan = any_nan or bool(nan.any())
        # Whole numbers below 2**53 (exact as floats); missing values do not count. floor
        # rather than mod 1: the same answer (infinity fails the bound), many times faster.
        whole = (np.floor(values) == values) & (np.abs(values) < 2**53)
        integral = integral and bool(np.all(whole | nan))
    if integral and parsed == len(numbers) and not any_nan:
        numbers = arrays.cast(numbers, pa.int64())  # exact: every value is a whole number below 2**53
    column = TypedColumn(name, "integer" if integral else "float", numbers, count, count - parsed)
    if column.invalid:
        column.invalid_example = _first_invalid(raw, numbers)
    return column


def _without_excel_errors(raw: pa.ChunkedArray) -> tuple[pa.ChunkedArray, int, str | None]:
    """The column with Excel error values made missing, their count and the first of them."""
    if not pc.any(pc.starts_with(raw, pattern="#")).as_py():  # one cheap kernel for most columns
        return raw, 0, None
    errors = pc.is_in(raw, value_set=_EXCEL_SET)
    count = int(pc.sum(errors).as_py() or 0)
    if not count:
        return raw, 0, None
    example = str(raw[pc.index(errors, arrays.TRUE).as_py()].as_py())
    return pc.if_else(errors, arrays.null(pa.string()), raw), count, example


def _dated(name: str, raw: pa.Array, fmt: DateFormat, count: int) -> TypedColumn | None:
    dates = to_dates(raw, fmt)
    parsed = len(dates) - dates.null_count
    if parsed < _TYPED_SHARE * count:
        return None
    type_ = "quarter" if fmt.quarter else "datetime" if fmt.has_time else "date"
    column = TypedColumn(name, type_, dates, count, date_format=fmt.label)
    column.invalid = count - parsed
    if column.invalid:
        column.invalid_example = _first_invalid(raw, dates)
    return column


def _whole_number_role(column: TypedColumn) -> None:
    """Years, identifiers and codes are whole numbers that are not amounts: no sum, no grouping."""
    if column.type != "integer" or column.count - column.invalid == 0:
        return
    bounds = pc.min_max(column.values)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    in_years = _YEARS[0] <= low and high <= _YEARS[1]
    if in_years and (_YEAR_NAME.search(column.name) or column.count >= _MIN_YEAR_VALUES):
        column.type = "year"
    elif _ID_NAME.search(column.name) and not _YEAR_NAME.search(column.name):
        column.type = "id"


def type_column(
    name: str, raw: pa.Array, sample: pa.Array, facts: SampleFacts, decimal: Decimal
) -> TypedColumn:
    """`sample`: the column's sample without Excel errors; `facts`: sample_facts of it."""
    raw, errors, error_example = _without_excel_errors(raw)
    column = _type_column(name, raw, _Sample(sample), facts, decimal)
    column.errors, column.error_example = errors, error_example
    return column


class _Sample:
    """A sample's values as Python strings, made only when a question needs them (most columns
    of a wide file are numbers, which the sample's facts settle)."""

    def __init__(self, array: pa.Array) -> None:
        self.array = array
        self._values: list[str] | None = None

    @property
    def values(self) -> list[str]:
        if self._values is None:
            self._values = [str(v) for v in self.array.to_pylist()]
        return self._values


def _type_column(
    name: str, raw: pa.Array, sample: _Sample, facts: SampleFacts, decimal: Decimal
) -> TypedColumn:
    count = len(raw) - raw.null_count
    if count == 0 or not len(sample.array):
        return TypedColumn(name, "empty", raw, count)
    if facts.eight_digits and choose_date_format(sample.values, _TYPED_SHARE) == YYYYMMDD:
        dated = _dated(name, raw, YYYYMMDD, count)
        if dated is not None:
            return dated
    col_decimal = choose_decimal(facts.votes, decimal)
    share = facts.numbers[col_decimal] / facts.size
    if share >= _TYPED_SHARE and not facts.leading_zero:
        typed = _numeric(name, raw, col_decimal, count, facts.plain[col_decimal])
        if typed is not None:
            _whole_number_role(typed)
            typed.written_places = facts.places[col_decimal]
            distinct = pc.count_distinct(sample.array).as_py()
            typed.varied = distinct >= _VARIED_SHARE * len(sample.array)
            return typed
    fmt = choose_date_format(sample.values, _TYPED_SHARE)
    if fmt is not None:
        dated = _dated(name, raw, fmt, count)
        if dated is not None:
            return dated
    if {v.lower() for v in sample.values} <= _BOOL_WORDS:
        return TypedColumn(name, "boolean", raw, count)
    column = TypedColumn(name, "text", raw, count)
    column.mixed = _mixed_kinds(share, facts.dates / facts.size, count)
    return column


def _mixed_kinds(numbers: float, dates: float, count: int) -> dict[str, int] | None:
    """Percent of numbers, dates and text in a text column that is mostly numbers or dates, when
    two kinds or more each hold enough values to be more than a slip (scaled to the column's size)."""
    if count < _MIN_MIXED_VALUES or numbers + dates < _MIXED_SHARE:
        return None
    shares = {"numbers": numbers, "dates": dates, "text": max(0.0, 1.0 - numbers - dates)}
    enough = max(_MIN_KIND_VALUES, _MIN_KIND_SHARE * count)
    present = [kind for kind, share in shares.items() if share * count >= enough]
    if len(present) < 2:
        return None
    return {kind: round(100 * share) for kind, share in shares.items() if share > 0}


def type_table(table: RawTable) -> tuple[list[TypedColumn], Decimal]:
    """Typed columns in the table's order. Takes the table's string columns: each one is released
    as its typed copy is made (text columns keep theirs), so the raw and typed tables never coexist."""
    samples = [_sample(a) for a in table.columns]
    facts = sample_facts(samples)
    decimal = file_decimal([f.votes for f in facts], table.delimiter)
    raw, table.columns = table.columns, []
    typed = []
    for index, (name, sample) in enumerate(zip(table.names, samples, strict=True)):
        typed.append(type_column(name, raw[index], sample, facts[index], decimal))
        raw[index] = None
    return typed, decimal
