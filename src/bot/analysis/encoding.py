"""Tell the text encoding of an upload and hand the parser UTF-8 bytes.

Order: byte-order mark, UTF-16 without a mark (every other byte NUL), strict UTF-8, then the
Cyrillic single-byte code pages scored by how Russian the sample reads, then charset-normalizer.
Conversion runs in chunks so memory stays near one copy of the file.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import numpy as np

from .limits import CsvRejected

_SAMPLE = 64 * 1024
_CHUNK = 1 << 20
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32"),
    (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
)
_CYRILLIC_LOWER = re.compile(r"[а-яё]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_CYRILLIC = re.compile(r"[а-яёА-ЯЁ]")
# Latin accents read through a Cyrillic code page give words like "Josй": mixed scripts.
_MIXED_SCRIPT = re.compile(r"[A-Za-z][а-яёА-ЯЁ]|[а-яёА-ЯЁ][A-Za-z]")
# Valid multi-byte UTF-8 sequences, to forgive a file with a few broken bytes.
_UTF8_SEQ = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_HIGH = re.compile(rb"[\x80-\xff]")
_HIGH_BYTES = bytes(range(0x80, 0x100))


@dataclass(frozen=True, slots=True)
class Decoded:
    utf8: bytes | memoryview  # the file as UTF-8 without a BOM
    encoding: str  # what we report: utf-8, utf-8-sig, utf-16, cp1251, ...


def _transcode(data: bytes | memoryview, codec: str, errors: str = "strict") -> bytes:
    decoder = codecs.getincrementaldecoder(codec)(errors)
    parts = []
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        parts.append(decoder.decode(view[start : start + _CHUNK]).encode("utf-8"))
    parts.append(decoder.decode(b"", final=True).encode("utf-8"))
    return b"".join(parts)


def _valid_utf8(data: bytes | memoryview) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    view = memoryview(data)
    try:
        for start in range(0, len(view), _CHUNK):
            decoder.decode(view[start : start + _CHUNK])  # result dropped: only validating
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _utf16_without_bom(sample: bytes) -> str | None:
    even, odd = sample[0::2], sample[1::2]
    if len(sample) < 4:
        return None
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _mostly_utf8(sample: bytes) -> bool:
    """True when nearly every high byte belongs to a valid UTF-8 sequence (a few bytes broken)."""
    high = len(sample) - len(sample.translate(None, _HIGH_BYTES))
    if high == 0:
        return True
    in_seqs = sum(len(m) for m in _UTF8_SEQ.findall(sample))
    return in_seqs >= 0.98 * high


def _byte_classes(codec: str) -> dict[str, np.ndarray]:
    """For each byte, whether the code page reads it as non-ASCII, lower-case or any Cyrillic."""
    chars = [bytes([b]).decode(codec, errors="replace") for b in range(256)]
    return {
        name: np.array([pattern.match(ch) is not None for ch in chars])
        for name, pattern in (("non_ascii", _NON_ASCII), ("lower", _CYRILLIC_LOWER), ("cyrillic", _CYRILLIC))
    }


_SINGLE_BYTE = {codec: _byte_classes(codec) for codec in ("cp1251", "koi8-r", "cp866")}


def _single_byte_guess(sample: bytes) -> str | None:
    """Pick the Cyrillic code page under which the sample reads as lower-case Russian."""
    best, best_score = None, 0.0
    # A single-byte code page maps each byte to one character: letters are counted from the
    # bytes' histogram instead of a regex over each decoded text.
    histogram = np.bincount(np.frombuffer(sample, dtype=np.uint8), minlength=256)
    for codec, classes in _SINGLE_BYTE.items():
        non_ascii = int(histogram[classes["non_ascii"]].sum())
        if non_ascii == 0:
            continue
        score = int(histogram[classes["lower"]].sum()) / non_ascii
        text = sample.decode(codec, errors="replace")
        if len(_MIXED_SCRIPT.findall(text)) > 0.3 * int(histogram[classes["cyrillic"]].sum()):
            continue
        if score > best_score:
            best, best_score = codec, score
    return best if best_score >= 0.5 else None


def _normalizer_guess(sample: bytes) -> str | None:
    from charset_normalizer import from_bytes  # imported lazily: only for unusual files

    match = from_bytes(sample).best()
    return None if match is None else str(match.encoding)


def decode(data: bytes) -> Decoded | CsvRejected:
    for bom, codec, reported in _BOMS:
        if data.startswith(bom):
            body = memoryview(data)[len(bom) :]
            if codec == "utf-8":
                return Decoded(body, reported) if _valid_utf8(body) else CsvRejected("encoding")
            try:
                return Decoded(_transcode(body, codec), reported)
            except UnicodeDecodeError:
                return CsvRejected("encoding")
    sample = data[:_SAMPLE]
    utf16 = _utf16_without_bom(sample)
    if utf16 is not None:
        try:
            return Decoded(_transcode(data, utf16), "utf-16")
        except UnicodeDecodeError:
            return CsvRejected("encoding")
    if b"\x00" in sample:
        return CsvRejected("binary", {"kind": "unknown"})
    if _valid_utf8(data):
        return Decoded(data, "utf-8")
    # Judge on text that holds non-ASCII bytes: the first lines may be plain ASCII.
    first_high = _HIGH.search(data)
    start = 0 if first_high is None else max(0, first_high.start() - 1024)
    sample = data[start : start + _SAMPLE]
    if _mostly_utf8(sample) and _UTF8_SEQ.search(sample):
        return Decoded(_transcode(data, "utf-8", "replace"), "utf-8")
    guess = _single_byte_guess(sample) or _normalizer_guess(sample)
    if guess is None:
        return CsvRejected("encoding")
    try:
        codec = codecs.lookup(guess).name
    except LookupError:
        return CsvRejected("encoding")
    try:
        return Decoded(_transcode(data, codec), codec)
    except UnicodeDecodeError:
        pass
    # A byte the code page leaves undefined (0x98 in cp1251): forgive a handful.
    converted = _transcode(data, codec, "replace")
    if converted.count("\ufffd".encode()) > max(3, len(data) // 1000):
        return CsvRejected("encoding")
    return Decoded(converted, codec)
