"""Compressed uploads (.csv.gz, .bz2, .xz, .zip): the CSV inside, within bounds that stop bombs.

Decompression runs in bounded steps: it stops as soon as the output passes the size we would
accept uncompressed, or the ratio of output to input passes what real tables compress to, so a
42 KB file that unpacks to petabytes costs no more than a 20 MB upload.
"""

from __future__ import annotations

import bz2
import io
import lzma
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .limits import CsvLimits, CsvRejected

_STEP = 1 << 20
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".dsv")
MAX_TABLES = 10  # tables of one zip profiled; the rest are named


@dataclass(frozen=True, slots=True)
class Unpacked:
    data: bytes
    format: str  # gzip, bz2, xz, zip
    member: str | None  # the file's name inside a zip
    others: tuple[str, ...] = ()  # other tables in the same zip, not profiled (past MAX_TABLES)
    # The zip's next tables (name, bytes), each profiled after the first, in the zip's order.
    more: tuple[tuple[str, bytes], ...] = ()


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def _format(data: bytes) -> str | None:
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"BZh"):
        return "bz2"
    if data.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    return None


def _bounded(data: bytes, limits: CsvLimits) -> int:
    """Most bytes we let a compressed input of this size unpack to."""
    return min(limits.max_bytes, max(len(data), 1) * limits.max_unpack_ratio)


def _too_much(data: bytes, produced: int, limits: CsvLimits) -> CsvRejected:
    if produced > limits.max_bytes:
        return CsvRejected("unpacked_too_big", {"limit": limits.max_bytes})
    return CsvRejected("unpack_ratio", {"limit": limits.max_unpack_ratio})


def _stream(
    make: Callable[[], _Decompressor], kind: str, data: bytes, limits: CsvLimits
) -> bytes | CsvRejected:
    """Decompress every member (gzip and bz2 files may hold several) without passing the bound."""
    bound = _bounded(data, limits)
    parts: list[bytes] = []
    produced = 0
    pending = data
    while pending:
        decompressor = make()
        chunk = pending
        while True:
            piece = decompressor.decompress(chunk, max_length=min(_STEP, bound - produced + 1))
            produced += len(piece)
            parts.append(piece)
            if produced > bound:
                return _too_much(data, produced, limits)
            if decompressor.eof:
                break
            if not piece and decompressor.needs_input:
                return CsvRejected("archive_broken", {"format": kind})  # ended inside a member
            chunk = b""
        pending = decompressor.unused_data
        if pending.strip(b"\x00") == b"":  # tar-like zero padding after the last member
            break
    return b"".join(parts)


def _gzip() -> _Decompressor:
    return _ZlibAdapter(zlib.decompressobj(wbits=zlib.MAX_WBITS | 16))


class _ZlibAdapter:
    """zlib's decompressor with the interface of bz2's and lzma's (eof, needs_input)."""

    def __init__(self, inner: zlib._Decompress) -> None:
        self.inner = inner
        self.needs_input = False

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        piece = self.inner.decompress(self.inner.unconsumed_tail + data, max(max_length, 0))
        self.needs_input = not self.inner.unconsumed_tail and not self.inner.eof
        return piece

    @property
    def eof(self) -> bool:
        return self.inner.eof

    @property
    def unused_data(self) -> bytes:
        return self.inner.unused_data


def _from_zip(data: bytes, limits: CsvLimits) -> Unpacked | CsvRejected:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return CsvRejected("archive_broken", {"format": "zip"})
    with archive:
        files = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        tables = [i for i in files if i.filename.lower().endswith(_TABLE_SUFFIXES)] or files[:1]
        if not tables:
            return CsvRejected("archive_empty")
        # One budget for every table together: the bounds of a single file apply to the total.
        bound = budget = _bounded(data, limits)
        contents: list[tuple[str, bytes]] = []
        for info in tables[:MAX_TABLES]:
            if info.file_size > budget:  # the directory may lie, so the read below is bounded too
                return _too_much(data, bound - budget + info.file_size, limits)
            try:
                with archive.open(info) as member:
                    content = member.read(budget + 1)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, zlib.error, EOFError):
                return CsvRejected("archive_broken", {"format": "zip"})  # corrupt, encrypted, unknown method
            if len(content) > budget:
                return _too_much(data, bound - budget + len(content), limits)
            budget -= len(content)
            contents.append((info.filename, content))
        others = tuple(i.filename for i in tables[MAX_TABLES:])
        (name, first), more = contents[0], tuple(contents[1:])
        return Unpacked(first, "zip", name, others, more)


def unpack(data: bytes, limits: CsvLimits) -> Unpacked | CsvRejected | None:
    """The table inside a compressed upload; None when the bytes are not compressed."""
    kind = _format(data)
    if kind is None:
        return None
    if kind == "zip":
        if b"[Content_Types].xml" in data[:2000] or b"xl/" in data[:4000]:
            return None  # a workbook: the reader explains how to save it as CSV
        return _from_zip(data, limits)
    makers: dict[str, Callable[[], _Decompressor]] = {
        "gzip": _gzip,
        "bz2": bz2.BZ2Decompressor,
        "xz": lzma.LZMADecompressor,
    }
    try:
        content = _stream(makers[kind], kind, data, limits)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
        return CsvRejected("archive_broken", {"format": kind})
    if isinstance(content, CsvRejected):
        return content
    return Unpacked(content, kind, None)
