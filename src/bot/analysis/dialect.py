"""Find the table in the first 64 KB: delimiter, title lines above it, and whether it has a header."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass

from .values import looks_typed, settled_flags

SAMPLE_CHARS = 64 * 1024
_MAX_RECORDS = 400
_MAX_PREAMBLE = 20
# On a tie the earlier wins: Russian exports use ';' because ',' is their decimal mark.
# A space comes last and only when nothing else splits the file (see _choose_delimiter).
DELIMITERS = ("\t", ";", "|", ",", " ")
_SPACE_GROUPS = re.compile(r"^[+-]?\d{1,3}(?: \d{3})+(?:[.,]\d+)?$")
_SEP_LINE = re.compile(r"^\s*sep=(.)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Dialect:
    delimiter: str
    columns: int
    start: int  # byte offset of the first data row (after title lines and the header)
    header: list[str] | None  # header cells, padded or cut to `columns`
    preamble_lines: int  # physical lines above the table (title, comment and blank lines)
    skipped_lines: tuple[int, ...] = ()  # 1-based numbers of the lines skipped above it
    header_line: int = 0  # 1-based line of the header (or of the first row without one)
    space_ambiguous: bool = False  # some rows also read as one space-grouped number


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
    if '"' not in record and "\r" not in record:
        return record.split(delimiter)  # what the csv module returns for it, without its cost
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
        # Spaces also group thousands and fill free text: a space-delimited table splits
        # every line, its header included, into the same number of fields.
        if delimiter == " " and (best_score or score < 0.9 or counts[0] != mode):
            continue
        if score > best_score:
            best, best_score = (delimiter, mode), score
    return best


def _filled(fields: list[str]) -> int:
    return sum(1 for f in fields if f.strip())


def _is_preamble(record: str, fields: list[str], columns: int, needed: int) -> bool:
    """A title, comment or metadata line: starts with '#', has far fewer fields than a row, or
    fills only its first few cells ("Period:;01.03.2024 - 31.03.2024;;") where a row fills most."""
    if record.lstrip().startswith("#") or len(fields) < max(2, (columns + 1) // 2):
        return True
    filled = _filled(fields)
    return filled < needed and _filled(fields[:filled]) == filled


def _clean_cell(cell: str) -> str:
    """A header cell without the quotes a 'a", "b' style header leaves around it."""
    cell = cell.strip()
    if len(cell) >= 2 and cell[0] == cell[-1] == '"':
        cell = cell[1:-1].replace('""', '"').strip()
    return cell


def _mostly_typed(values: list[str], settled: list[bool | None]) -> bool:
    """At least 80% of the values are numbers or dates. Values the Arrow pass left open are
    judged one by one, only until the answer is sure."""
    needed = 0.8 * len(values)
    typed = sum(1 for flag in settled if flag)
    open_ = [v for v, flag in zip(values, settled, strict=True) if flag is None]
    left = len(open_)
    if typed >= needed or typed + left < needed:
        return typed >= needed
    for value in open_:
        typed += looks_typed(value)
        left -= 1
        if typed >= needed or typed + left < needed:
            break
    return typed >= needed


def _has_header(first: list[str], rows: list[list[str]]) -> bool:
    """No header when the columns that hold numbers or dates also do so in the first row."""
    columns = [[row[i] for row in rows if i < len(row) and row[i].strip()] for i in range(len(first))]
    # One Arrow pass settles most values of a wide sample (hundreds of thousands of them).
    flat = settled_flags([value for values in columns for value in values])
    settled, start = [], 0
    for values in columns:
        settled.append(flat[start : start + len(values)])
        start += len(values)

    def typed_column(index: int) -> bool:
        return bool(columns[index]) and _mostly_typed(columns[index], settled[index])

    # A typed column whose first cell is not typed makes the first row a header: those
    # columns are looked at first, and the first one found decides.
    first_typed = [looks_typed(cell) for cell in first]
    if any(typed_column(i) for i in range(len(first)) if not first_typed[i]):
        return True
    if any(typed_column(i) for i in range(len(first)) if first_typed[i]):
        return False  # every typed column is typed in the first row too: it is data
    # Only text: a header if its cells are filled in and distinct.
    cells = [c.strip() for c in first if c.strip()]
    return len(cells) == len(first) and len(set(cells)) == len(cells)


def detect(sample: str, is_whole_file: bool) -> Dialect:
    if not is_whole_file and "\n" in sample:
        sample = sample[: sample.rfind("\n") + 1]  # a cut line would skew the counts
    records = [(o, r) for o, r in split_records(sample) if r.strip()]
    forced = None
    sep_lines: tuple[int, ...] = ()
    if records and (m := _SEP_LINE.match(records[0][1])):
        forced = m.group(1)
        sep_lines = (sample.count("\n", 0, records[0][0]) + 1,)
        records = records[1:]
    if not records:
        return Dialect(forced or ",", 1, len(sample.encode()), None, len(sep_lines), sep_lines)
    if forced is not None:
        counts = Counter(len(_fields(r, forced)) for _, r in records)
        delimiter, columns = forced, counts.most_common(1)[0][0]
    else:
        delimiter, columns = _choose_delimiter([r for _, r in records])
    parsed = [_fields(r, delimiter) for _, r in records]
    skip = 0
    if columns >= 2:
        # A row fills most of its cells; a title or "Period: ..." line above the table does not.
        typical = sorted(_filled(p) for p in parsed)[len(parsed) // 2]
        needed = max(2, -(-3 * min(typical, columns) // 4))
        limit = min(_MAX_PREAMBLE, len(parsed) - 1)
        while skip < limit and _is_preamble(records[skip][1], parsed[skip], columns, needed):
            skip += 1
    first = ([_clean_cell(c) for c in parsed[skip]] + [""] * columns)[:columns]
    rows = parsed[skip + 1 :]
    header = first if not rows or _has_header(first, rows) else None
    row_index = skip + 1 if header is not None else skip
    start_char = records[row_index][0] if row_index < len(records) else len(sample)
    header_line = sample.count("\n", 0, records[skip][0]) + 1
    skipped = tuple(range(1, header_line))  # everything above the table, blank lines included
    ambiguous = delimiter == " " and any(_SPACE_GROUPS.match(r) for _, r in records[skip + 1 :])
    return Dialect(
        delimiter,
        columns,
        len(sample[:start_char].encode()),
        header,
        header_line - 1,
        skipped,
        header_line,
        ambiguous,
    )
