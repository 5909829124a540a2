"""Statistics of a typed table: per column and for the file, with alerts worth a reader's eye."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from . import arrays
from .archive import Unpacked
from .frame import Loaded, load, load_plain
from .infer import TypedColumn
from .limits import CsvLimits, CsvRejected
from .model import Alert, ColumnProfile, Note, Profile
from .ragged import OVERFLOW_NAME

_TOP = 5
_CATEGORY_MAX_DISTINCT = 50
_SKEW_ALERT = 2.0
_MOSTLY_MISSING = 0.5
# A share of a handful of values says nothing: alerts about shares wait for this many, and
# alerts about a distribution (skew, outliers, imbalance, correlation) for _MIN_SPREAD.
_MIN_EVIDENCE = 5
_MIN_SPREAD = 20
_ZEROS_SHARE = 0.5
_IMBALANCE_SHARE = 0.9
_CORRELATION = 0.9
_MIN_CORRELATION_ROWS = 10
_CORRELATION_COLUMNS = 200  # numeric columns compared pairwise (the first ones of a wide file)
_CORRELATION_ROWS = 20_000  # rows of a strided sample, as float32: bounded memory
_MAX_CORRELATION_ALERTS = 10
_OUTLIER_IQR = 3.0
_KIND = {
    "integer": "numeric",
    "float": "numeric",
    "year": "category",  # grouped by, never summed
    "id": "text",  # neither summed nor grouped by
    "date": "datetime",
    "datetime": "datetime",
    "quarter": "datetime",
    "boolean": "category",
    "empty": "text",
}


@dataclass(slots=True)
class _Groups:
    """A column's values as exact group codes: -1 where missing, 0..distinct-1 otherwise."""

    codes: np.ndarray
    distinct: int
    dictionary: pa.Array | None  # the value of each code, in order of first appearance


def _ascending_groups(values: pa.ChunkedArray) -> _Groups | None:
    """Codes without hashing for numbers or dates in ascending order (an export's ids or dates)."""
    numeric = str(values.type) in ("int64", "double") or pa.types.is_timestamp(values.type)
    if values.null_count or not numeric:
        return None
    numbers = arrays.to_numpy(values)
    if len(numbers) < 2 or not bool(np.all(numbers[1:] >= numbers[:-1])):  # NaN fails too
        return None
    codes = np.zeros(len(numbers), dtype=np.int64)
    np.cumsum(numbers[1:] != numbers[:-1], out=codes[1:])
    return _Groups(codes, int(codes[-1]) + 1, None)


def _hash_groups(values: pa.ChunkedArray) -> _Groups:
    # Arrow's hash encoding gives one dictionary for all chunks, in order of first appearance
    # (which orders equally frequent top values).
    if pa.types.is_floating(values.type):
        # Missing means null or NaN, and 0.0 equals -0.0 (x + 0.0 turns -0.0 into 0.0):
        # the hash compares bit patterns, the profile compares values.
        zero = arrays.scalar(0.0, pa.float64())
        values = pc.if_else(pc.is_nan(values), arrays.null(values.type), pc.add(values, zero))
    encoded = pc.dictionary_encode(values)
    dictionary = encoded.chunk(0).dictionary if encoded.num_chunks else pa.nulls(0, values.type)
    parts = [
        arrays.to_numpy(pc.fill_null(chunk.indices, arrays.scalar(-1, chunk.indices.type)))
        for chunk in encoded.chunks
    ]
    del encoded
    codes = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
    return _Groups(codes, len(dictionary), dictionary)


def _sorted_groups(values: pa.ChunkedArray) -> _Groups:
    """Codes of a number column by sorting: for nearly all-distinct numbers several times faster
    than Arrow's hash table (which grows with every new value). Missing means null or NaN, and
    0.0 equals -0.0, as in _hash_groups; codes follow the values' order, not first appearance."""
    if pa.types.is_integer(values.type) and not values.null_count:
        numbers = arrays.to_numpy(values)
        distinct, codes = np.unique(numbers, return_inverse=True)
        return _Groups(codes.astype(np.int64, copy=False), len(distinct), None)
    numbers = arrays.floats(values)
    missing = np.isnan(numbers)
    codes = np.full(len(numbers), -1, dtype=np.int64)
    distinct, present = np.unique(numbers[~missing], return_inverse=True)
    codes[~missing] = present
    return _Groups(codes, len(distinct), None)


def _top(groups: _Groups) -> tuple[tuple[str, int], ...]:
    assert groups.dictionary is not None  # text columns are always hashed
    present = groups.codes[groups.codes >= 0]
    if present.size == 0:
        return ()
    counts = np.bincount(present, minlength=groups.distinct)
    # Ties keep the order of first appearance, as the dictionary does.
    order = np.argsort(-counts, kind="stable")[:_TOP]
    values = groups.dictionary.take(arrays.from_numpy(order)).to_pylist()
    return tuple((str(v), int(counts[c])) for v, c in zip(values, order, strict=True))


def _iso(value: pa.Scalar) -> str:
    try:
        return str(value.as_py().isoformat())
    except (OverflowError, ValueError):  # beyond datetime's years 1-9999: pandas reaches further
        import pandas as pd

        return str(pd.Timestamp(np.datetime64(value.value, "ms")).isoformat())


_QUARTILES = np.array([0.25, 0.5, 0.75])


def quartiles(values: np.ndarray) -> tuple[float, float, float]:
    """np.quantile(values, [0.25, 0.5, 0.75]) of finite float64 values, to the last bit, without
    its per-call overhead (a fifth of a wide file's profiling): numpy's default "linear" method,
    step by step as numpy 2 takes it."""
    n = values.size
    virtual = n * _QUARTILES + (1 + _QUARTILES * (1 - 1 - 1)) - 1
    previous = np.floor(virtual)
    after = previous + 1
    last = virtual >= n - 1
    previous[last], after[last] = -1, -1
    first = virtual < 0
    previous[first], after[first] = 0, 0
    low, high = previous.astype(np.intp), after.astype(np.intp)
    ordered = np.partition(values, np.unique(np.concatenate(([0, -1], low, high))))
    a, b = ordered[low], ordered[high]
    gamma = virtual - low
    step = b - a
    result = a + step * gamma
    upper = gamma >= 0.5
    result[upper] = (b - step * (1 - gamma))[upper]
    return float(result[0]), float(result[1]), float(result[2])


def _numeric_stats(values: np.ndarray) -> dict[str, float | int | None]:
    whole = values.sum()  # NaN or infinite when some value is
    finite = values[np.isfinite(values)] if np.isnan(whole) or np.isinf(whole) else values
    if finite.size == 0:
        return {}
    q1, median, q3 = quartiles(finite)
    n = finite.size
    total = float(finite.sum())
    mean = total / n
    centred = finite - mean
    squared = centred * centred
    m2 = float(squared.mean())
    # numpy's own pairwise sum, not np.dot: BLAS splits a dot product over its threads, so its
    # last digits depended on the thread count, and its spinning threads burnt ~0.1 s of CPU.
    m3 = float((squared * centred).sum()) / n
    iqr = q3 - q1
    far = (finite < q1 - _OUTLIER_IQR * iqr) | (finite > q3 + _OUTLIER_IQR * iqr) if iqr > 0 else None
    return {
        "zeros": int(np.count_nonzero(finite == 0)),
        "outliers": 0 if far is None else int(np.count_nonzero(far)),
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


_PLACES_SAMPLE = 4096


def _exact_at(values: np.ndarray, places: int) -> bool:
    scaled = values * 10.0**places
    # Within float error of a whole number: 2443460.05 * 100 is 244346005.00000003.
    return bool(np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * (1.0 + np.abs(scaled))))


def _decimals(values: np.ndarray) -> int | None:
    """The fewest decimal places that show every value exactly (None beyond 4: not money-like).
    Guessed on a strided sample, then checked once on the whole column."""
    finite = values[np.isfinite(values)]
    sample = finite[:: max(1, finite.size // _PLACES_SAMPLE)]
    for places in range(5):
        if _exact_at(sample, places):
            return places if sample.size == finite.size or _exact_at(finite, places) else None
    return None


class _Correlations:
    """Strided float32 samples of the first numeric columns, compared pairwise at the end."""

    def __init__(self, rows: int) -> None:
        self.step = max(1, rows // _CORRELATION_ROWS)
        self.indexes: list[int] = []
        self.samples: list[np.ndarray] = []

    def add(self, index: int, numbers: np.ndarray) -> None:
        if len(self.samples) < _CORRELATION_COLUMNS:
            self.indexes.append(index)
            self.samples.append(numbers[:: self.step].astype(np.float32))

    def pairs(self) -> list[tuple[int, int, float]]:
        """(column, other column, r) with |r| at or above the threshold, strongest first."""
        if len(self.samples) < 2 or self.samples[0].size < _MIN_CORRELATION_ROWS:
            return []
        matrix = np.vstack(self.samples).astype(np.float64)
        present = np.isfinite(matrix)
        means = np.nanmean(np.where(present, matrix, np.nan), axis=1, keepdims=True)
        # A missing value stands at its column's mean: it adds nothing to the covariance.
        centred = np.where(present, matrix - means, 0.0)
        norms = np.sqrt((centred * centred).sum(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (centred @ centred.T) / np.outer(norms, norms)
        found = []
        first, second = np.nonzero(np.triu(np.abs(np.nan_to_num(r)) >= _CORRELATION, k=1))
        for a, b in zip(first.tolist(), second.tolist(), strict=True):
            found.append((self.indexes[a], self.indexes[b], float(r[a, b])))
        found.sort(key=lambda item: -abs(item[2]))
        return found[:_MAX_CORRELATION_ALERTS]


def _column_profile(
    index: int, column: TypedColumn, rows: int, row_key: _RowKey, correlations: _Correlations
) -> ColumnProfile:
    """The column's statistics; its group codes go into the row key and are dropped here."""
    kind = _KIND.get(column.type)
    type_ = column.type
    # Years need their top values, which ascending codes do not give.
    ascending = None if column.type == "year" else _ascending_groups(column.values)
    if ascending is not None:
        groups = ascending
    elif column.varied and kind == "numeric":  # numbers that hardly repeat: sort, not hash
        groups = _sorted_groups(column.values)
    else:
        groups = _hash_groups(column.values)
    row_key.add(groups.codes, groups.distinct)
    distinct = groups.distinct
    mean_length = None
    if column.type == "text":
        mean_length = float(pc.mean(pc.utf8_length(column.values)).as_py())
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
        errors=column.errors,
        error_example=column.error_example,
        date_format=column.date_format,
    )
    if column.type in ("year", "id"):  # a range, but no sum or mean
        bounds = pc.min_max(column.values)
        base = replace(base, minimum=float(bounds["min"].as_py()), maximum=float(bounds["max"].as_py()))
        return replace(base, top=_top(groups)) if groups.dictionary is not None else base
    if kind == "numeric":
        numbers = arrays.floats(column.values)  # nulls are NaN
        correlations.add(index, numbers)
        places = 0 if column.type == "integer" else _decimals(numbers)
        if places is not None and column.type == "float":
            # Money shows kopecks: one or two places are shown as two on every line.
            places = max(places, column.written_places, 2) if places <= 2 else places
        return replace(base, decimals=places, **_numeric_stats(numbers))  # type: ignore[arg-type]
    if kind == "datetime":
        bounds = pc.min_max(column.values)
        if not bounds["min"].is_valid:
            return base
        return replace(base, date_min=_iso(bounds["min"]), date_max=_iso(bounds["max"]))
    return replace(base, top=_top(groups))


class _RowKey:
    """Exact identity of each row built column by column from group codes (no hash collisions),
    so the codes of a column can be dropped as soon as it is profiled."""

    def __init__(self, rows: int) -> None:
        self.key = np.zeros(rows, dtype=np.int64)
        self.bound = 1

    def add(self, codes: np.ndarray, size: int) -> None:
        if self.bound * (size + 1) >= 2**62:  # renumber the keys seen so far: 0..distinct-1
            uniques, key = np.unique(self.key, return_inverse=True)
            self.key, self.bound = key.astype(np.int64, copy=False), len(uniques)
        self.key *= size + 1
        self.key += codes + 1
        self.bound *= size + 1

    def duplicates(self) -> int:
        ordered = np.sort(self.key)  # sorting: a hash set of 200k keys would cost far more memory
        return int(np.count_nonzero(ordered[1:] == ordered[:-1]))


def _distribution_alerts(col: ColumnProfile) -> list[Alert]:
    """Mostly zeros, far outliers, one dominant value: each only with enough values to judge."""
    alerts: list[Alert] = []
    if col.kind == "numeric" and col.count >= _MIN_EVIDENCE and col.zeros >= _ZEROS_SHARE * col.count:
        alerts.append(Alert("zeros", col.index, {"percent": round(100 * col.zeros / col.count)}))
    if col.kind == "numeric" and col.count >= _MIN_SPREAD and col.outliers:
        alerts.append(Alert("outliers", col.index, {"count": col.outliers}))
    if col.kind == "category" and col.distinct >= 2 and col.count >= _MIN_SPREAD and col.top:
        value, times = col.top[0]
        if times >= _IMBALANCE_SHARE * col.count:
            percent = round(100 * times / col.count)
            alerts.append(Alert("imbalanced", col.index, {"value": value[:40], "percent": percent}))
    return alerts


def _alerts(columns: list[ColumnProfile], rows: int, mixes: list[dict[str, int] | None]) -> list[Alert]:
    alerts: list[Alert] = []
    for col, mixed in zip(columns, mixes, strict=True):
        if col.name == OVERFLOW_NAME and col.index == len(columns) - 1:
            continue  # the extra fields of ragged rows: the reading notes speak of them
        if col.type == "empty":
            alerts.append(Alert("empty", col.index))
            continue
        if col.distinct == 1 and rows >= 3:
            value = col.top[0][0] if col.top else "" if col.minimum is None else str(int(col.minimum))
            alerts.append(Alert("constant", col.index, {"value": value}))
        missing = col.missing - col.errors  # errors have an alert of their own
        if rows >= _MIN_EVIDENCE and missing / rows >= _MOSTLY_MISSING:
            alerts.append(Alert("mostly_missing", col.index, {"percent": round(100 * missing / rows)}))
        if col.errors:
            example = (col.error_example or "")[:40]
            alerts.append(Alert("excel_errors", col.index, {"count": col.errors, "example": example}))
        if col.invalid:
            params: dict[str, int | float | str] = {"count": col.invalid, "type": col.type}
            if col.invalid_example is not None:
                params["example"] = col.invalid_example[:40]
            alerts.append(Alert("mixed_types", col.index, params))
        elif mixed is not None:
            alerts.append(Alert("mixed_types", col.index, _mixed_params(mixed)))
        if (
            col.kind in ("category", "text")
            and col.type != "id"
            and col.count >= 20
            and col.distinct >= 0.95 * col.count
        ):
            alerts.append(Alert("high_cardinality", col.index, {"distinct": col.distinct}))
        if (
            col.kind == "numeric"
            and col.skew is not None
            and abs(col.skew) >= _SKEW_ALERT
            and col.count >= 20
        ):
            alerts.append(Alert("skewed", col.index, {"skew": round(col.skew, 1)}))
        alerts.extend(_distribution_alerts(col))
    return alerts


def _mixed_params(mixed: dict[str, int]) -> dict[str, int | float | str]:
    """Numbers and text: the share of numbers, as before; with dates, the share of every kind."""
    if "dates" not in mixed:
        return {"percent": mixed["numbers"]}
    return dict(mixed)


def line_ranges(lines: tuple[int, ...] | list[int]) -> str:
    """1, 2, 3, 5 -> "1–3, 5"."""
    runs: list[list[int]] = []
    for line in sorted(lines):
        if runs and runs[-1][1] == line - 1:
            runs[-1][1] = line
        else:
            runs.append([line, line])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


def _notes(loaded: Loaded, columns: list[ColumnProfile]) -> list[Note]:
    """Every assumption made in reading the file, in the order a reader would check them."""
    table, decimal, notes = loaded.table, loaded.decimal, []
    if loaded.unpacked is not None:
        packed = loaded.unpacked
        notes.append(Note("archive", {"format": packed.format, "member": packed.member or ""}))
        if packed.others:
            notes.append(
                Note("archive_others", {"count": len(packed.others), "names": ", ".join(packed.others)})
            )
    notes += [
        Note("encoding", {"encoding": table.encoding}),
        Note("delimiter", {"delimiter": table.delimiter}),
    ]
    if table.nul_bytes:
        notes.append(Note("nul_bytes", {"count": table.nul_bytes}))
    if table.space_ambiguous:
        notes.append(Note("space_ambiguous"))
    if any(c.kind == "numeric" for c in columns):
        notes.append(Note("decimal", {"decimal": decimal}))
    if table.header:
        notes.append(Note("header", {"line": table.header_line}))
    else:
        notes.append(Note("no_header"))
    if table.skipped_lines:
        notes.append(
            Note(
                "skipped_lines",
                {"count": len(table.skipped_lines), "lines": line_ranges(table.skipped_lines)},
            )
        )
    formats: dict[str, list[str]] = {}
    for column in columns:
        if column.date_format is not None:
            formats.setdefault(column.date_format, []).append(column.name)
    for label, names in formats.items():
        notes.append(Note("date_format", {"format": label, "columns": ", ".join(names)}))
    if table.repeated_headers:
        notes.append(Note("repeated_headers", {"count": table.repeated_headers}))
    if table.totals_row_removed:
        notes.append(Note("totals_row"))
    if table.padded_lines:
        lines = _first_lines(table.padded_lines)
        notes.append(Note("padded_rows", {"count": len(table.padded_lines), "lines": lines}))
    if table.overflow_lines:
        lines = _first_lines(table.overflow_lines)
        notes.append(Note("overflow_rows", {"count": len(table.overflow_lines), "lines": lines}))
    return notes


def _first_lines(lines: tuple[int, ...], shown: int = 5) -> str:
    text = line_ranges(lines[:shown])
    return text + ", …" if len(lines) > shown else text


def build_profile(loaded: Loaded, file_name: str, size: int) -> Profile:
    """Takes the loaded columns: each one is released once profiled, so the hash tables of the
    columns after it reuse its memory."""
    table = loaded.table
    pending, loaded.columns = loaded.columns[::-1], []
    rows = len(pending[-1].values)
    row_key = _RowKey(rows)
    correlations = _Correlations(rows)
    columns: list[ColumnProfile] = []
    mixes: list[dict[str, int] | None] = []
    while pending:
        column = pending.pop()
        columns.append(_column_profile(len(columns), column, rows, row_key, correlations))
        mixes.append(column.mixed)
        del column
    duplicates = row_key.duplicates()
    del row_key
    alerts = _alerts(columns, rows, mixes)
    for first, second, r in correlations.pairs():
        other = columns[second].name[:60]
        alerts.append(Alert("correlated", first, {"other": other, "r": round(r, 2)}))
    del correlations
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
        notes=tuple(_notes(loaded, columns)),
    )


def analyse_csv(data: bytes, file_name: str, limits: CsvLimits | None = None) -> Profile | CsvRejected:
    """Profile an uploaded file, or say why it cannot be read. Pure: safe to run in a worker process.

    A zip of several tables gives the first table's profile with the others' in `parts`, in the
    zip's order, each named by its member."""
    limits = limits or CsvLimits()
    loaded = load(data, limits)
    if isinstance(loaded, CsvRejected):
        return loaded
    more, loaded.more = loaded.more or [], None
    profile = build_profile(loaded, file_name, len(data))
    del loaded
    if not more:
        return profile
    parts: list[Profile] = []
    unread: list[str] = []
    more.reverse()
    while more:  # one table at a time: each one's bytes go once it is profiled
        member, content = more.pop()
        part = load_plain(content, limits)
        if isinstance(part, CsvRejected):
            unread.append(member)
            continue
        part.unpacked = Unpacked(b"", "zip", member)
        parts.append(build_profile(part, member, len(content)))
        del part, content
    notes = [Note("archive_parts", {"count": len(parts) + 1})]
    if unread:
        notes.append(Note("archive_unread", {"count": len(unread), "names": ", ".join(unread)}))
    return replace(profile, notes=(*profile.notes, *notes), parts=tuple(parts))
