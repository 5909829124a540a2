"""Statistics, alerts and the stored form of a profile."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from analysis_helpers import column, profile_of

from bot.analysis import Profile, column_choices


def _sales_csv() -> bytes:
    rng = np.random.default_rng(3)
    lines = ["id;город;выручка;дата;статус;пусто;код"]
    for i in range(200):
        revenue = f"{rng.lognormal(8, 1.2):.2f}".replace(".", ",")
        city = ["Москва", "Казань", "Пермь"][i % 3]
        lines.append(f"{i};{city};{revenue};{1 + i % 28:02d}.0{1 + i % 9}.2024;ok;;X{i}")
    lines.append(lines[5])  # one exact duplicate row
    return "\n".join(lines).encode("cp1251")


def test_numeric_statistics_match_numpy() -> None:
    values = [3.5, 1.25, 10.0, 7.75, 2.0, 2.0, 100.5]
    data = "v\n" + "\n".join(str(v) for v in values) + "\n"
    v = profile_of(data.encode()).columns[0]
    arr = np.array(values)
    assert v.type == "float"
    assert (v.count, v.missing, v.distinct) == (7, 0, 6)
    assert v.minimum == 1.25 and v.maximum == 100.5
    assert v.mean == pytest.approx(arr.mean())
    assert v.median == pytest.approx(3.5)
    assert v.q1 == pytest.approx(np.quantile(arr, 0.25))
    assert v.q3 == pytest.approx(np.quantile(arr, 0.75))
    assert v.std == pytest.approx(arr.std(ddof=1))
    assert v.total == pytest.approx(arr.sum())


def test_dataset_facts_and_alerts() -> None:
    profile = profile_of(_sales_csv(), "продажи.csv")
    assert profile.n_rows == 201
    assert profile.duplicate_rows == 1
    assert column(profile, "город").kind == "category"
    assert column(profile, "город").top[:2] == (("Казань", 68), ("Москва", 67))
    assert column(profile, "дата").kind == "datetime"
    codes = {(a.code, None if a.column is None else profile.columns[a.column].name) for a in profile.alerts}
    assert ("constant", "статус") in codes
    assert ("empty", "пусто") in codes
    assert ("skewed", "выручка") in codes
    assert ("high_cardinality", "код") in codes
    assert ("duplicates", None) in codes


def test_mostly_missing() -> None:
    rows = ["a,b"] + [f"{i},{i if i % 4 == 0 else ''}" for i in range(40)]
    profile = profile_of("\n".join(rows).encode())
    b = column(profile, "b")
    assert (b.count, b.missing) == (10, 30)
    alert = next(a for a in profile.alerts if a.code == "mostly_missing")
    assert alert.params == {"percent": 75}


def test_partly_numeric_text_column_is_flagged_mixed() -> None:
    rows = ["v"] + [str(i) for i in range(14)] + [f"word{i}" for i in range(6)]
    profile = profile_of("\n".join(rows).encode())
    assert profile.columns[0].kind in ("category", "text")
    alert = next(a for a in profile.alerts if a.code == "mixed_types")
    assert alert.params == {"percent": 70}


def test_json_round_trip_and_pickle() -> None:
    profile = profile_of(_sales_csv(), "продажи.csv")
    again = Profile.from_json(profile.to_json())
    assert again == profile
    assert pickle.loads(pickle.dumps(profile)) == profile
    assert "Москва" in profile.to_json()  # readable in the database, not \u-escaped


def test_column_choices() -> None:
    profile = profile_of(_sales_csv())
    choices = column_choices(profile)
    assert choices[:4] == [
        (0, "id", "text"),  # an identifier: neither summed nor grouped by
        (1, "город", "category"),
        (2, "выручка", "numeric"),
        (3, "дата", "datetime"),
    ]
    assert {kind for _, _, kind in choices} <= {"numeric", "datetime", "category", "text"}


def test_large_generated_file_rows_and_mean() -> None:
    n = 50_000
    body = "".join(f"{i},{i % 7},{i * 0.5:.1f},cat{i % 5}\n" for i in range(n))
    profile = profile_of(("id,mod,half,cat\n" + body).encode())
    assert profile.n_rows == n
    assert column(profile, "half").mean == pytest.approx((n - 1) * 0.25)
    assert column(profile, "mod").distinct == 7
    assert column(profile, "cat").distinct == 5
    assert profile.duplicate_rows == 0
