"""Bytes to a table of trimmed strings, refusing early whatever we cannot or will not read.

Pyarrow's CSV reader does the parsing: it is linear and keeps strings in flat buffers, so a
20 MB file stays a few tens of MB in memory. Every column is read as text; types
are decided afterwards (infer.py) so that decimal commas and DD.MM.YYYY dates are ours to judge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pcsv  # type: ignore[import-untyped]

from . import arrays
from .dialect import SAMPLE_CHARS, detect
from .encoding import decode
from .limits import CsvLimits, CsvRejected
from .ragged import OVERFLOW_NAME, RaggedRows, mend
from .sniff import control_ratio, sniff_container

# Cells that mean "no value": exported by Excel, 1C and people typing into a sheet.
NULL_TOKENS = [
    *("", "NA", "N/A", "n/a", "NULL", "null", "None", "NaN", "nan", "#N/A", "-", "—", "–"),
    *("н/д", "Н/Д", "#Н/Д", "#н/д", "нет данных", "Нет данных", "НЕТ ДАННЫХ", "н.д.", "Н.Д."),
]
_TOTALS = re.compile(r"^\s*(итого|всего|итог|total|totals|grand total|sum)\b\s*:?", re.IGNORECASE)
_BLOCK = 1 << 20
_WIDE = 100  # columns
_MAX_BLOCK = 1 << 26
_MAX_NAME = 200  # characters of a header cell kept as the column's name
# More rows than this with the wrong field count: the structure is lost (a wrong delimiter, or
# not a table). Fewer are padded or cut, as DuckDB's null_padding does.
_MAX_BAD_SHARE = 0.5


@dataclass(slots=True)
class RawTable:
    names: list[str]
    columns: list[pa.ChunkedArray]  # strings, whitespace trimmed, empty -> null
    encoding: str
    delimiter: str
    header: bool
    preamble_lines: int = 0
    skipped_rows: int = 0  # rows with a different number of fields
    totals_row_removed: bool = False
    skipped_lines: tuple[int, ...] = ()  # non-blank lines skipped above the table (1-based)
    header_line: int = 0
    space_ambiguous: bool = False
    repeated_headers: int = 0  # copies of the header line inside the data, dropped
    nul_bytes: int = 0  # NUL bytes dropped from the text
    padded_lines: tuple[int, ...] = ()  # file lines of rows with too few fields (padded)
    overflow_lines: tuple[int, ...] = ()  # file lines of rows with too many (extras kept aside)

    @property
    def rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def _names(header: list[str] | None, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for index in range(count):
        raw = " ".join(header[index].split())[:_MAX_NAME] if header is not None else ""
        name = raw or f"column_{index + 1}"
        base, n = name, 2
        while name in seen:
            name, n = f"{base} ({n})", n + 1
        seen.add(name)
        names.append(name)
    return names


# ASCII whitespace, as ascii_trim_whitespace trims it. In UTF-8 these bytes never occur inside a
# multi-byte character, so a value's first and last bytes tell whether it is padded.
_BLANK_BYTES = np.zeros(256, dtype=bool)
_BLANK_BYTES[list(b" \t\r\n\v\f")] = True


def _padded(chunk: pa.Array) -> bool:
    """True when a value of this string chunk starts or ends with a blank (read off its buffers)."""
    _, offsets_buffer, data_buffer = chunk.buffers()
    if len(chunk) == 0 or data_buffer is None or data_buffer.size == 0:
        return False
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=len(chunk) + 1, offset=4 * chunk.offset)
    starts, ends = offsets[:-1], offsets[1:]
    filled = (ends > starts) & arrays.present(chunk)
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    return bool(_BLANK_BYTES[data[starts[filled]]].any() or _BLANK_BYTES[data[ends[filled] - 1]].any())


def _tidy(array: pa.ChunkedArray) -> pa.ChunkedArray:
    # Chunks stay as the parser made them: combining would copy the column.
    # Most exports have no padding: look at first and last bytes before paying for a trimmed
    # copy of the whole column.
    if not any(_padded(chunk) for chunk in array.chunks):
        return array
    # ASCII trimming is several times faster than Unicode; non-breaking spaces inside numbers
    # are handled by the number parser.
    array = pc.ascii_trim_whitespace(array)
    # " - " or " н/д " was not a null token before trimming.
    empty = pc.is_in(array, value_set=_NULL_SET)
    if pc.any(empty).as_py():
        array = pc.if_else(empty, arrays.null(pa.string()), array)
    return array


_NULL_SET = arrays.strings(NULL_TOKENS)
_NULLS = frozenset(NULL_TOKENS)


def _longest(array: pa.Array, limit: int) -> int:
    """Longest value in characters; bytes bound characters from above, so count only if needed."""
    longest_bytes = pc.max(pc.binary_length(array)).as_py() or 0
    if longest_bytes <= limit:
        return int(longest_bytes)
    return int(pc.max(pc.utf8_length(array)).as_py() or 0)


def _is_totals_row(values: list[str | None]) -> bool:
    texts = [v for v in values if v]
    return bool(texts) and _TOTALS.match(texts[0]) is not None and len(texts) >= 2


def _use_returning_allocator() -> None:
    """Prefer jemalloc for Arrow buffers: it hands freed parser blocks back to the system, which
    keeps the worker's peak memory near the data size (mimalloc keeps them). Process-wide, and
    the analysis runs in its own worker process."""
    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):
        return
    if pa.default_memory_pool().backend_name != pool.backend_name:
        pa.set_memory_pool(pool)


def read_table(data: bytes, limits: CsvLimits) -> RawTable | CsvRejected:
    if len(data) > limits.max_bytes:
        return CsvRejected("too_big", {"size": len(data), "limit": limits.max_bytes})
    if not data[:4096].strip() and not data.strip():  # strip() copies: only when the head is blank
        return CsvRejected("empty")
    refused = sniff_container(data)
    if refused is not None:
        return refused
    decoded = decode(data)
    if isinstance(decoded, CsvRejected):
        return decoded
    body = decoded.utf8
    head = bytes(body[:SAMPLE_CHARS])
    if b"\r" in head and b"\n" not in head:
        body = bytes(body).replace(b"\r", b"\n")  # old Mac line endings: rare, so a copy is fine
    whole_bytes: bytes = body.obj if isinstance(body, memoryview) else body  # type: ignore[assignment]
    nul = whole_bytes.count(b"\x00")  # a view's object: no copy
    del whole_bytes
    if nul:
        if nul > 0.01 * len(body):
            return CsvRejected("binary", {"kind": "unknown"})
        body = bytes(body).replace(b"\x00", b"")  # stray NUL bytes (a damaged export): dropped, noted
    first_end = bytes(body[:_BLOCK]).find(b"\n")
    if len(body) > _BLOCK and first_end < 0:
        return CsvRejected("line_too_long", {"limit": _BLOCK})
    # A wide file's lines are long: the sample takes a few whole lines, whatever their length.
    sample_bytes = max(SAMPLE_CHARS, 5 * (first_end + 1))
    whole = len(body) <= sample_bytes
    sample = bytes(body[:sample_bytes]).decode("utf-8", errors="ignore")
    if not sample.strip(" \t\r\n\ufeff"):
        return CsvRejected("empty")
    if control_ratio(sample) > 0.01:
        return CsvRejected("binary", {"kind": "unknown"})
    dialect = detect(sample, whole)
    if dialect.columns > limits.max_columns:
        return CsvRejected("too_many_columns", {"columns": dialect.columns, "limit": limits.max_columns})
    if not bytes(body[dialect.start : dialect.start + 4096]).strip():
        return CsvRejected("header_only" if dialect.header is not None else "empty")
    _use_returning_allocator()
    keys = [f"f{i}" for i in range(dialect.columns)]
    ragged = RaggedRows()
    # Each chunk costs every column a round of kernel calls: a wide file is read as one block.
    block = _BLOCK if dialect.columns <= _WIDE else min(max(len(body) + 1, _BLOCK), _MAX_BLOCK)

    def on_bad_row(row: pcsv.InvalidRow) -> str:
        # Without a row number (never seen single-threaded) the row goes to the end.
        ragged.rows.append((row.number or 2**62, row.text))
        return "skip"

    try:
        table = pcsv.read_csv(
            pa.BufferReader(pa.py_buffer(memoryview(body)[dialect.start :])),  # a view, not a copy
            # One thread: on a 2-core worker it is as fast as two (faster while another job runs),
            # and its freed blocks stay in one allocator arena that the typing reuses, where the
            # parser threads' arenas kept ~10 MB more at the peak.
            read_options=pcsv.ReadOptions(column_names=keys, block_size=block, use_threads=False),
            parse_options=pcsv.ParseOptions(
                delimiter=dialect.delimiter,
                quote_char='"',
                newlines_in_values=True,
                invalid_row_handler=on_bad_row,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(keys, pa.string()),
                null_values=NULL_TOKENS,
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        detail = str(exc).splitlines()[0][:200]
        if "straddling" in detail or "block" in detail:  # a row longer than the parser's block
            return CsvRejected("line_too_long", {"limit": _BLOCK})
        return CsvRejected("unreadable", {"detail": detail})
    total = table.num_rows + len(ragged)
    if total == 0:
        return CsvRejected("header_only" if dialect.header is not None else "empty")
    if table.num_rows == 0 or len(ragged) > max(_MAX_BAD_SHARE * total, 3):
        return CsvRejected("unreadable", {"bad_rows": len(ragged), "rows": total})
    if total > limits.max_rows:
        return CsvRejected("too_many_rows", {"rows": total, "limit": limits.max_rows})
    names = _names(dialect.header, dialect.columns)
    header_cells = dialect.header or [""] * len(keys)
    padded: tuple[int, ...] = ()
    overflowed: tuple[int, ...] = ()
    if len(ragged):
        mended = mend(table, ragged, dialect.delimiter, _NULLS)
        table = mended.table
        first_data_line = dialect.header_line + (1 if dialect.header is not None else 0)
        padded = tuple(first_data_line + n - 1 for n in mended.padded)
        overflowed = tuple(first_data_line + n - 1 for n in mended.overflowed)
        if mended.overflowed:
            names.append(OVERFLOW_NAME)
            header_cells = [*header_cells, ""]  # nameless: a copy of the header has nothing there
        del mended
    raw_columns = table.columns
    del table  # each raw column is freed as soon as its tidy copy exists
    columns: list[pa.ChunkedArray] = []
    kept: list[str] = []
    kept_cells: list[str] = []
    for index, (name, cell) in enumerate(zip(names, header_cells, strict=True)):
        array = _tidy(raw_columns[index])
        raw_columns[index] = None
        if _longest(array, limits.max_cell_chars) > limits.max_cell_chars:
            return CsvRejected("cell_too_long", {"column": name[:60], "limit": limits.max_cell_chars})
        # Trailing delimiters make nameless, empty columns: drop them, keep named empty ones.
        if array.null_count == len(array) and not cell.strip():
            continue
        columns.append(array)
        kept.append(name)
        kept_cells.append(cell.strip())
    if not columns:
        return CsvRejected("header_only" if dialect.header is not None else "empty")
    result = RawTable(
        names=kept,
        columns=columns,
        encoding=decoded.encoding,
        delimiter=dialect.delimiter,
        header=dialect.header is not None,
        preamble_lines=dialect.preamble_lines,
        padded_lines=padded,
        overflow_lines=overflowed,
        skipped_lines=dialect.skipped_lines,
        nul_bytes=nul,
        header_line=dialect.header_line,
        space_ambiguous=dialect.space_ambiguous,
    )
    if dialect.header is not None:
        _drop_repeated_headers(result, kept_cells)
    _drop_totals_row(result)
    if result.rows == 0:
        return CsvRejected("header_only" if result.header else "empty")
    return result


def _drop_repeated_headers(table: RawTable, cells: list[str]) -> None:
    """Files pasted together from several exports repeat the header line inside the data."""
    if not any(cells):
        return
    same: pa.ChunkedArray | None = None
    for array, cell in zip(table.columns, cells, strict=True):
        equal = (
            pc.is_null(array) if not cell else pc.fill_null(pc.equal(array, arrays.text(cell)), arrays.FALSE)
        )
        same = equal if same is None else pc.and_(same, equal)
        if not pc.any(same).as_py():  # usually decided by the first column
            return
    assert same is not None
    table.repeated_headers = int(pc.sum(same).as_py())
    keep = pc.invert(same)
    table.columns = [pc.filter(array, keep) for array in table.columns]


def _drop_totals_row(table: RawTable) -> None:
    """A last row that starts with Итого/Total and holds figures is a sum, not data."""
    last = table.rows - 1
    if last < 1:
        return
    values = [col[last].as_py() for col in table.columns]
    if _is_totals_row(values):
        table.columns = [col.slice(0, last) for col in table.columns]
        table.totals_row_removed = True
