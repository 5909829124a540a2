"""Profiles and refusals as Telegram HTML messages (each at most 4096 characters).

Telegram counts a message's length in UTF-16 code units (an emoji or a mathematical
letter counts two), so every limit here is measured with :func:`tg_len` on the HTML
source, which is never shorter than the text Telegram sees after parsing the tags."""

from __future__ import annotations

import html

from .fmt import fmt_date, fmt_number, fmt_percent, fmt_quarter, lang_of, name
from .limits import CsvRejected
from .model import Alert, ColumnProfile, Note, Profile
from .tables import TableResult
from .texts import TEXTS, text

MESSAGE_LIMIT = 4096
WIDE_COLUMNS = 100  # more columns than this: a compact message, and the full profile as a file
_WIDE_LISTED = 5
MAX_MESSAGES = 4  # more would flood the chat: the rest of the columns get one summary line each
_MAX_ALERTS = 15
_SUMMARY_ROOM = 700  # kept free in the last message for the list of columns not shown
_ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "utf-16": "UTF-16", "cp1251": "Windows-1251"}


def tg_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, units: int) -> str:
    """The longest prefix of ``text`` within ``units`` UTF-16 code units."""
    if tg_len(text) <= units:
        return text
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units:
            return text[:index]
    return text


def rejection_text(rejected: CsvRejected, lang: str) -> str:
    lang = lang_of(lang)
    params = {k: html.escape(str(v), quote=False) for k, v in rejected.params.items()}
    for key in ("size", "limit"):
        if rejected.code in ("too_big", "unpacked_too_big") and key in rejected.params:
            params[key] = _megabytes(int(rejected.params[key]), lang)
    for key in ("columns", "rows", "bad_rows", "limit"):
        if rejected.code not in ("too_big", "unpacked_too_big") and isinstance(rejected.params.get(key), int):
            params[key] = fmt_number(int(rejected.params[key]), lang)
    if rejected.code == "unreadable" and "bad_rows" not in params:
        return text(lang, "rej.unreadable.detail")
    if rejected.code == "binary" and rejected.params.get("kind") == "unknown":
        return text(lang, "rej.binary.unknown")
    key = f"rej.{rejected.code}"
    if key not in TEXTS["en"]:
        return text(lang, "rej.unknown")
    try:
        return text(lang, key, **params)
    except KeyError:  # a refusal built without its usual params still gets a useful answer
        return text(lang, "rej.unknown")


def _megabytes(size: int, lang: str) -> str:
    unit = "МБ" if lang == "ru" else "MB"
    return f"{fmt_number(round(size / 1024 / 1024, 1), lang)} {unit}"


def _delimiter(delimiter: str, lang: str) -> str:
    if delimiter == "\t":
        return text(lang, "d.tab")
    if delimiter == " ":
        return text(lang, "d.space")
    return f"<code>{html.escape(delimiter)}</code>"


def alert_text(alert: Alert, profile: Profile, lang: str) -> str:
    values: dict[str, str] = {}
    for key, value in alert.params.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[key] = fmt_number(value, lang)
        else:
            values[key] = name(str(value), 40)
    if alert.column is not None:
        values["column"] = f"<b>{name(profile.columns[alert.column].name)}</b>"
    key = f"a.{alert.code}"
    if alert.code == "mixed_types":
        if "dates" in alert.params:  # dates, numbers and text: every kind with its share
            key = "a.mixed_types.kinds"
            values["kinds"] = ", ".join(
                text(lang, f"k.{kind}", percent=values[kind])
                for kind in ("dates", "numbers", "text")
                if kind in alert.params
            )
        elif "percent" in alert.params:
            key = "a.mixed_types.share"
        elif "example" not in alert.params:
            key = "a.mixed_types.noexample"
        if "type" in alert.params:
            values["type"] = text(lang, f"t.{alert.params['type']}")
    return text(lang, key, **values)


_RU_DATE_LABEL = (("YYYY", "ГГГГ"), ("YY", "ГГ"), ("MM", "ММ"), ("DD", "ДД"), ("hh", "чч"), ("mm", "мм"))


def date_label(label: str, lang: str) -> str:
    """DD.MM.YYYY as a Russian reader writes it: ДД.ММ.ГГГГ."""
    if lang == "ru":
        for en, ru in _RU_DATE_LABEL:
            label = label.replace(en, ru)
    return label


def note_text(note: Note, lang: str) -> str:
    params = {k: html.escape(str(v), quote=False) for k, v in note.params.items()}
    if note.code == "encoding":
        params["encoding"] = _ENCODINGS.get(str(note.params["encoding"]), params["encoding"])
    elif note.code == "delimiter":
        params["delimiter"] = _delimiter(str(note.params["delimiter"]), lang)
    elif note.code == "decimal":
        params["decimal"] = f"<code>{params['decimal']}</code>"
    elif note.code == "archive":
        member = str(note.params.get("member") or "")
        params["member"] = text(lang, "n.archive.member", member=name(member, 60)) if member else ""
    elif note.code in ("archive_others", "archive_unread"):
        params["names"] = name(str(note.params["names"]), 200)
    elif note.code == "date_format":
        params["format"] = f"<code>{date_label(params['format'], lang)}</code>"
        params["columns"] = name(str(note.params["columns"]), 120)
    for key in ("count", "line"):
        if isinstance(note.params.get(key), int):
            params[key] = fmt_number(int(note.params[key]), lang)
    return text(lang, f"n.{note.code}", **params)


def _reading(profile: Profile, lang: str) -> list[str]:
    """How the file was read: every assumption in one place (older profiles: one line)."""
    if profile.notes:
        return [text(lang, "p.notes"), *("• " + note_text(n, lang) for n in profile.notes)]
    header = text(lang, "p.with_header" if profile.header else "p.no_header")
    lines = [
        text(
            lang,
            "p.read_as",
            encoding=_ENCODINGS.get(profile.encoding, html.escape(profile.encoding)),
            delimiter=_delimiter(profile.delimiter, lang),
            decimal=f"<code>{html.escape(profile.decimal)}</code>",
            header=header,
        ),
    ]
    if profile.totals_row_removed:
        lines.append(text(lang, "p.totals_removed"))
    if profile.preamble_lines:
        lines.append(text(lang, "p.preamble", count=profile.preamble_lines))
    return lines


def _head(profile: Profile, lang: str) -> str:
    lines = [
        text(lang, "p.title", name=name(profile.file_name, 64)),
        text(
            lang,
            "p.shape",
            rows=fmt_number(profile.n_rows, lang),
            columns=fmt_number(profile.n_columns, lang),
        ),
        *_reading(profile, lang),
    ]
    alerts = profile.alerts
    if is_wide(profile):  # the summary counts these; every one of them is in the file
        alerts = tuple(a for a in alerts if a.code not in _SUMMARISED_WHEN_WIDE)
    if alerts:
        lines.append("")
        lines.append(text(lang, "p.alerts"))
        lines.extend("• " + alert_text(a, profile, lang) for a in alerts[:_MAX_ALERTS])
        if len(alerts) > _MAX_ALERTS:
            lines.append(f"• … +{len(alerts) - _MAX_ALERTS}")
    return "\n".join(lines)


_SUMMARISED_WHEN_WIDE = frozenset({"constant", "empty", "mostly_missing", "correlated"})


def _top_values(column: ColumnProfile, lang: str) -> str:
    return ", ".join(f"{name(v, 24)} ({fmt_number(n, lang)})" for v, n in column.top[:3])


def column_block(column: ColumnProfile, rows: int, lang: str) -> str:
    lines = [f"<b>{column.index + 1}. {name(column.name)}</b> — <i>{text(lang, 't.' + column.type)}</i>"]
    facts = [text(lang, "p.distinct", count=fmt_number(column.distinct, lang))]
    if column.missing:
        missing = text(
            lang,
            "p.missing",
            count=fmt_number(column.missing, lang),
            percent=fmt_percent(column.missing, rows, lang),
        )
        facts.insert(0, missing)
    lines.append(" · ".join(facts))
    if column.type in ("year", "id") and column.minimum is not None and column.maximum is not None:
        # Years and codes are written without digit grouping: 2007, not 2 007.
        low, high = str(int(column.minimum)), str(int(column.maximum))
        lines.append(text(lang, f"p.{column.type}_range", min=low, max=high))
        if column.type == "year" and column.top:
            lines.append(text(lang, "p.top", values=_top_values(column, lang)))
    elif column.kind == "numeric" and column.mean is not None:
        lines.extend(_number_lines(column, lang))
    elif column.kind == "datetime" and column.date_min is not None:
        shown = fmt_quarter if column.type == "quarter" else fmt_date
        lines.append(
            text(lang, "p.dates", min=shown(column.date_min, lang), max=shown(column.date_max, lang))
        )
    elif column.top:
        lines.append(text(lang, "p.top", values=_top_values(column, lang)))
        if column.kind == "text" and column.mean_length is not None:
            lines.append(text(lang, "p.length", length=fmt_number(round(column.mean_length), lang)))
    return "\n".join(lines)


def _number_lines(column: ColumnProfile, lang: str) -> list[str]:
    """A column's figures, each with the column's own precision: every value of a money column
    with its kopecks (2 443 460,05), an integer column's extremes and sum without decimals."""
    places = column.decimals

    def shown(value: float | None, exact: bool = True) -> str:
        if places is None or (places == 0 and not exact):
            return fmt_number(value, lang)  # a mean or median of whole numbers may have a fraction
        # A mean or quartile of values with one place gets two, the way money is shown.
        return fmt_number(value, lang, places if exact else max(places, 2))

    return [
        text(lang, "p.range", min=shown(column.minimum), max=shown(column.maximum)),
        text(lang, "p.centre", mean=shown(column.mean, False), median=shown(column.median, False)),
        text(
            lang,
            "p.quartiles",
            q1=shown(column.q1, False),
            q3=shown(column.q3, False),
            total=shown(column.total),
        ),
    ]


def _short(column: ColumnProfile, lang: str) -> str:
    return f"{name(column.name, 32)} ({text(lang, 't.' + column.type)})"


def _fit(block: str, limit: int) -> str:
    """Cut a block of plain lines at a line boundary; blocks never hold multi-line tags."""
    if tg_len(block) <= limit:
        return block
    kept = _cut(block, limit - 2)
    return kept[: kept.rfind("\n")] + "\n…" if "\n" in kept else html.escape("…")


def is_wide(profile: Profile) -> bool:
    """Too many columns for the chat: the profile goes out as a file besides a compact message."""
    return profile.n_columns > WIDE_COLUMNS


def _names_list(columns: list[ColumnProfile], lang: str) -> str:
    shown = ", ".join(name(c.name, 32) for c in columns[:_WIDE_LISTED])
    return shown + (
        f" … (+{fmt_number(len(columns) - _WIDE_LISTED, lang)})" if len(columns) > _WIDE_LISTED else ""
    )


def _wide_summary(profile: Profile, lang: str) -> str:
    """Types, the most-missing, the constant and the most-correlated columns, in a few lines."""
    counts: dict[str, int] = {}
    for column in profile.columns:
        counts[column.type] = counts.get(column.type, 0) + 1
    types = ", ".join(
        f"{text(lang, 't.' + t)} {fmt_number(n, lang)}"
        for t, n in sorted(counts.items(), key=lambda i: -i[1])
    )
    lines = [text(lang, "w.types", types=types)]
    missing = sorted((c for c in profile.columns if c.missing), key=lambda c: -c.missing)
    if missing:
        listed = ", ".join(
            f"{name(c.name, 32)} ({fmt_percent(c.missing, profile.n_rows, lang)})"
            for c in missing[:_WIDE_LISTED]
        )
        lines.append(text(lang, "w.missing", count=fmt_number(len(missing), lang), columns=listed))
    constant = [c for c in profile.columns if c.distinct == 1]
    if constant:
        lines.append(
            text(
                lang, "w.constant", count=fmt_number(len(constant), lang), columns=_names_list(constant, lang)
            )
        )
    pairs = [a for a in profile.alerts if a.code == "correlated" and a.column is not None][:3]
    for alert in pairs:
        assert alert.column is not None
        first = name(profile.columns[alert.column].name, 32)
        r = fmt_number(float(alert.params["r"]), lang)
        lines.append(text(lang, "w.correlated", a=first, b=name(str(alert.params["other"]), 32), r=r))
    lines.append(text(lang, "w.file"))
    return "\n".join(lines)


def needs_report(profile: Profile) -> bool:
    """A compact message promises the full profile as a file (for the table or a zip's other one)."""
    return is_wide(profile) or any(is_wide(p) for p in profile.parts)


def render_profile(profile: Profile, lang: str) -> list[str]:
    """The messages of the profile, then those of a zip's other tables, each in turn."""
    messages = _render_one(profile, lang)
    for part in profile.parts:
        messages += _render_one(part, lang)
    return messages


def _render_one(profile: Profile, lang: str) -> list[str]:
    lang = lang_of(lang)
    messages = [_fit(_head(profile, lang), MESSAGE_LIMIT)]
    if is_wide(profile):
        return [*messages, _fit(_wide_summary(profile, lang), MESSAGE_LIMIT)]
    current = text(lang, "p.columns")
    shown = 0
    for column in profile.columns:
        block = column_block(column, profile.n_rows, lang)
        last = len(messages) + 1 == MAX_MESSAGES
        room = MESSAGE_LIMIT - (_SUMMARY_ROOM if last else 0)
        if tg_len(current) + 2 + tg_len(block) <= room:
            current += "\n\n" + block
        elif len(messages) + 1 < MAX_MESSAGES:
            messages.append(current)
            current = block
        else:
            break
        shown += 1
    rest = profile.columns[shown:]
    if rest:
        names = ", ".join(_short(c, lang) for c in rest)
        summary = text(lang, "p.more_columns", count=fmt_number(len(rest), lang), names=names)
        if tg_len(current) + 2 + tg_len(summary) > MESSAGE_LIMIT and len(messages) + 1 < MAX_MESSAGES:
            messages.append(current)
            current = ""
        current = _fit_summary(current, summary)
    messages.append(current.strip("\n"))
    return [m for m in messages if m]


def _fit_summary(current: str, summary: str) -> str:
    room = MESSAGE_LIMIT - tg_len(current) - 2
    if tg_len(summary) > room:
        # Cut between two names (names are escaped, so a comma never sits inside an entity).
        summary = _cut(summary, max(0, room - 2))
        summary = summary[: summary.rfind(", ")] + ", …" if ", " in summary else "…"
    return (current + "\n\n" + summary) if current else summary


# ---------------------------------------------------------------- tables

_TABLE_CELL = 18
_TABLE_COLUMNS = 6


def _table_cell(value: object, lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return fmt_number(value, lang)
    raw = str(value)
    if len(raw) >= 19 and raw[4:5] == "-" and raw[10:11] == "T":
        raw = fmt_date(raw, lang)
    return raw if len(raw) <= _TABLE_CELL else raw[: _TABLE_CELL - 1] + "…"


def _table_title(result: TableResult, lang: str) -> str:
    p = {k: name(str(v), 40) for k, v in result.params.items()}
    if result.kind == "group_by":
        if result.params.get("agg") == "count":
            return text(lang, "tb.group_by.count", by=p["by"])
        agg = text(lang, f"agg.{result.params['agg']}")
        return text(lang, "tb.group_by", agg=agg, value=p["value"], by=p["by"])
    if result.kind == "top_rows":
        return text(lang, "tb.top_n.rows", n=result.params["n"], column=p["column"])
    if result.kind == "top_values":
        return text(lang, "tb.top_n.values", column=p["column"])
    return text(lang, "tb.correlations")


def render_table(result: TableResult, lang: str) -> str:
    """A title and a monospaced table that fits one Telegram message; the rest is in the export."""
    lang = lang_of(lang)
    title = _table_title(result, lang)
    if not result.rows:
        return f"{title}\n{text(lang, 'tb.empty')}"
    width = min(len(result.columns), _TABLE_COLUMNS)
    grid = [[_table_cell(c, lang) for c in result.columns[:width]]]
    grid += [[_table_cell(c, lang) for c in row[:width]] for row in result.rows]
    widths = [max(len(r[i]) for r in grid) for i in range(width)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in grid]
    footer_room = 120
    body, shown = "", 0
    for line in lines:
        candidate = body + html.escape(line, quote=False) + "\n"
        if tg_len(title) + tg_len(candidate) + footer_room > MESSAGE_LIMIT:
            break
        body, shown = candidate, shown + 1
    message = f"{title}\n<pre>{body.rstrip()}</pre>"
    hidden = result.total_rows - (shown - 1)
    if hidden > 0:
        message += "\n" + text(lang, "tb.more_rows", count=fmt_number(hidden, lang))
    return message
