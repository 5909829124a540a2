"""Numbers, dates and user-supplied names as a Russian or English reader expects them in a chat."""

from __future__ import annotations

import html
import math
from datetime import datetime

NARROW_NBSP = "\u202f"
LANGS = ("en", "ru")


def lang_of(lang: str | None) -> str:
    """'ru' for Russian (and ru-RU etc.), otherwise English."""
    return "ru" if (lang or "").lower().split("-")[0].split("_")[0] == "ru" else "en"


def _decimals(value: float) -> int:
    size = abs(value)
    if size >= 1:
        return 2  # trailing zeros are dropped: 2 443 460,05 keeps its kopecks, 2 443 460,00 shows none
    if size == 0:
        return 0
    # Small numbers keep three significant digits: 0.000123 rather than 0.00.
    return min(8, 2 - math.floor(math.log10(size)))


def fmt_number(value: float | int | None, lang: str, decimals: int | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if isinstance(value, float) and abs(value) >= 1e15:
        text = f"{value:.3e}"
        return text.replace(".", ",") if lang_of(lang) == "ru" else text
    if isinstance(value, int) or (decimals is None and float(value).is_integer()):
        text = f"{int(value):,}"
    else:
        places = _decimals(float(value)) if decimals is None else decimals
        text = f"{value:,.{places}f}"
        if decimals is None and "." in text:
            text = text.rstrip("0").rstrip(".")
    if lang_of(lang) == "ru":
        text = text.replace(",", NARROW_NBSP).replace(".", ",")
    return text


def fmt_percent(part: int, whole: int, lang: str) -> str:
    if whole <= 0:
        return "—"
    share = 100 * part / whole
    text = fmt_number(round(share, 1) if share < 10 else round(share), lang)
    return f"{text}{NARROW_NBSP}%" if lang_of(lang) == "ru" else f"{text}%"


def fmt_date(iso: str | None, lang: str) -> str:
    if iso is None:
        return "—"
    moment = datetime.fromisoformat(iso)
    with_time = (moment.hour, moment.minute, moment.second) != (0, 0, 0)
    if lang_of(lang) == "ru":
        return moment.strftime("%d.%m.%Y %H:%M" if with_time else "%d.%m.%Y")
    return moment.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


_ROMAN = ("I", "II", "III", "IV")


def fmt_quarter(iso: str | None, lang: str) -> str:
    """The quarter a date opens: "I кв. 2024" in Russian, "2024 Q1" in English."""
    if iso is None:
        return "—"
    moment = datetime.fromisoformat(iso)
    quarter = (moment.month - 1) // 3
    if lang_of(lang) == "ru":
        return f"{_ROMAN[quarter]} кв. {moment.year}"
    return f"{moment.year} Q{quarter + 1}"


_CONTROLS = dict.fromkeys(range(32), " ") | {127: " "}


def name(text: str, limit: int = 48) -> str:
    """A user-supplied name, cut to `limit` characters and HTML-escaped for Telegram."""
    text = " ".join(text.translate(_CONTROLS).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=False)
