"""Recognise files that are not text at all: archives, workbooks, images, executables."""

from __future__ import annotations

from .limits import CsvRejected

_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_BINARY = (
    (b"%PDF", "pdf"),
    (b"\x89PNG", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF8", "gif"),
    (b"\x7fELF", "elf"),
    (b"MZ", "exe"),
    (b"SQLite format 3\x00", "sqlite"),
    (b"PAR1", "parquet"),
)
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls / .doc container


def sniff_container(data: bytes) -> CsvRejected | None:
    """A refusal if the bytes start like a known non-text format, else None."""
    head = data[:8]
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        # An .xlsx is a zip whose first entries name the workbook parts.
        if b"[Content_Types].xml" in data[:2000] or b"xl/" in data[:4000]:
            return CsvRejected("excel", {"format": "xlsx"})
        return CsvRejected("compressed", {"format": "zip"})
    if head.startswith(_OLE):
        return CsvRejected("excel", {"format": "xls"})
    for magic, name in _COMPRESSED:
        if head.startswith(magic):
            return CsvRejected("compressed", {"format": name})
    for magic, name in _BINARY:
        if head.startswith(magic):
            return CsvRejected("binary", {"kind": name})
    return None


def control_ratio(text: str) -> float:
    """Share of control characters other than whitespace: high in binary data decoded as text."""
    if not text:
        return 0.0
    bad = len(text) - len(text.translate(_CONTROLS))  # one C pass instead of a Python loop
    return bad / len(text)


_CONTROLS = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r\f\v")
