"""The full profile as one self-contained HTML file: styles and charts inline, no outside assets.

Built from the stored profile alone (no second read of the upload), in the reader's language.
Charts are small inline SVGs: a bar per frequent value, a box from the quartiles, a bar of the
missing share.
"""

from __future__ import annotations

import html

from .fmt import fmt_number, fmt_percent, lang_of, name
from .model import ColumnProfile, Profile
from .render import alert_text, column_block, note_text
from .texts import text

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2430}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
ul{padding-left:20px}li{margin:2px 0}code{background:#f1f3f6;padding:0 3px;border-radius:3px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e3e6eb;padding:4px 6px;
text-align:left;vertical-align:top}th{background:#f7f8fa;position:sticky;top:0}
td.n{text-align:right;white-space:nowrap}.c{margin:14px 0;padding:10px;border:1px solid #e3e6eb;
border-radius:6px}.c pre{white-space:pre-wrap;font:inherit;margin:6px 0}svg{display:block}
.muted{color:#68707d}
"""
_BAR_WIDTH = 260
_BAR_HEIGHT = 16


def _svg_bars(items: list[tuple[str, int]], total: int) -> str:
    """Horizontal bars, one per value, scaled to the largest; labels are escaped text nodes."""
    if not items or total <= 0:
        return ""
    largest = max(n for _, n in items) or 1
    rows = []
    for i, (label, count) in enumerate(items):
        y = i * (_BAR_HEIGHT + 4)
        width = max(1, round(_BAR_WIDTH * count / largest))
        rows.append(
            f'<rect x="160" y="{y}" width="{width}" height="{_BAR_HEIGHT}" fill="#4f7cac"/>'
            f'<text x="155" y="{y + 12}" text-anchor="end" font-size="12">{html.escape(label[:24])}</text>'
            f'<text x="{165 + width}" y="{y + 12}" font-size="12">{count}</text>'
        )
    height = len(items) * (_BAR_HEIGHT + 4)
    return f'<svg width="480" height="{height}" role="img">{"".join(rows)}</svg>'


def _svg_box(column: ColumnProfile) -> str:
    """A box plot from the profile's five numbers (no raw values are needed)."""
    points = (column.minimum, column.q1, column.median, column.q3, column.maximum)
    if any(p is None for p in points):
        return ""
    low, q1, median, q3, high = (float(p) for p in points if p is not None)
    span = high - low or 1.0

    def x(value: float) -> float:
        return round(10 + 400 * (value - low) / span, 1)

    return (
        '<svg width="420" height="34" role="img">'
        f'<line x1="{x(low)}" y1="17" x2="{x(high)}" y2="17" stroke="#68707d"/>'
        f'<rect x="{x(q1)}" y="6" width="{max(1.0, x(q3) - x(q1))}" height="22" '
        'fill="#cfdcec" stroke="#4f7cac"/>'
        f'<line x1="{x(median)}" y1="6" x2="{x(median)}" y2="28" stroke="#1d2430" stroke-width="2"/>'
        "</svg>"
    )


def _svg_missing(column: ColumnProfile, rows: int) -> str:
    if not column.missing or rows <= 0:
        return ""
    width = max(1, round(_BAR_WIDTH * column.missing / rows))
    return (
        f'<svg width="{_BAR_WIDTH + 2}" height="10" role="img"><rect width="{_BAR_WIDTH}" height="8" '
        f'fill="#e3e6eb"/><rect width="{width}" height="8" fill="#c0504d"/></svg>'
    )


def _overview_row(column: ColumnProfile, rows: int, lang: str) -> str:
    cells = [
        str(column.index + 1),
        name(column.name, 80),
        text(lang, "t." + column.type),
        fmt_number(column.count, lang),
        fmt_percent(column.missing, rows, lang),
        fmt_number(column.distinct, lang),
    ]
    return (
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in (0, 3, 4, 5) else f"<td>{c}</td>" for i, c in enumerate(cells)
        )
        + "</tr>"
    )


def _column_section(column: ColumnProfile, rows: int, lang: str) -> str:
    block = column_block(column, rows, lang).split("\n", 1)
    title, body = block[0], (block[1] if len(block) > 1 else "")
    chart = _svg_box(column) if column.kind == "numeric" else _svg_bars(list(column.top), column.count)
    return (
        f'<div class="c" id="c{column.index + 1}"><div>{title}</div><pre>{body}</pre>'
        f"{_svg_missing(column, rows)}{chart}</div>"
    )


def report_html(payload: str, lang: str) -> bytes:
    """The report of a stored profile (its JSON), as UTF-8 bytes of one HTML document; a zip's
    other tables follow the first, each under its own heading."""
    lang = lang_of(lang)
    profile = Profile.from_json(payload)
    title = name(profile.file_name, 120)
    parts = [
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
    ]
    for table in (profile, *profile.parts):
        parts.extend(_table_sections(table, lang))
    parts.append("</body></html>")
    return "".join(parts).encode()


def _table_sections(profile: Profile, lang: str) -> list[str]:
    title = name(profile.file_name, 120)
    shape = text(
        lang, "p.shape", rows=fmt_number(profile.n_rows, lang), columns=fmt_number(profile.n_columns, lang)
    )
    parts = [f'<h1>{title}</h1><div class="muted">{shape}</div>']
    if profile.notes:
        parts.append(f"<h2>{text(lang, 'p.notes')}</h2><ul>")
        parts.extend(f"<li>{note_text(n, lang)}</li>" for n in profile.notes)
        parts.append("</ul>")
    if profile.alerts:
        parts.append(f"<h2>{text(lang, 'p.alerts')}</h2><ul>")
        parts.extend(f"<li>{alert_text(a, profile, lang)}</li>" for a in profile.alerts)
        parts.append("</ul>")
    headings = [
        text(lang, f"r.{key}") for key in ("number", "column", "type", "count", "missing", "distinct")
    ]
    parts.append(f"<h2>{text(lang, 'p.columns')}</h2><table><tr>")
    parts.extend(f"<th>{h}</th>" for h in headings)
    parts.append("</tr>")
    parts.extend(_overview_row(c, profile.n_rows, lang) for c in profile.columns)
    parts.append("</table>")
    parts.extend(_column_section(c, profile.n_rows, lang) for c in profile.columns)
    return parts


def report_file_name(profile_file_name: str) -> str:
    stem = profile_file_name.rsplit("/", 1)[-1].split(".", 1)[0] or "profile"
    return f"{stem[:60]}_profile.html"
