"""Blob keys: ``{user_id}/{upload_id}_{safe_name}``, written and read here only.

The user's folder keeps one user's files together (and deletable together); the
upload id makes a key unique and lets the orphan sweep find the key's row; the
safe name keeps storage happy (ASCII only) and a person reading a listing oriented.
"""

from __future__ import annotations

import re
import unicodedata

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


def blob_key(user_id: int, upload_id: str, file_name: str) -> str:
    return f"{user_id}/{upload_id}_{safe_file_name(file_name)}"


_KEY = re.compile(r"^\d+/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_[^/]+$")


def upload_id_of(key: str) -> str | None:
    """The upload id a blob key names, or None when the key is not shaped like ours."""
    match = _KEY.match(key)
    return match.group(1) if match else None
