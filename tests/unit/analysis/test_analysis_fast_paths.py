"""The fast paths of the reading give exactly what the slow, obvious ones give.

Each fast path (Arrow kernels over many values, literal replacements, byte histograms) is compared
with the value-by-value code it replaced, on inputs drawn by hypothesis from the characters that
matter: digits of several scripts, every space that groups thousands, decimal marks, signs,
currency words, month names and Cyrillic bytes.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.analysis import arrays, dialect, encoding, values
from bot.analysis.profile import _hash_groups, _sorted_groups, quartiles
from bot.analysis.sniff import control_ratio
from bot.analysis.values import _AFFIXES, _SPACES, NUMBER_PATTERNS

_PIECES = [
    *"0123456789",
    *"0123456789",
    " ",
    "\u00a0",
    "\u202f",
    "\u2009",
    "'",
    ".",
    ",",
    "+",
    "-",
    "e",
    "$",
    "₽",
    "%",
    " руб.",
    "р.",
    "USD",
    "٣",  # an Arabic-Indic digit: Python's \d takes it
    "١٢",
    "марта",
    " ",
    "Jan",
    "-",
    "/",
    ":",
    "T",
    "Q",
    " кв. ",
    "a",
    "Я",
    "#",
]
_GROUPED = st.builds(
    lambda sign, head, groups, space, tail, affix: (
        f"{sign}{head}{''.join(space + g for g in groups)}{tail}{affix}"
    ),
    st.sampled_from(["", "-", "+"]),
    st.from_regex(r"[1-9][0-9]{0,2}", fullmatch=True),
    st.lists(st.from_regex(r"[0-9]{2,4}", fullmatch=True), max_size=3),
    st.sampled_from([" ", "\u00a0", "\u202f", "\u2009", "'", ",", "."]),
    st.sampled_from(["", ",5", ".25", ",", ".0", "e3"]),
    st.sampled_from(["", " ₽", "%", " руб.", "$"]),
)
_VALUE = st.one_of(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join), _GROUPED)
_DATES = st.sampled_from(
    [
        *("2024-02-29", "2023-02-29", "2024-13-01", "31.12.2024", "5 марта 2024", "Jan-1-1995"),
        *("20240230", "1974Q1", "2024-03-01 12:30:00"),
    ]
)
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.lists(st.one_of(_VALUE, _DATES), min_size=values._FEW, max_size=120))
def test_settled_flags_agree_with_looks_typed(texts: list[str]) -> None:
    settled = values.settled_flags(texts)
    assert all(flag is None or flag == values.looks_typed(v) for v, flag in zip(texts, settled, strict=True))
    assert sum(flag is not None for flag in settled) >= sum(not any(c.isdigit() for c in v) for v in texts)


def _has_header_judging_every_value(first: list[str], rows: list[list[str]]) -> bool:
    """The header rule as it reads, every value judged: what dialect._has_header must answer."""
    columns = [[row[i] for row in rows if i < len(row) and row[i].strip()] for i in range(len(first))]
    typed = [i for i, c in enumerate(columns) if c and sum(map(values.looks_typed, c)) >= 0.8 * len(c)]
    if typed:
        return not all(values.looks_typed(first[i]) for i in typed)
    cells = [c.strip() for c in first if c.strip()]
    return len(cells) == len(first) and len(set(cells)) == len(cells)


_TEXT = st.sampled_from(["", "name", "order 12", "Итого", "N/A", "2024 год"])


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """Columns each with a share of typed values near the rule's 80 %, under a first row."""
    width, height = draw(st.integers(1, 5)), draw(st.integers(1, 60))
    columns = []
    for _ in range(width):
        share = draw(st.sampled_from([0.0, 0.5, 0.75, 0.79, 0.8, 0.81, 0.9, 1.0]))
        typed = round(share * height)
        cells = [draw(st.one_of(_VALUE, _DATES)) for _ in range(typed)]
        cells += [draw(_TEXT) for _ in range(height - typed)]
        columns.append(draw(st.permutations(cells)))
    first = [draw(st.one_of(_TEXT, _VALUE, _DATES)) for _ in range(width)]
    return first, [[column[r] for column in columns] for r in range(height)]


@_SETTINGS
@given(_tables())
def test_the_header_is_judged_as_if_every_value_were(table: tuple[list[str], list[list[str]]]) -> None:
    first, rows = table
    assert dialect._has_header(first, rows) == _has_header_judging_every_value(first, rows)


@_SETTINGS
@given(st.one_of(_VALUE, _DATES))
def test_date_prefilter_rejects_no_date(text: str) -> None:
    slow = any(values._parses(f, i, text.strip()) for i, f in enumerate(values.DATE_FORMATS))
    assert values.is_date(text) == slow


def _numbers_by_regex(strings: pa.Array, decimal: values.Decimal) -> pa.Array:
    """The conversion as it was: one regex replacement for the affixes and one for the spaces."""
    text = pc.replace_substring_regex(strings, pattern=_AFFIXES, replacement="")
    valid = pc.match_substring_regex(text, pattern=NUMBER_PATTERNS[decimal])
    text = pc.if_else(valid, text, arrays.null(pa.string()))
    text = pc.replace_substring_regex(text, pattern=_SPACES, replacement="")
    if decimal == ".":
        text = pc.replace_substring(text, pattern=",", replacement="")
    else:
        text = pc.replace_substring(text, pattern=".", replacement="")
        text = pc.replace_substring(text, pattern=",", replacement=".")
    return pc.cast(text, pa.float64())


@_SETTINGS
@given(st.lists(st.one_of(_VALUE, st.none()), min_size=1, max_size=40), st.sampled_from([".", ","]))
def test_number_conversion_agrees_with_the_regex_path(texts: list[str | None], decimal: str) -> None:
    strings = pa.array(texts, type=pa.string())
    fast = values.to_numbers(strings, decimal)  # type: ignore[arg-type]
    slow = _numbers_by_regex(strings, decimal)  # type: ignore[arg-type]
    assert fast.to_pylist() == slow.to_pylist()


@_SETTINGS
@given(st.lists(st.sampled_from(["1 234,56", "12 345 678,9", "-5 162,00", "7,5", "0,25"]), min_size=1))
def test_clean_grouped_numbers_take_the_fast_branch(texts: list[str]) -> None:
    strings = pa.array(texts, type=pa.string())
    assert values.to_numbers(strings, ",").to_pylist() == _numbers_by_regex(strings, ",").to_pylist()


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _guess_by_regex(sample: bytes) -> str | None:
    """The code-page guess as it was: regexes over each decoded text."""
    best, best_score = None, 0.0
    for codec in ("cp1251", "koi8-r", "cp866"):
        text = sample.decode(codec, errors="replace")
        non_ascii = len(_NON_ASCII.findall(text))
        if non_ascii == 0:
            continue
        score = len(encoding._CYRILLIC_LOWER.findall(text)) / non_ascii
        if len(encoding._MIXED_SCRIPT.findall(text)) > 0.3 * len(encoding._CYRILLIC.findall(text)):
            continue
        if score > best_score:
            best, best_score = codec, score
    return best if best_score >= 0.5 else None


_BYTES = st.lists(
    st.one_of(
        st.integers(0, 255),
        st.integers(0xC0, 0xFF),  # Cyrillic letters in cp1251
        st.sampled_from(list(b"abcXYZ ;,.0123\n")),
    ),
    max_size=400,
).map(bytes)


@_SETTINGS
@given(_BYTES)
def test_code_page_guess_agrees_with_the_regex_count(sample: bytes) -> None:
    assert encoding._single_byte_guess(sample) == _guess_by_regex(sample)


def test_code_page_guess_on_real_text() -> None:
    text = "Дата;Контрагент;Сумма\n01.03.2024;ООО Ромашка;1 234,56\n" * 20
    for codec in ("cp1251", "koi8-r", "cp866"):
        sample = text.encode(codec)
        assert encoding._single_byte_guess(sample) == _guess_by_regex(sample) == codec


_FLOATS = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


@_SETTINGS
@given(
    st.one_of(
        st.lists(_FLOATS, min_size=1, max_size=60),
        st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=60),
        st.lists(st.sampled_from([0.1, 0.2, 0.3, 1e-9, 2443460.05, -0.0, 0.0]), min_size=1, max_size=60),
    )
)
def test_quartiles_equal_numpys_to_the_last_bit(values: list[float]) -> None:
    array = np.array(values, dtype=np.float64)
    expected = np.quantile(array, [0.25, 0.5, 0.75])
    assert np.array_equal(np.array(quartiles(array.copy())), expected)


@_SETTINGS
@given(st.text(alphabet=st.characters(max_codepoint=0x44F), max_size=200))
def test_control_ratio_counts_as_the_loop_did(text: str) -> None:
    bad = sum(1 for ch in text if ch < " " and ch not in "\t\n\r\f\v")
    assert control_ratio(text) == (bad / len(text) if text else 0.0)


@_SETTINGS
@given(_BYTES)
def test_high_bytes_counted_as_the_regex_did(sample: bytes) -> None:
    high = len(re.findall(rb"[\x80-\xff]", sample))
    in_seqs = sum(len(m) for m in encoding._UTF8_SEQ.findall(sample))
    assert encoding._mostly_utf8(sample) == (high == 0 or in_seqs >= 0.98 * high)


@_SETTINGS
@given(
    st.lists(
        st.one_of(st.none(), st.sampled_from([0.0, -0.0, float("nan"), 1.5, -2.25, 1e300]), _FLOATS),
        min_size=1,
        max_size=60,
    ),
    st.integers(1, 3),
)
def test_sorted_groups_split_rows_as_the_hash_does(values: list[float | None], chunks: int) -> None:
    size = -(-len(values) // chunks)
    column = pa.chunked_array(
        [pa.array(values[i : i + size], type=pa.float64()) for i in range(0, len(values), size)]
    )
    hashed, ordered = _hash_groups(column), _sorted_groups(column)
    assert hashed.distinct == ordered.distinct
    assert np.array_equal(hashed.codes < 0, ordered.codes < 0)  # the same values missing
    pairs = set(zip(hashed.codes.tolist(), ordered.codes.tolist(), strict=True))
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})  # one-to-one


@_SETTINGS
@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=60))
def test_sorted_groups_of_integers_split_rows_as_the_hash_does(values: list[int]) -> None:
    column = pa.chunked_array([pa.array(values, type=pa.int64())])
    hashed, ordered = _hash_groups(column), _sorted_groups(column)
    assert hashed.distinct == ordered.distinct
    pairs = set(zip(hashed.codes.tolist(), ordered.codes.tolist(), strict=True))
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})
