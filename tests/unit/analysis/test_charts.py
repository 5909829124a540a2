"""Charts draw what the data says, and their labels fit on the picture."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from bot.analysis import charts


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the charts draw, kept instead of only their PNG bytes."""
    figures: list[Any] = []
    real_png = charts._png

    def keep(figure: Any) -> bytes:
        figures.append(figure)
        return real_png(figure)

    monkeypatch.setattr(charts, "_png", keep)
    return figures


def _csv(header: list[str], rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def test_values_alike_up_to_the_cut_keep_their_own_bars(drawn: list[Any]) -> None:
    # Fifteen categories that differ only past the 30th character: each is its own bar.
    names = [f"Категория с очень длинным названием {n}" for n in range(15)]
    data = _csv(["category", "v"], [[names[i % 15], i] for i in range(15 * 4 + 7)])
    charts.chart_histogram(data, "c.csv", 0, "ru")
    axes = drawn[0].axes[0]
    assert len(axes.patches) == 15
    labels = [t.get_text() for t in axes.get_yticklabels()]
    assert len(set(labels)) == 15 and all(len(label) <= 34 for label in labels)
    heights = sorted(p.get_width() for p in axes.patches)
    assert heights == sorted([5] * 7 + [4] * 8)


def test_distinct_labels_stay_distinct() -> None:
    assert charts._distinct_labels(["short", "x" * 40 + "1", "x" * 40 + "2"], 20) == [
        "short",
        "x" * 12 + "…" + "x" * 6 + "1",
        "x" * 12 + "…" + "x" * 6 + "2",
    ]
    assert charts._distinct_labels(["a" * 30 + "b" + "c" * 10, "a" * 30 + "d" + "c" * 10], 20)[1].endswith(
        "(2)"
    )


def _inside(figure: Any) -> None:
    renderer = figure.canvas.get_renderer()
    width, height = figure.canvas.get_width_height()
    for axes in figure.axes:
        low_x, high_x = sorted(axes.get_xlim())
        low_y, high_y = sorted(axes.get_ylim())
        shown = [t for t in axes.get_xticklabels() if low_x <= t.get_position()[0] <= high_x]
        shown += [t for t in axes.get_yticklabels() if low_y <= t.get_position()[1] <= high_y]
        for label in [*shown, axes.title]:
            if not label.get_text() or not label.get_visible():
                continue
            box = label.get_window_extent(renderer)
            assert box.x0 >= 0 and box.y0 >= 0, label.get_text()
            assert box.x1 <= width and box.y1 <= height, label.get_text()


def test_long_labels_fit_on_every_chart(drawn: list[Any]) -> None:
    wide = [f"очень длинное имя колонки {i}" for i in range(8)]
    numbers = _csv(wide, [[(r * 7919 + i * 104729) % 1000003 - 500000 for i in range(8)] for r in range(40)])
    categories = _csv(["category"], [[f"Категория с длинным названием {r % 12}"] for r in range(50)])
    dated = _csv(
        ["date", "amount"],
        [[f"2024-{1 + r // 28 % 12:02d}-{1 + r % 28:02d}", r * 1000.5] for r in range(300)],
    )
    charts.chart_correlations(numbers, "n.csv", "ru")
    charts.chart_histogram(categories, "c.csv", 0, "ru")
    charts.chart_histogram(numbers, "n.csv", 3, "en")
    charts.chart_histogram(dated, "d.csv", 0, "en")
    charts.chart_timeseries(dated, "d.csv", 1, 0, "auto", "ru")
    assert len(drawn) == 5
    for figure in drawn:
        figure.canvas.draw()
        _inside(figure)
