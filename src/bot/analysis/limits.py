"""Limits on what we agree to read, and the refusal we answer with when a file is outside them."""

from __future__ import annotations

from dataclasses import dataclass, field

# Refusal codes; every one has a text in texts.py (ru and en) saying what is wrong and how to fix it.
REJECTION_CODES = (
    "too_big",  # params: size, limit (bytes)
    "empty",  # nothing but whitespace
    "compressed",  # params: format (gzip, zip, bz2, xz, 7z, rar, zstd)
    "excel",  # params: format (xlsx, xls): a workbook renamed .csv
    "binary",  # params: kind (pdf, png, ..., unknown)
    "encoding",  # could not tell the text encoding
    "header_only",  # a header line and no data rows
    "too_many_columns",  # params: columns, limit
    "too_many_rows",  # params: rows, limit
    "cell_too_long",  # params: column, limit (usually an unclosed quote)
    "line_too_long",  # params: limit (bytes): one line longer than the parser's block
    "unreadable",  # params: bad_rows, rows (most rows have the wrong number of fields) or detail
    "bad_column",  # params: column (an index that the file does not have, or of the wrong kind)
    "unpacked_too_big",  # params: limit (bytes): an archive that unpacks to more than we read
    "unpack_ratio",  # params: limit: an archive that unpacks to more than `limit` times its size
    "archive_broken",  # params: format: a damaged, truncated or encrypted archive
    "archive_empty",  # an archive with no file in it
)


@dataclass(frozen=True, slots=True)
class CsvLimits:
    max_bytes: int = 20 * 1024 * 1024  # Telegram bots cannot download more anyway
    max_rows: int = 1_000_000
    max_columns: int = 20_000
    max_cell_chars: int = 10_000
    # Real tables compress 5-50 times; a bomb compresses thousands of times.
    max_unpack_ratio: int = 200


@dataclass(frozen=True, slots=True)
class CsvRejected:
    code: str
    params: dict[str, int | str] = field(default_factory=dict)


class AnalysisError(Exception):
    """Raised by the interactive functions (charts, tables) when they cannot answer.

    Carries the same code/params as a CsvRejected so one text table serves both.
    """

    def __init__(self, code: str, params: dict[str, int | str] | None = None) -> None:
        super().__init__(code, params or {})
        self.code = code
        self.params: dict[str, int | str] = params or {}

    @property
    def rejected(self) -> CsvRejected:
        return CsvRejected(self.code, dict(self.params))
