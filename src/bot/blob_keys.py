"""Blob keys: ``{user_id}/{upload_id}_{safe_name}``, written and read here only, and
the rules every blob store applies to a key.

The user's folder keeps one user's files together (and deletable together); the
upload id makes a key unique and lets the orphan sweep find the key's row; the
safe name keeps storage happy (ASCII only) and a person reading a listing oriented.
"""

from __future__ import annotations

import re
import unicodedata

MAX_KEY_LENGTH = 1024
# The characters Supabase Storage accepts in object keys (S3's "safe" set): every
# store enforces the same rule, so a key that works on disk works in the cloud too.
_KEY_CHARS = re.compile(r"[A-Za-z0-9_/!\-.*'() &$@=;:+,?]*")


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key like ``"42/abc_report.csv"``; else ValueError."""
    if not key:
        raise ValueError("blob key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"blob key longer than {MAX_KEY_LENGTH} characters")
    if "\\" in key:
        raise ValueError(f"blob key contains a backslash: {key!r}")
    if key.startswith("/"):
        raise ValueError(f"blob key is absolute: {key!r}")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(f"blob key has an empty, '.' or '..' segment: {key!r}")
    if not _KEY_CHARS.fullmatch(key):
        raise ValueError(f"blob key has characters outside [A-Za-z0-9_/!-.*'() &$@=;:+,?]: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Like :func:`check_key`, but ``""`` and a trailing ``/`` or partial name are allowed."""
    if not prefix:
        return prefix
    if prefix.startswith("/"):
        raise ValueError(f"blob prefix is absolute: {prefix!r}")
    head, _, last = prefix.rpartition("/")
    if last in (".", ".."):
        raise ValueError(f"blob prefix ends in a '.' or '..' segment: {prefix!r}")
    check_key(head + "/x" if head else "x")
    if "\\" in last or not _KEY_CHARS.fullmatch(last):
        raise ValueError(f"blob prefix has characters outside the key alphabet: {prefix!r}")
    return prefix


# Russian letters to Latin (GOST-like, simplified); the rest of Unicode is dropped.
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya",
}  # fmt: skip


def _transliterate(text: str) -> str:
    out = []
    for char in text:
        low = char.lower()
        latin = _CYRILLIC.get(low)
        if latin is None:
            out.append(char)
        else:
            out.append(latin.capitalize() if char != low else latin)
    return "".join(out)


def safe_file_name(name: str, limit: int = 80) -> str:
    """An ASCII, storage-key-safe version of a user's file name: no folders, no
    control characters, Cyrillic transliterated (storage keys allow ASCII only).
    The original name is kept in the database and shown to the user."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _transliterate(unicodedata.normalize("NFKC", base))
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = re.sub(r"[^A-Za-z0-9.\-]+", "_", base)
    stem, dot, ext = base.rpartition(".")
    if dot and not stem.strip("._-"):
        base = "file." + ext if ext.strip("._-") else "file.csv"  # nothing readable left
    base = base.strip("._") or "file.csv"
    if len(base) > limit:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: limit - len(ext) - 1] + dot + ext) if dot and len(ext) <= 8 else base[:limit]
    return base


def user_folder(user_id: int) -> str:
    """The prefix of every key of one user's files (what /forget empties)."""
    return f"{user_id}/"


def blob_key(user_id: int, upload_id: str, file_name: str) -> str:
    return f"{user_folder(user_id)}{upload_id}_{safe_file_name(file_name)}"


_KEY = re.compile(r"^\d+/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_[^/]+$")


def upload_id_of(key: str) -> str | None:
    """The upload id a blob key names, or None when the key is not shaped like ours."""
    match = _KEY.match(key)
    return match.group(1) if match else None
