"""The profilers' alerts, with thresholds that wait for enough values to judge."""

from __future__ import annotations

from pathlib import Path

from analysis_helpers import column, profile_of

from bot.analysis import render_profile
from bot.analysis.model import Profile

DATA = Path(__file__).resolve().parents[2] / "data" / "analysis"


def _alerts(profile: Profile) -> dict[tuple[str, str | None], dict[str, int | float | str]]:
    return {
        (a.code, None if a.column is None else profile.columns[a.column].name): a.params
        for a in profile.alerts
    }


def test_marketplace_report_alerts() -> None:
    profile = profile_of((DATA / "marketplace_alerts.csv").read_bytes())
    alerts = _alerts(profile)
    assert alerts[("imbalanced", "Регион")] == {"value": "Москва", "percent": 95}
    assert alerts[("zeros", "Скидка")] == {"percent": 90}
    assert alerts[("outliers", "Возвраты")] == {"count": 1}
    assert alerts[("correlated", "Кол-во")] == {"other": "Выручка", "r": 0.91}
    assert ("correlated", "Цена") not in alerts
    text = "\n".join(render_profile(profile, "ru"))
    assert "<b>Кол-во</b> и <b>Выручка</b> меняются согласованно (r = 0,91)" in text
    assert "<b>Регион</b>: преобладает одно значение — Москва в 95% строк" in text


def test_the_same_shapes_in_a_handful_of_rows_raise_no_alert() -> None:
    lines = (DATA / "marketplace_alerts.csv").read_text(encoding="utf-8").splitlines()
    few = profile_of(("\n".join(lines[:4]) + "\n").encode())
    assert {a.code for a in few.alerts} <= {"constant"}


def test_a_column_of_dates_numbers_and_text_is_flagged_mixed_with_each_share() -> None:
    profile = profile_of((DATA / "mixed_dates_numbers_text.csv").read_bytes())
    alerts = [a for a in profile.alerts if a.code == "mixed_types"]
    assert [(a.column, a.params) for a in alerts] == [(0, {"dates": 40, "numbers": 30, "text": 30})]
    assert profile.columns[0].kind in ("category", "text")
    assert column(profile, "Сумма").type == "float"  # the column beside it reads as before
    summary = render_profile(profile, "ru")[0]
    assert "<b>Когда</b>: смешанный — 40% даты, 30% числа, 30% текст" in summary
    assert "<b>Когда</b>: mixed — 40% dates, 30% numbers, 30% text" in render_profile(profile, "en")[0]


def test_the_same_mix_in_four_rows_is_too_few_to_judge() -> None:
    profile = profile_of((DATA / "mixed_tiny.csv").read_bytes())
    assert not [a for a in profile.alerts if a.code == "mixed_types"]


def test_one_slip_in_a_date_column_is_an_invalid_date_not_a_mixed_column() -> None:
    profile = profile_of((DATA / "dates_one_slip.csv").read_bytes())
    date = column(profile, "date")
    assert (date.type, date.invalid, date.invalid_example) == ("date", 1, "unknown")
    alerts = [a for a in profile.alerts if a.code == "mixed_types"]
    assert [a.params for a in alerts] == [{"count": 1, "type": "date", "example": "unknown"}]
