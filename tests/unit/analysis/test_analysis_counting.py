"""Distinct values and duplicate rows, whichever way a column is counted, and the profile's imports."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from analysis_helpers import profile_of


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    return ("\n".join([",".join(header), *(",".join(r) for r in rows)]) + "\n").encode()


def test_profile_does_not_import_pandas() -> None:
    # pandas costs a worker ~40 MB; only charts and tables need it.
    code = (
        "import sys\n"
        "from bot.analysis import Profile, analyse_csv\n"
        "data = b'n,x,d,t\\n1,2.5,2024-01-02,a\\n2,,2024-01-03,b\\n3,NA,,\\n'\n"
        "assert isinstance(analyse_csv(data, 'x.csv'), Profile)\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("kind", ["int", "float", "date"])
def test_ascending_and_shuffled_columns_count_alike(kind: str) -> None:
    # An ascending column is counted without hashing; the result must be the same.
    rng = random.Random(5)
    numbers = sorted(rng.randrange(400) for _ in range(1500))
    cell = {
        "int": str,
        "float": lambda n: f"{n / 4:.2f}",
        "date": lambda n: f"2024-{1 + n // 40 % 12:02d}-{1 + n % 28:02d}",
    }[kind]
    ascending = [[cell(n)] for n in numbers]
    if kind == "date":
        ascending.sort()
    shuffled = ascending[:]
    rng.shuffle(shuffled)
    a, b = profile_of(_csv(["v"], ascending)), profile_of(_csv(["v"], shuffled))
    expected = len({row[0] for row in ascending})
    assert a.columns[0].distinct == b.columns[0].distinct == expected
    assert a.duplicate_rows == b.duplicate_rows == len(ascending) - expected


def test_zero_and_negative_zero_are_one_value() -> None:
    profile = profile_of(_csv(["v"], [[v] for v in ["-0.0", "0.0", "1.5", "0", "-0"] * 10]))
    assert profile.columns[0].distinct == 2
    assert profile.duplicate_rows == 48


def test_duplicates_over_many_varied_columns_are_exact() -> None:
    # Eight columns of ~1000 values each overflow a 64-bit row key, which is renumbered on the way.
    rng = random.Random(11)
    rows = [[str(rng.randrange(1000)) for _ in range(8)] + [rng.choice(["a", "b", ""])] for _ in range(3000)]
    rows += [rows[rng.randrange(3000)][:] for _ in range(40)]
    profile = profile_of(_csv([f"c{i}" for i in range(9)], rows))
    assert profile.duplicate_rows == len(rows) - len({tuple(r) for r in rows})
    assert profile.duplicate_rows >= 40


def test_nan_text_beyond_the_sample_in_an_integer_column() -> None:
    # Arrow reads "NAN" as a float NaN; outside the typing sample it must not break the column.
    rows = [[str(i), str(i % 7)] for i in range(2000)]
    rows[1500][1] = "NAN"
    v = profile_of(_csv(["id", "v"], rows)).columns[1]
    assert (v.type, v.distinct) == ("integer", 7)
    rest = [i % 7 for i in range(2000) if i != 1500]
    assert v.mean == pytest.approx(sum(rest) / len(rest))


def test_long_runs_of_blanks_inside_cells_are_read_in_linear_time():
    """Cells like "x<9000 blanks>y" once made the number check quadratic (a file of them
    ran for minutes). Now the file profiles like any other text column."""
    from bot.analysis import analyse_csv
    from bot.analysis.model import Profile

    cell = "x" + " " * 5000 + "y"
    data = ("id,note\n" + "".join(f"{i},{cell}\n" for i in range(300))).encode()
    profile = analyse_csv(data, "blanks.csv")
    assert isinstance(profile, Profile)
    assert profile.n_rows == 300
    assert profile.columns[0].type == "id"
    assert profile.columns[1].kind in ("category", "text")
