"""Rows with too few or too many fields, read the way DuckDB's `null_padding` reads them.

Arrow's parser hands each such row to a callback as text. Short rows are padded with missing
values; the fields past the last column go to one overflow column, joined by the delimiter.
The rows then take their places among the others (Arrow numbers rows as it reads them), so the
table keeps the file's order.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from . import arrays

OVERFLOW_NAME = "extra_fields"


@dataclass(slots=True)
class RaggedRows:
    """What the parser's callback collected: row number (1-based, in the data) and text."""

    rows: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True, slots=True)
class Mended:
    table: pa.Table
    padded: tuple[int, ...]  # data row numbers (1-based) that were short
    overflowed: tuple[int, ...]  # data row numbers that had extra fields (kept in the overflow column)


def _column(values: list[str | None], nulls: frozenset[str]) -> pa.Array:
    text = arrays.strings([v or "" for v in values])
    missing = np.array([v is None or v.strip() in nulls for v in values], dtype=np.int64)
    mask = pc.equal(arrays.from_numpy(missing), arrays.scalar(1, pa.int64()))
    return pc.if_else(mask, arrays.null(pa.string()), text)


def mend(table: pa.Table, ragged: RaggedRows, delimiter: str, nulls: frozenset[str]) -> Mended:
    """The table with the ragged rows padded or cut (extra fields kept) and put back in place."""
    width = table.num_columns
    rows = sorted(ragged.rows)
    cells: list[list[str | None]] = [[] for _ in range(width + 1)]
    padded: list[int] = []
    overflowed: list[int] = []
    for number, line in rows:
        fields: list[str | None] = list(next(csv.reader([line], delimiter=delimiter, quotechar='"'), []))
        extra = [f for f in fields[width:] if f is not None and f.strip()]
        if len(fields) < width:
            padded.append(number)
        elif extra:
            overflowed.append(number)
        fields = (fields + [None] * width)[:width]
        for index, value in enumerate(fields):
            cells[index].append(value)
        cells[width].append(delimiter.join(f for f in extra if f is not None) if extra else None)
    patch = [_column(values, nulls) for values in cells[:width]]
    columns = [pa.chunked_array([*table.column(i).chunks, patch[i]], pa.string()) for i in range(width)]
    names = list(table.column_names)
    if overflowed:
        overflow = _column(cells[width], nulls)
        columns.append(pa.chunked_array([pa.nulls(table.num_rows, pa.string()), overflow], pa.string()))
        names.append(OVERFLOW_NAME)
    # Row number n (1-based) sits after n - 1 rows, of which the earlier ragged ones are patched.
    before = np.array([number - 1 - k for k, (number, _) in enumerate(rows)], dtype=np.int64)
    before = np.clip(before, 0, table.num_rows)
    order = np.insert(
        np.arange(table.num_rows, dtype=np.int64), before, table.num_rows + np.arange(len(rows))
    )
    merged = pa.Table.from_arrays(columns, names=names).take(arrays.from_numpy(order))
    return Mended(merged, tuple(padded), tuple(overflowed))
