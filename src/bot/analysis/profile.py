"""Statistics of a typed table: per column and for the file, with alerts worth a reader's eye."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .frame import Loaded, load
from .infer import TypedColumn
from .limits import CsvLimits, CsvRejected
from .model import Alert, ColumnProfile, Profile

_TOP = 5
_CATEGORY_MAX_DISTINCT = 50
_SKEW_ALERT = 2.0
_MOSTLY_MISSING = 0.5
_KIND = {
    "integer": "numeric",
    "float": "numeric",
    "date": "datetime",
    "datetime": "datetime",
    "boolean": "category",
    "empty": "text",
}


def _codes(series: pd.Series) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), len(uniques)


def _top(series: pd.Series, codes: np.ndarray, distinct: int) -> tuple[tuple[str, int], ...]:
    present = codes[codes >= 0]
    if present.size == 0:
        return ()
    counts = np.bincount(present, minlength=distinct)
    order = np.argsort(-counts, kind="stable")[:_TOP]
    # The first row holding each code gives its value without materialising all uniques.
    first_rows = np.full(distinct, -1, dtype=np.int64)
    first_rows[present[::-1]] = np.flatnonzero(codes >= 0)[::-1]
    values = series.iloc[first_rows[order]]
    return tuple((str(v), int(counts[c])) for v, c in zip(values, order, strict=True))


def _numeric_stats(values: np.ndarray) -> dict[str, float | None]:
    finite = values[np.isfinite(values)] if np.isnan(values.sum()) or np.isinf(values.sum()) else values
    if finite.size == 0:
        return {}
    q1, median, q3 = np.quantile(finite, [0.25, 0.5, 0.75])
    n = finite.size
    total = float(finite.sum())
    mean = total / n
    centred = finite - mean
    squared = centred * centred
    m2 = float(squared.mean())
    m3 = float(np.dot(squared, centred)) / n
    return {
        "minimum": float(finite.min()),
        "maximum": float(finite.max()),
        "mean": mean,
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "std": (m2 * n / (n - 1)) ** 0.5 if n > 1 else 0.0,
        "total": total,
        "skew": m3 / m2**1.5 if m2 > 0 else 0.0,
    }


def _column_profile(
    index: int, column: TypedColumn, rows: int, codes: np.ndarray, distinct: int
) -> ColumnProfile:
    kind = _KIND.get(column.type)
    type_ = column.type
    mean_length = None
    if column.type == "text":
        mean_length = float(column.values.str.len().mean())
        small = distinct <= _CATEGORY_MAX_DISTINCT or (distinct <= 0.5 * column.count and mean_length <= 40)
        kind = "category" if small else "text"
        type_ = kind
    assert kind is not None
    base = ColumnProfile(
        index=index,
        name=column.name,
        type=type_,
        kind=kind,
        count=column.count - column.invalid,
        missing=rows - column.count + column.invalid,
        distinct=distinct,
        invalid=column.invalid,
        invalid_example=column.invalid_example,
        mean_length=mean_length,
    )
    if kind == "numeric":
        stats = _numeric_stats(column.values.to_numpy(dtype=np.float64, na_value=np.nan))
        return _replace(base, **stats)
    if kind == "datetime":
        present = column.values.dropna()
        if present.empty:
            return base
        return _replace(base, date_min=present.min().isoformat(), date_max=present.max().isoformat())
    return _replace(base, top=_top(column.values, codes, distinct))


def _replace(profile: ColumnProfile, **changes: object) -> ColumnProfile:
    from dataclasses import replace

    return replace(profile, **changes)  # type: ignore[arg-type]


class _RowKey:
    """Exact identity of each row built column by column from group codes (no hash collisions),
    so the codes of a column can be dropped as soon as it is profiled."""

    def __init__(self, rows: int) -> None:
        self.key = np.zeros(rows, dtype=np.int64)
        self.bound = 1

    def add(self, codes: np.ndarray, size: int) -> None:
        if self.bound * (size + 1) >= 2**62:
            self.key, uniques = pd.factorize(self.key)
            self.bound = len(uniques)
        self.key *= size + 1
        self.key += codes + 1
        self.bound *= size + 1

    def duplicates(self) -> int:
        return len(self.key) - len(pd.unique(self.key)) if len(self.key) else 0


def _alerts(columns: list[ColumnProfile], rows: int, raw: list[TypedColumn]) -> list[Alert]:
    alerts: list[Alert] = []
    for col, typed in zip(columns, raw, strict=True):
        if col.type == "empty":
            alerts.append(Alert("empty", col.index))
            continue
        if col.distinct == 1 and rows > 1:
            alerts.append(Alert("constant", col.index, {"value": col.top[0][0] if col.top else ""}))
        if rows and col.missing / rows >= _MOSTLY_MISSING:
            alerts.append(Alert("mostly_missing", col.index, {"percent": round(100 * col.missing / rows)}))
        if col.invalid:
            params: dict[str, int | float | str] = {"count": col.invalid, "type": col.type}
            if col.invalid_example is not None:
                params["example"] = col.invalid_example[:40]
            alerts.append(Alert("mixed_types", col.index, params))
        elif typed.number_share is not None:
            alerts.append(Alert("mixed_types", col.index, {"percent": round(100 * typed.number_share)}))
        if col.kind in ("category", "text") and col.count >= 20 and col.distinct >= 0.95 * col.count:
            alerts.append(Alert("high_cardinality", col.index, {"distinct": col.distinct}))
        if (
            col.kind == "numeric"
            and col.skew is not None
            and abs(col.skew) >= _SKEW_ALERT
            and col.count >= 20
        ):
            alerts.append(Alert("skewed", col.index, {"skew": round(col.skew, 1)}))
    return alerts


def build_profile(loaded: Loaded, file_name: str, size: int) -> Profile:
    table, typed = loaded.table, loaded.columns
    rows = len(typed[0].values)
    row_key = _RowKey(rows)
    columns = []
    for index, column in enumerate(typed):
        codes, distinct = _codes(column.values)
        row_key.add(codes, distinct)
        columns.append(_column_profile(index, column, rows, codes, distinct))
        del codes
    duplicates = row_key.duplicates()
    del row_key
    alerts = _alerts(columns, rows, typed)
    if duplicates:
        alerts.append(Alert("duplicates", None, {"count": duplicates}))
    if table.skipped_rows:
        alerts.append(Alert("skipped_rows", None, {"count": table.skipped_rows}))
    return Profile(
        file_name=file_name,
        size_bytes=size,
        n_rows=rows,
        n_columns=len(columns),
        encoding=table.encoding,
        delimiter=table.delimiter,
        decimal=loaded.decimal,
        header=table.header,
        totals_row_removed=table.totals_row_removed,
        preamble_lines=table.preamble_lines,
        skipped_rows=table.skipped_rows,
        duplicate_rows=duplicates,
        columns=tuple(columns),
        alerts=tuple(alerts),
    )


def analyse_csv(data: bytes, file_name: str, limits: CsvLimits | None = None) -> Profile | CsvRejected:
    """Profile an uploaded file, or say why it cannot be read. Pure: safe to run in a worker process."""
    loaded = load(data, limits or CsvLimits())
    if isinstance(loaded, CsvRejected):
        return loaded
    return build_profile(loaded, file_name, len(data))
