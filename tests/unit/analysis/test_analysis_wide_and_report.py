"""Wide files get a compact message and the full profile as a self-contained HTML file."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from analysis_helpers import profile_of

from bot.analysis import MESSAGE_LIMIT, is_wide, needs_report, render_profile, report_file_name, report_html

DATA = Path(__file__).resolve().parents[2] / "data" / "analysis"


def test_a_wide_file_gets_a_compact_message() -> None:
    profile = profile_of((DATA / "wide_300_columns.csv").read_bytes(), "wide.csv")
    assert (profile.n_rows, profile.n_columns) == (30, 300)
    assert is_wide(profile)
    messages = render_profile(profile, "ru")
    assert len(messages) == 2
    summary = messages[1]
    assert "<b>Типы столбцов</b>: число 250, целое 44, пусто 5, идентификатор 1" in summary
    assert "<b>Одно значение во всех строках</b> — столбцов: 42" in summary
    assert "Показатель 2 и Показатель 3 (r = 1)" in summary
    assert "в приложенном файле" in summary
    assert "во всех строках одно значение" not in messages[0]  # counted in the summary instead


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.outside: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.outside += [v or "" for k, v in attrs if k in ("src", "href")]


def test_the_report_is_one_self_contained_html_file_in_the_users_language() -> None:
    profile = profile_of((DATA / "marketplace_alerts.csv").read_bytes(), "отчёт.csv")
    for lang, heading in (("ru", "Как прочитан файл"), ("en", "How the file was read")):
        page = report_html(profile.to_json(), lang).decode()
        parser = _Collector()
        parser.feed(page)
        assert parser.outside == []  # no outside assets: it opens offline
        assert parser.tags.count("svg") >= 6  # a chart per column but the date
        assert f'<html lang="{lang}">' in page and heading in page
        assert "меняются согласованно" in page if lang == "ru" else "move together" in page
    assert report_file_name("отчёт.csv") == "отчёт_profile.html"


def test_the_report_of_a_wide_file_lists_every_column() -> None:
    profile = profile_of((DATA / "wide_300_columns.csv").read_bytes(), "wide.csv")
    page = report_html(profile.to_json(), "en").decode()
    assert page.count('<div class="c" id="c') == 300
    assert "Показатель 299" in page


def test_twenty_thousand_columns_get_a_compact_message_and_the_full_profile_as_a_file() -> None:
    profile = profile_of((DATA / "wide_20k_columns.csv.gz").read_bytes(), "wide.csv.gz")
    assert (profile.n_rows, profile.n_columns) == (20, 20_000)
    assert needs_report(profile)
    messages = render_profile(profile, "ru")
    assert len(messages) == 2 and all(len(m) <= MESSAGE_LIMIT for m in messages)
    summary = messages[1]
    assert "<b>Типы столбцов</b>: целое 19\u202f775, число 205, пусто 20" in summary
    assert "<b>Одно значение во всех строках</b> — столбцов: 40" in summary
    assert "Показатель 41 и Показатель 42 (r = 1)" in summary
    page = report_html(profile.to_json(), "ru").decode()
    assert page.count('<div class="c" id="c') == 20_000 and "Показатель 20000" in page
