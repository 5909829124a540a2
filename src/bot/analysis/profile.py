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
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {}
    q1, median, q3 = np.quantile(finite, [0.25, 0.5, 0.75])
    mean = float(finite.mean())
    std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    centred = finite - mean
    m2 = float(np.mean(centred**2))
    skew = float(np.mean(centred**3) / m2**1.5) if m2 > 0 else 0.0
    return {
        "minimum": float(finite.min()),
        "maximum": float(finite.max()),
        "mean": mean,
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "std": std,
        "total": float(finite.sum()),
        "skew": skew,
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


def _duplicates(all_codes: list[np.ndarray], sizes: list[int], rows: int) -> int:
    """Rows equal to an earlier row, from exact combined group codes (no hashing collisions)."""
    if not all_codes or rows == 0:
        return 0
    key = np.zeros(rows, dtype=np.int64)
    bound = 1
    for codes, size in zip(all_codes, sizes, strict=True):
        if bound * (size + 1) >= 2**62:
            key, uniques = pd.factorize(key)
            bound = len(uniques)
        key = key * (size + 1) + (codes + 1)
        bound *= size + 1
    return rows - len(pd.unique(key))


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
    all_codes, sizes, columns = [], [], []
    for index, column in enumerate(typed):
        codes, distinct = _codes(column.values)
        all_codes.append(codes)
        sizes.append(distinct)
        columns.append(_column_profile(index, column, rows, codes, distinct))
    duplicates = _duplicates(all_codes, sizes, rows)
    del all_codes
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
