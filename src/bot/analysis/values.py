"""Recognising numbers and dates as people write them, and converting whole columns at once.

A column's convention (decimal comma or point, date format) is decided on a sample of its values
in Python; the whole column is then converted with vectorised Arrow kernels, where a value that
does not fit the convention becomes null and is counted as invalid. Patterns are written in the
common subset of Python `re` and RE2 (Arrow's engine) so one text serves both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from . import arrays
from .datewords import PARTS_FORMS, PartsForm, parse_parts, parts_to_dates

Decimal = Literal[".", ","]

# Currency and percent signs around a number.
_AFFIXES = r"^[$€£₽¥]\s*|\s*(?:₽|руб\.?|р\.|RUB|USD|EUR|[$€£¥%])$"
# Spaces (and apostrophes) group thousands only between groups of exactly three digits:
# "5 162 60" is three fields of a space-delimited file, not 516260.
_SPACES = r"[ \x{00a0}\x{202f}\x{2009}']"
_PY_SPACES = r"[ \u00a0\u202f\u2009']"
_EXP = r"(?:[eE][+-]?\d+)?"


def _number_patterns(spaces: str) -> dict[str, str]:
    grouped = r"\d{1,3}(?:" + spaces + r"\d{3})+"
    return {
        ".": r"^[+-]?(?:\d{1,3}(?:,\d{3})+|"
        + grouped
        + r"|\d+)(?:\.\d*)?"
        + _EXP
        + r"$|^[+-]?\.\d+"
        + _EXP
        + "$",
        ",": r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|" + grouped + r"|\d+)(?:,\d*)?$|^[+-]?,\d+$",
    }


NUMBER_PATTERNS: dict[str, str] = _number_patterns(_SPACES)
_PY_NUMBER = {k: re.compile(v) for k, v in _number_patterns(_PY_SPACES).items()}
_PY_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:" + _PY_SPACES + r"\d{3})+(?:[.,]\d*)?$")
# Values that show which convention a column uses; anything else (integers, 1,234) is neutral.
_VOTES: tuple[tuple[re.Pattern[str], Decimal], ...] = (
    (re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+\.\d+$"), "."),
    (re.compile(r"^[+-]?\d{1,3}(?:,\d{3}){2,}$"), "."),
    (re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+,\d+$"), ","),
    (re.compile(r"^[+-]?\d{1,3}(?:\.\d{3}){2,}$"), ","),
    (re.compile(r"^[+-]?\d*,(?:\d{1,2}|\d{4,})$"), ","),
    (re.compile(r"^[+-]?0,\d+$"), ","),
    (re.compile(r"^[+-]?\d*\.(?:\d{1,2}|\d{4,})" + _EXP + "$"), "."),
    (re.compile(r"^[+-]?0\.\d+$"), "."),
    (re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$"), "."),
)
# The same affixes for Python's backtracking engine, split so that a long run of blanks
# inside a cell costs linear time: `\s*X$` tried at every blank is quadratic.
_PY_PREFIX = re.compile(r"^[$€£₽¥]\s*")
_PY_SUFFIX = re.compile(r"(?:₽|руб\.?|р\.|RUB|USD|EUR|[$€£¥%])$")


def _clean_number_text(value: str) -> str:
    text = _PY_PREFIX.sub("", value.strip(), count=1)
    suffix = _PY_SUFFIX.search(text)
    if suffix is not None:
        text = text[: suffix.start()].rstrip()
    if _PY_GROUPED.match(text):
        return re.sub(_PY_SPACES, "", text)
    return text


def number_vote(value: str) -> Decimal | None:
    text = _clean_number_text(value)
    for pattern, vote in _VOTES:
        if pattern.match(text):
            return vote
    return None


def is_number(value: str, decimal: Decimal | None = None) -> bool:
    text = _clean_number_text(value)
    if decimal is not None:
        return _PY_NUMBER[decimal].match(text) is not None
    return any(p.match(text) for p in _PY_NUMBER.values())


def decimal_votes(sample: Sequence[str]) -> dict[Decimal, int]:
    """How many values show a decimal point and how many a decimal comma."""
    votes: dict[Decimal, int] = {".": 0, ",": 0}
    for value in sample:
        vote = number_vote(value)
        if vote is not None:
            votes[vote] += 1
    return votes


def choose_decimal(votes: dict[Decimal, int], default: Decimal) -> Decimal:
    """The column's convention from its votes (see decimal_votes); a tie keeps the default."""
    if votes["."] == votes[","]:
        return default
    return "." if votes["."] > votes[","] else ","


_PLAIN = {
    ".": re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"),
    ",": re.compile(r"^[+-]?\d+(?:,\d+)?$"),
}


def plain_numbers(sample: Sequence[str], decimal: Decimal) -> bool:
    """True when the sample holds only bare numbers, so a direct cast will likely succeed."""
    return all(_PLAIN[decimal].match(v) for v in sample)


def to_numbers(strings: pa.Array, decimal: Decimal, plain: bool = False) -> pa.Array:
    """Float64 array; values that are not numbers in this convention become null.

    With `plain` (the sample held bare numbers) a direct cast is tried first: one fast kernel
    instead of five when every value is clean.
    """
    if plain:
        text = strings if decimal == "." else pc.replace_substring(strings, pattern=",", replacement=".")
        try:
            return arrays.cast(text, pa.float64())
        except pa.ArrowInvalid:
            pass  # some value needs cleaning or is not a number: take the careful path
    valid = pc.match_substring_regex(strings, pattern=NUMBER_PATTERNS[decimal])
    if _count(valid) == len(strings) - strings.null_count:
        text = strings  # every value a number as written ("1 234,56"): no sign to strip, none to drop
    else:
        text = pc.replace_substring_regex(strings, pattern=_AFFIXES, replacement="")
        valid = pc.match_substring_regex(text, pattern=NUMBER_PATTERNS[decimal])
        text = pc.if_else(valid, text, arrays.null(pa.string()))
    # Literal replacements, each only when its character occurs: several times faster than
    # one regex replacement of the whole class.
    ascii_only = pc.all(pc.string_is_ascii(text)).as_py() is not False
    for space in _SPACE_CHARS:
        if space.isascii() or not ascii_only:
            text = _without(text, space)
    if decimal == ".":
        text = _without(text, ",")
    else:
        text = _without(text, ".")
        text = _without(text, ",", ".")
    return arrays.cast(text, pa.float64())


_SPACE_CHARS = (" ", "\u00a0", "\u202f", "\u2009", "'")  # the characters of _SPACES


def _count(mask: pa.Array | pa.ChunkedArray) -> int:
    return int(pc.sum(mask).as_py() or 0)


def _without(text: pa.Array, old: str, new: str = "") -> pa.Array:
    if not pc.any(pc.match_substring(text, pattern=old)).as_py():
        return text
    return pc.replace_substring(text, pattern=old, replacement=new)


# ---------------------------------------------------------------- dates


@dataclass(frozen=True, slots=True)
class DateFormat:
    name: str  # strptime format, "iso", or "parts" (a form of datewords.py)
    pattern: str  # regex every value must match (parts: on the lower-cased value)
    has_time: bool
    form: PartsForm | None = None

    @property
    def label(self) -> str:
        """How the dates were written, for the reading notes: DD.MM.YYYY, 5 марта 2024, ..."""
        if self.form is not None:
            return self.form.label
        if self.name == "iso":
            return "YYYY-MM-DD hh:mm" if self.has_time else "YYYY-MM-DD"
        text = self.name
        for code, shown in (
            ("%d", "DD"),
            ("%m", "MM"),
            ("%Y", "YYYY"),
            ("%y", "YY"),
            ("%H", "hh"),
            ("%M", "mm"),
        ):
            text = text.replace(code, shown)
        return text.replace("%S", "ss")

    @property
    def quarter(self) -> bool:
        return self.form is not None and self.form.quarter


_T = r"\d{1,2}:\d{2}"
DATE_FORMATS: tuple[DateFormat, ...] = (
    DateFormat("iso", r"^\d{4}-\d{2}-\d{2}$", False),
    DateFormat(
        "iso",
        r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$",
        True,
    ),
    DateFormat("%d.%m.%Y", r"^\d{1,2}\.\d{1,2}\.\d{4}$", False),
    DateFormat("%d.%m.%Y %H:%M:%S", r"^\d{1,2}\.\d{1,2}\.\d{4} " + _T + r":\d{2}$", True),
    DateFormat("%d.%m.%Y %H:%M", r"^\d{1,2}\.\d{1,2}\.\d{4} " + _T + "$", True),
    DateFormat("%d.%m.%y", r"^\d{1,2}\.\d{1,2}\.\d{2}$", False),
    DateFormat("%d/%m/%Y", r"^\d{1,2}/\d{1,2}/\d{4}$", False),
    DateFormat("%m/%d/%Y", r"^\d{1,2}/\d{1,2}/\d{4}$", False),
    DateFormat("%d/%m/%Y %H:%M:%S", r"^\d{1,2}/\d{1,2}/\d{4} " + _T + r":\d{2}$", True),
    DateFormat("%m/%d/%Y %H:%M:%S", r"^\d{1,2}/\d{1,2}/\d{4} " + _T + r":\d{2}$", True),
    DateFormat("%d/%m/%Y %H:%M", r"^\d{1,2}/\d{1,2}/\d{4} " + _T + "$", True),
    DateFormat("%m/%d/%Y %H:%M", r"^\d{1,2}/\d{1,2}/\d{4} " + _T + "$", True),
    DateFormat("%Y/%m/%d", r"^\d{4}/\d{1,2}/\d{1,2}$", False),
    DateFormat("%d-%m-%Y", r"^\d{1,2}-\d{1,2}-\d{4}$", False),
    *(DateFormat("parts", form.pattern, False, form) for form in PARTS_FORMS),
)
YYYYMMDD = DATE_FORMATS[-1]
_PY_DATE = [re.compile(f.pattern) for f in DATE_FORMATS]
_PARTS_INDEX = {form.label: i for i, form in enumerate(PARTS_FORMS)}


def _matches(index: int, value: str) -> bool:
    fmt = DATE_FORMATS[index]
    return bool(_PY_DATE[index].match(value.strip().lower() if fmt.form else value))


_ISO_FRACTION = r"(\.\d{3})\d+"
_ISO_ZONE = r"(\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?)(?:Z|[+-]\d{2}:?\d{2})$"


def _parses(fmt: DateFormat, index: int, value: str) -> bool:
    if not _matches(index, value):
        return False
    if fmt.form is not None:
        return parse_parts(_PARTS_INDEX[fmt.form.label], value) is not None
    if fmt.name == "iso":
        value = re.sub(_ISO_ZONE, r"\1", re.sub(_ISO_FRACTION, r"\1", value)).replace("T", " ")
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    try:
        datetime.strptime(value, fmt.name)  # noqa: DTZ007 - naive wall-clock dates by design
    except ValueError:
        return False
    return True


def _union(patterns: list[str]) -> re.Pattern[str]:
    """One pattern that matches where any of them does (named groups made plain: names repeat)."""
    return re.compile("|".join(f"(?:{re.sub(r'[(][?]P<[a-z]+>', '(?:', p)})" for p in patterns))


# A value none of the formats' patterns match is no date: one regex call instead of one a format.
_ANY_DATE = _union([f.pattern for f in DATE_FORMATS if f.form is None])
_ANY_PARTS = _union([f.pattern for f in DATE_FORMATS if f.form is not None])


def is_date(value: str) -> bool:
    value = value.strip()
    if not _ANY_DATE.match(value) and not _ANY_PARTS.match(value.lower()):
        return False
    return any(_parses(f, i, value) for i, f in enumerate(DATE_FORMATS))


def choose_date_format(sample: Sequence[str], min_share: float) -> DateFormat | None:
    """The format most of the sample parses with (earlier formats win ties: day first)."""
    if not sample:
        return None
    best, best_hits = None, 0
    for index, fmt in enumerate(DATE_FORMATS):
        if not _matches(index, sample[0]) and not _matches(index, sample[-1]):
            continue  # cheap reject: most columns are not dates at all
        hits = sum(1 for v in sample if _parses(fmt, index, v))
        if hits > best_hits:
            best, best_hits = fmt, hits
        if hits == len(sample):
            break
    if best is None or best_hits < min_share * len(sample):
        return None
    return best


def to_dates(strings: pa.Array, fmt: DateFormat) -> pa.Array:
    """timestamp[ms] array; values that do not match the format become null."""
    if fmt.form is not None:
        return parts_to_dates(strings, fmt.form)
    if fmt.name != "iso":
        dates = pc.strptime(strings, format=fmt.name, unit="ms", error_is_null=True)
        # Arrow's %Y also takes two-digit years; such a value belongs to another format.
        too_early = pc.less(pc.year(dates), arrays.scalar(1000, pa.int64()))
        return pc.if_else(too_early, arrays.null(dates.type), dates)
    try:
        return arrays.cast(strings, pa.timestamp("ms"))  # clean ISO values: one kernel
    except pa.ArrowInvalid:
        pass
    valid = pc.match_substring_regex(strings, pattern=fmt.pattern)
    strings = pc.if_else(valid, strings, arrays.null(pa.string()))
    strings = pc.replace_substring_regex(strings, pattern=_ISO_FRACTION, replacement=r"\1")
    strings = pc.replace_substring_regex(strings, pattern=_ISO_ZONE, replacement=r"\1")
    try:
        return arrays.cast(strings, pa.timestamp("ms"))
    except pa.ArrowInvalid:
        # Impossible calendar dates (2024-02-30) fail the cast: parse with the slower strptime.
        fmt_text = "%Y-%m-%dT%H:%M:%S" if fmt.has_time else "%Y-%m-%d"
        strings = pc.replace_substring_regex(strings, pattern=r"\.\d+$", replacement="")
        strings = pc.replace_substring(strings, pattern=" ", replacement="T")
        return pc.strptime(strings, format=fmt_text, unit="ms", error_is_null=True)


def looks_typed(value: str) -> bool:
    """A number or a date: used to tell a header row from a data row."""
    return bool(value.strip()) and (is_number(value) or is_date(value))


# Every number and date format needs a digit (Python's \d is any Unicode decimal digit, \p{Nd}
# in RE2); a bare number (1234.5, 1234,5, 1 234,5) is a number in one convention or the other.
_ANY_DIGIT = r"\p{Nd}"
_BARE_NUMBER = r"^[+-]?(?:[0-9]+|[0-9]{1,3}(?: [0-9]{3})+)(?:[.,][0-9]+)?$"
_FEW = 32  # below this many values, building an Arrow array costs more than it saves


def settled_flags(values: Sequence[str]) -> list[bool | None]:
    """looks_typed(v) where Arrow kernels settle it at once (no digit: False; a bare number:
    True), None where only :func:`looks_typed` can tell."""
    if len(values) < _FEW:
        return [None] * len(values)
    array = arrays.strings(list(values))
    digit = pc.match_substring_regex(array, pattern=_ANY_DIGIT).to_pylist()
    bare = pc.match_substring_regex(array, pattern=_BARE_NUMBER).to_pylist()
    return [True if b else (None if d else False) for d, b in zip(digit, bare, strict=True)]
