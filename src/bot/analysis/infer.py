"""Decide each column's type from a sample, then convert the whole column in one pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from .reader import RawTable
from .values import (
    Decimal,
    choose_date_format,
    choose_decimal,
    is_number,
    number_vote,
    plain_numbers,
    to_dates,
    to_numbers,
)

_SAMPLE = 300  # values looked at in Python to pick a type; the conversion then sees all
_TYPED_SHARE = 0.9  # of non-missing values that must parse for a column to take the type
_MIXED_SHARE = 0.5  # below the typed share but above this: a text column flagged as mixed
_BOOL_WORDS = frozenset(
    {"true", "false", "yes", "no", "y", "n", "t", "f", "on", "off"}
    | {"да", "нет", "д", "н", "истина", "ложь", "вкл", "выкл"}
)


@dataclass(slots=True)
class TypedColumn:
    name: str
    type: str  # integer, float, date, datetime, boolean, text (category is decided by the profile)
    values: pd.Series
    count: int  # non-missing values in the file
    invalid: int = 0  # values that did not parse for the column's type (now missing)
    invalid_example: str | None = None
    number_share: float | None = None  # for text columns that are partly numbers


def _sample(array: pa.Array) -> list[str]:
    n = len(array)
    if n <= _SAMPLE * 2:
        values = array.drop_null().to_pylist()
    else:
        # Spread over the file: exports are often sorted, so the head alone misleads.
        idx = np.unique(np.linspace(0, n - 1, _SAMPLE * 2).astype(np.int64))
        values = array.take(pa.array(idx)).drop_null().to_pylist()
        if len(values) < _SAMPLE // 10:
            values = array.drop_null().slice(0, _SAMPLE).to_pylist()
    return [str(v) for v in values[:_SAMPLE]]


def _has_leading_zero_codes(sample: list[str]) -> bool:
    """Codes like 00123 (tax ids, postcodes) are identifiers, not quantities."""
    return any(len(v) > 1 and v[0] == "0" and v[1].isdigit() for v in sample)


def file_decimal(samples: list[list[str]], delimiter: str) -> Decimal:
    votes = {".": 0, ",": 0}
    for sample in samples:
        for value in sample:
            vote = number_vote(value)
            if vote is not None:
                votes[vote] += 1
    if votes["."] != votes[","]:
        return "." if votes["."] > votes[","] else ","
    return "," if delimiter == ";" else "."


def _first_invalid(raw: pa.Array, converted: pa.Array) -> str | None:
    mask = pc.and_(pc.is_valid(raw), pc.is_null(converted))
    position = pc.index(mask, True).as_py()
    return None if position < 0 else str(raw[position].as_py())


def _numeric(name: str, raw: pa.Array, decimal: Decimal, count: int, plain: bool) -> TypedColumn | None:
    numbers = to_numbers(raw, decimal, plain)
    parsed = len(numbers) - numbers.null_count
    if parsed < _TYPED_SHARE * count:
        return None
    values = numbers.to_numpy(zero_copy_only=False)
    finite = values[~np.isnan(values)]
    integral = bool(np.all(np.mod(finite, 1) == 0)) and bool(np.all(np.abs(finite) < 2**53))
    series = pd.Series(values, name=name)
    if integral and parsed == len(values):
        series = series.astype(np.int64)
    column = TypedColumn(name, "integer" if integral else "float", series, count, count - parsed)
    if column.invalid:
        column.invalid_example = _first_invalid(raw, numbers)
    return column


def type_column(name: str, raw: pa.Array, sample: list[str], decimal: Decimal) -> TypedColumn:
    count = len(raw) - raw.null_count
    if count == 0:
        return TypedColumn(name, "empty", raw.to_pandas().rename(name), 0)
    col_decimal = choose_decimal(sample, decimal)
    numbers = sum(1 for v in sample if is_number(v, col_decimal))
    share = numbers / len(sample)
    if share >= _TYPED_SHARE and not _has_leading_zero_codes(sample):
        typed = _numeric(name, raw, col_decimal, count, plain_numbers(sample, col_decimal))
        if typed is not None:
            return typed
    fmt = choose_date_format(sample, _TYPED_SHARE)
    if fmt is not None:
        dates = to_dates(raw, fmt)
        parsed = len(dates) - dates.null_count
        if parsed >= _TYPED_SHARE * count:
            column = TypedColumn(
                name, "datetime" if fmt.has_time else "date", dates.to_pandas().rename(name), count
            )
            column.invalid = count - parsed
            if column.invalid:
                column.invalid_example = _first_invalid(raw, dates)
            return column
    strings = raw.to_pandas().rename(name)
    if {v.lower() for v in sample} <= _BOOL_WORDS:
        return TypedColumn(name, "boolean", strings, count)
    column = TypedColumn(name, "text", strings, count)
    if _MIXED_SHARE <= share < _TYPED_SHARE:
        column.number_share = share
    return column


def type_table(table: RawTable) -> tuple[list[TypedColumn], Decimal]:
    samples = [_sample(a) for a in table.columns]
    decimal = file_decimal(samples, table.delimiter)
    typed = [
        type_column(n, a, s, decimal) for n, a, s in zip(table.names, table.columns, samples, strict=True)
    ]
    return typed, decimal
