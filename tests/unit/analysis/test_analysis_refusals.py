"""Files we cannot read get a refusal with the right code and a message saying how to fix it."""

from __future__ import annotations

import gzip
import io

import pytest
from analysis_helpers import rejected_of

from bot.analysis import REJECTION_CODES, CsvLimits, CsvRejected, analyse_csv, rejection_text

CSV = b"a,b\n1,2\n3,4\n"


@pytest.mark.parametrize("data", [b"", b"   \r\n\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"])
def test_empty(data: bytes) -> None:
    assert rejected_of(data).code == "empty"


def test_header_only() -> None:
    assert rejected_of(b"name;amount;date\r\n").code == "header_only"


def test_an_archive_within_an_archive_is_refused() -> None:
    refused = rejected_of(gzip.compress(gzip.compress(CSV)))
    assert (refused.code, refused.params) == ("compressed", {"format": "gzip"})


def test_seven_zip_is_refused() -> None:
    refused = rejected_of(b"7z\xbc\xaf\x27\x1c" + bytes(100))
    assert (refused.code, refused.params) == ("compressed", {"format": "7z"})


def test_xlsx_renamed_csv() -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["a", "b"])
    buffer = io.BytesIO()
    book.save(buffer)
    refused = rejected_of(buffer.getvalue())
    assert (refused.code, refused.params) == ("excel", {"format": "xlsx"})


def test_legacy_xls() -> None:
    assert rejected_of(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)).code == "excel"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"%PDF-1.7\n" + bytes(range(256)) * 4, "pdf"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "png"),
        (bytes(range(256)) * 8, "unknown"),
    ],
)
def test_binary(data: bytes, kind: str) -> None:
    refused = rejected_of(data)
    assert (refused.code, refused.params) == ("binary", {"kind": kind})


def test_random_bytes_are_refused_without_crashing() -> None:
    import random

    noise = random.Random(7).randbytes(50_000)
    assert isinstance(analyse_csv(noise, "noise.csv"), CsvRejected)


def test_too_big_is_refused_before_reading() -> None:
    limits = CsvLimits(max_bytes=1000)
    refused = analyse_csv(b"a,b\n" + b"1,2\n" * 500, "big.csv", limits)
    assert refused == CsvRejected("too_big", {"size": 2004, "limit": 1000})


def test_too_many_columns_are_refused() -> None:
    header = ",".join(f"c{i}" for i in range(2000))
    row = ",".join(str(i) for i in range(2000))
    refused = analyse_csv(f"{header}\n{row}\n{row}\n".encode(), "x.csv", CsvLimits(max_columns=500))
    assert refused == CsvRejected("too_many_columns", {"columns": 2000, "limit": 500})


def test_too_many_rows() -> None:
    refused = analyse_csv(b"a\n" + b"1\n" * 50, "x.csv", CsvLimits(max_rows=10))
    assert refused == CsvRejected("too_many_rows", {"rows": 50, "limit": 10})


def test_unclosed_quote_swallowing_the_file_is_refused() -> None:
    body = "".join(f"{i},text {i}\n" for i in range(3000))
    refused = rejected_of(f'id,comment\n1,"oops\n{body}'.encode())
    assert refused.code == "cell_too_long"


def test_cell_limit() -> None:
    refused = analyse_csv(b"a,b\n1," + b"x" * 200 + b"\n", "x.csv", CsvLimits(max_cell_chars=100))
    assert refused == CsvRejected("cell_too_long", {"column": "b", "limit": 100})


def test_mostly_ragged_rows_are_unreadable() -> None:
    lines = ["a,b,c"] + ["1,2,3"] * 10 + ["1,2,3,4,5"] * 9 + ["1,2"] * 9
    refused = rejected_of("\n".join(lines).encode())
    assert refused.code == "unreadable"
    assert refused.params == {"bad_rows": 18, "rows": 28}


@pytest.mark.parametrize("lang", ["ru", "en", "de", "ru-RU"])
@pytest.mark.parametrize("code", REJECTION_CODES)
def test_every_refusal_has_a_text(code: str, lang: str) -> None:
    params: dict[str, int | str] = {
        "size": 25_000_000,
        "limit": 500,
        "format": "gzip",
        "kind": "pdf",
        "columns": 2000,
        "rows": 1500,
        "bad_rows": 700,
        "column": "<b>",
    }
    message = rejection_text(CsvRejected(code, params), lang)
    assert len(message) > 40
    assert "{" not in message
    assert "<b>" not in message  # user-supplied names are escaped
    cyrillic = any("а" <= ch <= "я" for ch in message)
    assert cyrillic == lang.startswith("ru")


def test_refusal_texts_carry_the_figures() -> None:
    en = rejection_text(CsvRejected("too_many_columns", {"columns": 2000, "limit": 500}), "en")
    ru = rejection_text(CsvRejected("too_many_columns", {"columns": 2000, "limit": 500}), "ru")
    assert "2,000" in en and "500" in en
    assert "2\u202f000" in ru
    big = rejection_text(CsvRejected("too_big", {"size": 25 * 1024 * 1024, "limit": 20 * 1024 * 1024}), "en")
    assert "25 MB" in big and "20 MB" in big
    assert "gzip" in rejection_text(CsvRejected("compressed", {"format": "gzip"}), "en")


def test_unknown_code_and_missing_params_still_answer() -> None:
    assert rejection_text(CsvRejected("something_new"), "en")
    assert rejection_text(CsvRejected("too_many_columns"), "ru")
    assert "CSV" in rejection_text(CsvRejected("unreadable", {"detail": "x"}), "en")
