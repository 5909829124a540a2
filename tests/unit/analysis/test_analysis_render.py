"""Telegram messages: size limit, escaping, languages and number formats."""

from __future__ import annotations

import re

from analysis_helpers import profile_of

from bot.analysis import MESSAGE_LIMIT, render_profile
from bot.analysis.fmt import fmt_number
from sim.fakes.telegram.entities import utf16_len, visible_text


def test_number_formats() -> None:
    assert fmt_number(1234.56, "ru") == "1\u202f234,56"
    assert fmt_number(1234.56, "en") == "1,234.56"
    assert fmt_number(1234567, "en") == "1,234,567"
    assert fmt_number(-0.5, "ru") == "-0,5"
    assert fmt_number(0.000123, "en") == "0.000123"
    assert fmt_number(None, "en") == "—"


def test_100_columns_fit_in_a_few_messages() -> None:
    header = ";".join(f"Показатель номер {i}" for i in range(100))
    rows = [";".join(f"{(r * i) % 97},5" for i in range(100)) for r in range(30)]
    profile = profile_of(("\n".join([header, *rows])).encode())
    assert profile.n_columns == 100
    for lang in ("ru", "en"):
        messages = render_profile(profile, lang)
        assert 1 <= len(messages) <= 4
        assert all(0 < len(m) <= MESSAGE_LIMIT for m in messages)
        assert "Показатель номер 0" in messages[1]
        # the columns not shown in detail are counted and named in a summary line
        detailed = len(re.findall(r"<b>\d+\. ", "\n".join(messages)))
        assert 20 < detailed < 100
        assert str(100 - detailed) in messages[-1]
        assert f"Показатель номер {detailed} (" in messages[-1]


def test_emoji_names_still_fit_in_telegram_s_count() -> None:
    """Telegram counts UTF-16 code units: an emoji is two, so 4096 characters can be too long."""
    for name in ("😀" * 40 + " {i}", "𝐀𝐁𝐂𝐃𝐄𝐅𝐆𝐇𝐈𝐉𝐊𝐋𝐌𝐍𝐎𝐏 {i}"):
        header = ";".join(name.format(i=i) for i in range(100))
        rows = [";".join(f"{(r * i) % 97},5" for i in range(100)) for r in range(30)]
        messages = render_profile(profile_of("\n".join([header, *rows]).encode()), "en")
        assert len(messages) > 1
        for message in messages:
            assert 0 < utf16_len(visible_text(message, "HTML")) <= MESSAGE_LIMIT


def test_names_are_escaped() -> None:
    data = b"<b>&;<script>\n1;x\n2;y\n"
    profile = profile_of(data, "a<b>&.csv")
    text = "\n".join(render_profile(profile, "en"))
    assert "&lt;b&gt;&amp;" in text
    assert "&lt;script&gt;" in text
    assert "<script>" not in text
    assert "a&lt;b&gt;&amp;.csv" in text


def test_languages() -> None:
    profile = profile_of("сумма;город\n1 234,5;Казань\n10;Пермь\n".encode())
    ru = "\n".join(render_profile(profile, "ru"))
    en = "\n".join(render_profile(profile, "en"))
    fallback = "\n".join(render_profile(profile, "fr"))
    assert "Строк: 2" in ru and "среднее 622,25" in ru
    assert "2 rows" in en and "mean 622.25" in en
    assert fallback == en


def test_totals_and_alerts_are_mentioned() -> None:
    rows = ["a;b"] + [f"x;{i}" for i in range(30)] + ["Итого;435"]
    profile = profile_of("\n".join(rows).encode())
    ru = render_profile(profile, "ru")[0]
    assert "Итого" in ru
    assert "во всех строках одно значение" in ru
