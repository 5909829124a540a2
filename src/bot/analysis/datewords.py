"""Dates written in parts: month names (Russian and English), quarters, and YYYYMMDD integers.

Each form is one regular expression with named groups y, m (a number or a month name), d and q
(a quarter, 1-4 or I-IV). The same text serves Python `re` on a sample and RE2 on the whole
column, where `extract_regex` splits every value into its parts in one kernel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from . import arrays

_YEAR_SUFFIX = r"(?:\s*(?:г|года?)\.?)?"
_STEMS = {
    **dict.fromkeys(("янв", "jan"), 1),
    **dict.fromkeys(("фев", "feb"), 2),
    **dict.fromkeys(("мар", "mar"), 3),
    **dict.fromkeys(("апр", "apr"), 4),
    **dict.fromkeys(("май", "мая", "may"), 5),
    **dict.fromkeys(("июн", "jun"), 6),
    **dict.fromkeys(("июл", "jul"), 7),
    **dict.fromkeys(("авг", "aug"), 8),
    **dict.fromkeys(("сен", "sep"), 9),
    **dict.fromkeys(("окт", "oct"), 10),
    **dict.fromkeys(("ноя", "nov"), 11),
    **dict.fromkeys(("дек", "dec"), 12),
}
_QUARTERS = {"1": 1, "2": 2, "3": 3, "4": 4, "i": 1, "ii": 2, "iii": 3, "iv": 4}


@dataclass(frozen=True, slots=True)
class PartsForm:
    label: str  # shown in the reading notes: how the dates were written
    pattern: str  # on lower-cased, trimmed text
    quarter: bool = False


PARTS_FORMS: tuple[PartsForm, ...] = (
    PartsForm(
        "5 марта 2024",
        r"^(?P<d>\d{1,2})\s+(?P<m>[а-яё]{3})[а-яё]*\.?\s+(?P<y>\d{4})" + _YEAR_SUFFIX + "$",
    ),
    PartsForm("1 Jan 1995", r"^(?P<d>\d{1,2})[\s-]+(?P<m>[a-z]{3})[a-z]*\.?,?[\s-]+(?P<y>\d{4})$"),
    PartsForm(
        "Jan-1-1995",
        r"^(?P<m>[a-z]{3})[a-z]*\.?[\s-]+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?[\s-]+(?P<y>\d{4})$",
    ),
    PartsForm("март 2024", r"^(?P<m>[a-zа-яё]{3})[a-zа-яё]*\.?[\s-]+(?P<y>\d{4})" + _YEAR_SUFFIX + "$"),
    PartsForm("2024 Q3", r"^(?P<y>\d{4})\s*-?\s*(?:q|кв\.?)\s*(?P<q>[1-4])$", quarter=True),
    PartsForm("Q3 2024", r"^q(?P<q>[1-4])[\s-]*(?P<y>\d{4})$", quarter=True),
    PartsForm(
        "I кв. 2024",
        r"^(?P<q>iv|i{1,3}|[1-4])\s*(?:-?й\s*)?(?:кв\.?|квартал)\s*(?P<y>\d{4})" + _YEAR_SUFFIX + "$",
        quarter=True,
    ),
    PartsForm("YYYYMMDD", r"^(?P<y>(?:19|20)\d{2})(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])$"),
)
_COMPILED = [re.compile(f.pattern) for f in PARTS_FORMS]


def parse_parts(form_index: int, value: str) -> datetime | None:
    """The date a value names in this form, or None (also for 31 February)."""
    match = _COMPILED[form_index].match(value.strip().lower())
    if match is None:
        return None
    groups = match.groupdict()
    if PARTS_FORMS[form_index].quarter:
        month = 3 * _QUARTERS[groups["q"]] - 2
    else:
        raw = groups["m"]
        month = int(raw) if raw.isdigit() else _STEMS.get(raw, 0)
    try:
        return datetime(int(groups["y"]), month, int(groups.get("d") or 1))  # noqa: DTZ001 - naive dates
    except ValueError:
        return None


def _lookup(parts: pa.Array, table: dict[str, int]) -> pa.Array:
    keys = list(table)
    index = pc.index_in(parts, value_set=arrays.strings(keys))
    return pc.take(arrays.integers([table[k] for k in keys]), index)


def _two_digits(numbers: pa.Array) -> pa.Array:
    return pc.utf8_lpad(pc.cast(numbers, pa.string()), width=2, padding="0")


def _chunk_to_dates(strings: pa.Array, form: PartsForm) -> pa.Array:
    text = pc.utf8_lower(pc.utf8_trim_whitespace(strings))
    parts = pc.extract_regex(text, pattern=form.pattern)
    names = [parts.type.field(i).name for i in range(parts.type.num_fields)]
    valid = pc.is_valid(parts)
    none = arrays.null(pa.string())
    # A value that does not match has an empty string in every part: make those parts null.
    fields = {name: pc.if_else(valid, pc.struct_field(parts, [i]), none) for i, name in enumerate(names)}
    if form.quarter:
        quarter = _lookup(fields["q"], _QUARTERS)
        three, two = arrays.scalar(3, pa.int64()), arrays.scalar(2, pa.int64())
        month = pc.subtract(pc.multiply(quarter, three), two)
        month_text = _two_digits(month)
    elif form.label == "YYYYMMDD":
        month_text = fields["m"]
    else:
        month_text = _two_digits(_lookup(fields["m"], _STEMS))
    day_text = _two_digits(pc.cast(fields["d"], pa.int64())) if "d" in fields else None
    if day_text is None:
        day_text = pc.if_else(pc.is_valid(month_text), arrays.text("01"), none)
    iso = pc.binary_join_element_wise(fields["y"], month_text, day_text, arrays.text("-"))
    dates = pc.strptime(iso, format="%Y-%m-%d", unit="ms", error_is_null=True)
    # strptime rolls 31 February over into March: keep only dates that read back the same.
    real = pc.equal(pc.strftime(dates, format="%Y-%m-%d"), iso)
    return pc.if_else(real, dates, arrays.null(dates.type))


def parts_to_dates(strings: pa.Array | pa.ChunkedArray, form: PartsForm) -> pa.Array | pa.ChunkedArray:
    """timestamp[ms] values; a value not in this form (or not a real date) becomes null."""
    if isinstance(strings, pa.ChunkedArray):
        chunks = [_chunk_to_dates(chunk, form) for chunk in strings.chunks]
        return pa.chunked_array(chunks, type=pa.timestamp("ms"))
    return _chunk_to_dates(strings, form)
