"""The profilers' alerts, with thresholds that wait for enough values to judge."""

from __future__ import annotations

from pathlib import Path

from analysis_helpers import profile_of

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
