"""The profile of one file: what we found, stored as JSON and rendered again later."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

PROFILE_VERSION = 2
KINDS = ("numeric", "datetime", "category", "text")


@dataclass(frozen=True, slots=True)
class Alert:
    code: str  # constant, empty, mostly_missing, high_cardinality, skewed, mixed_types, duplicates, ...
    column: int | None = None  # index into Profile.columns, None for the whole file
    params: dict[str, int | float | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Note:
    """One assumption made while reading the file (encoding, delimiter, skipped lines, ...)."""

    code: str
    params: dict[str, int | float | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    index: int
    name: str
    # integer, float, year, id, date, datetime, quarter, boolean, category, text, empty
    type: str
    kind: str  # numeric, datetime, category, text: what a chart or a group-by may do with it
    count: int  # non-missing values
    missing: int
    distinct: int
    invalid: int = 0  # values that did not fit the column's type (counted as missing)
    invalid_example: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    std: float | None = None
    total: float | None = None
    skew: float | None = None
    date_min: str | None = None  # ISO 8601
    date_max: str | None = None
    mean_length: float | None = None
    top: tuple[tuple[str, int], ...] = ()
    decimals: int | None = None  # places every value of a number column is shown with
    errors: int = 0  # Excel error values (#DIV/0!, #ЗНАЧ!): errors in the source, counted as missing
    error_example: str | None = None
    date_format: str | None = None  # how the dates were written, e.g. DD.MM.YYYY
    zeros: int = 0  # values equal to zero (number columns)
    outliers: int = 0  # values beyond 3 interquartile ranges from the quartiles


@dataclass(frozen=True, slots=True)
class Profile:
    file_name: str
    size_bytes: int
    n_rows: int
    n_columns: int
    encoding: str
    delimiter: str
    decimal: str
    header: bool
    totals_row_removed: bool
    preamble_lines: int
    skipped_rows: int
    duplicate_rows: int
    columns: tuple[ColumnProfile, ...]
    alerts: tuple[Alert, ...] = ()
    notes: tuple[Note, ...] = ()  # how the file was read, in order: every assumption made
    version: int = PROFILE_VERSION
    parts: tuple[Profile, ...] = ()  # the next tables of a zip, each profiled, in the zip's order

    def to_json(self) -> str:
        # The encoder walks the dataclasses itself (``_fields_of``): the same JSON as
        # ``json.dumps(asdict(self))``, without asdict's deep copy of every value.
        return json.dumps(
            self, default=_fields_of, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, text: str) -> Profile:
        return cls._from_dict(json.loads(text))

    @classmethod
    def _from_dict(cls, raw: dict[str, Any]) -> Profile:
        parts = tuple(cls._from_dict(p) for p in raw.pop("parts", ()))
        columns = tuple(
            ColumnProfile(**{**c, "top": tuple((str(v), int(n)) for v, n in c["top"])})
            for c in raw.pop("columns")
        )
        alerts = tuple(Alert(**a) for a in raw.pop("alerts"))
        notes = tuple(Note(**n) for n in raw.pop("notes", ()))
        return cls(**raw, columns=columns, alerts=alerts, notes=notes, parts=parts)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {
    kind: tuple(f.name for f in fields(kind)) for kind in (Profile, ColumnProfile, Alert, Note)
}


def _fields_of(value: object) -> dict[str, Any]:
    """A profile's dataclass as the mapping JSON writes (its fields, in declaration order)."""
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return {name: getattr(value, name) for name in names}


def column_choices(profile: Profile) -> list[tuple[int, str, str]]:
    """(index, name, kind) of every column, for building buttons."""
    return [(c.index, c.name, c.kind) for c in profile.columns]
