"""Find the table in the first 64 KB: delimiter, title lines above it, and whether it has a header."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass

from .values import looks_typed

SAMPLE_CHARS = 64 * 1024
_MAX_RECORDS = 400
_MAX_PREAMBLE = 20
# On a tie the earlier wins: Russian exports use ';' because ',' is their decimal mark.
DELIMITERS = ("\t", ";", "|", ",")
_SEP_LINE = re.compile(r"^\s*sep=(.)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Dialect:
    delimiter: str
    columns: int
    start: int  # byte offset of the first data row (after title lines and the header)
    header: list[str] | None  # header cells, padded or cut to `columns`
    preamble_lines: int  # title lines skipped above the table


def split_records(text: str, limit: int = _MAX_RECORDS) -> list[tuple[int, str]]:
    """(char offset, text) of each record; a newline inside quotes does not end one."""
    records: list[tuple[int, str]] = []
    pos, n = 0, len(text)
    while pos < n and len(records) < limit:
        start, in_quotes = pos, False
        while True:
            quote = text.find('"', pos)
            newline = text.find("\n", pos)
            if in_quotes:
                if quote < 0:
                    pos = n
                    break
                in_quotes, pos = False, quote + 1
            elif quote >= 0 and (newline < 0 or quote < newline):
                in_quotes, pos = True, quote + 1
            else:
                pos = n if newline < 0 else newline + 1
                break
        records.append((start, text[start:pos].rstrip("\r\n")))
    return records


def _fields(record: str, delimiter: str) -> list[str]:
    reader = csv.reader(io.StringIO(record, newline=""), delimiter=delimiter, quotechar='"', strict=False)
    try:
        return next(reader, [])
    except csv.Error:  # quotes that do not pair up under this delimiter: not the delimiter
        return [record]


def _choose_delimiter(records: list[str]) -> tuple[str, int]:
    best, best_score = (",", 1), 0.0
    for delimiter in DELIMITERS:
        counts = [len(_fields(r, delimiter)) for r in records]
        mode, hits = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        score = hits / len(counts)
        if score > best_score:
            best, best_score = (delimiter, mode), score
    return best


def _mostly_typed(values: list[str]) -> bool:
    """At least 80% of the values are numbers or dates; stops as soon as the answer is known."""
    needed = 0.8 * len(values)
    allowed_misses = len(values) - needed
    hits = misses = 0
    for value in values:
        if looks_typed(value):
            hits += 1
            if hits >= needed:
                return True
        else:
            misses += 1
            if misses > allowed_misses:
                return False
    return hits >= needed


def _has_header(first: list[str], rows: list[list[str]]) -> bool:
    """No header when the columns that hold numbers or dates also do so in the first row."""
    typed_columns = []
    for index in range(len(first)):
        values = [row[index] for row in rows if index < len(row) and row[index].strip()]
        if values and _mostly_typed(values):
            typed_columns.append(index)
    if typed_columns:
        return not all(looks_typed(first[i]) for i in typed_columns)
    # Only text: a header if its cells are filled in and distinct.
    cells = [c.strip() for c in first if c.strip()]
    return len(cells) == len(first) and len(set(cells)) == len(cells)


def detect(sample: str, is_whole_file: bool) -> Dialect:
    if not is_whole_file and "\n" in sample:
        sample = sample[: sample.rfind("\n") + 1]  # a cut line would skew the counts
    records = [(o, r) for o, r in split_records(sample) if r.strip()]
    forced = None
    preamble = 0
    if records and (m := _SEP_LINE.match(records[0][1])):
        forced = m.group(1)
        records = records[1:]
        preamble = 1
    if not records:
        return Dialect(forced or ",", 1, len(sample.encode()), None, preamble)
    if forced is not None:
        counts = Counter(len(_fields(r, forced)) for _, r in records)
        delimiter, columns = forced, counts.most_common(1)[0][0]
    else:
        delimiter, columns = _choose_delimiter([r for _, r in records])
    parsed = [_fields(r, delimiter) for _, r in records]
    skip = 0
    if columns >= 2:
        while skip < min(_MAX_PREAMBLE, len(parsed) - 1) and len(parsed[skip]) < max(2, (columns + 1) // 2):
            skip += 1
    preamble += skip
    first = (parsed[skip] + [""] * columns)[:columns]
    rows = parsed[skip + 1 :]
    header = first if not rows or _has_header(first, rows) else None
    row_index = skip + 1 if header is not None else skip
    start_char = records[row_index][0] if row_index < len(records) else len(sample)
    return Dialect(delimiter, columns, len(sample[:start_char].encode()), header, preamble)
