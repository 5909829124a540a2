"""Charts as PNG bytes, drawn with matplotlib's Agg canvas (no pyplot: no global state)."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from .fmt import fmt_number, lang_of
from .frame import load_frame
from .limits import AnalysisError
from .tables import _column, _is_numeric, numeric_columns
from .texts import text

if TYPE_CHECKING:
    import pandas as pd

FREQS = {"D": "D", "W": "W-MON", "M": "MS", "Q": "QS", "Y": "YS"}
_MAX_BINS = 50
_MAX_BARS = 15
_MAX_POINTS = 5000


# Margins come from the labels' widths, measured one string at a time. Constrained layout
# finds them by laying out every artist, which drew each chart twice: 25-30 % of its CPU.
_PAD_PX = 8.0  # between a tick label and the axis, and around the edges
_TICK_FONT_PT = 10.0  # matplotlib's default tick and label size
_TITLE_FONT_PT = 12.0


def _figure(width: float = 8.0, height: float = 4.5) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)  # its renderer measures the labels (see _fit)
    return figure, figure.add_subplot()


def _title(axes: Any, title: str) -> None:
    # A title placed by hand: matplotlib otherwise measures the top axis's labels on every
    # draw to place it (a tenth of a chart's time), and none of these charts has top labels.
    axes.set_title(title, y=1.0, pad=6.0)


def _tick_labels(axis: Any) -> list[str]:
    return [str(t) for t in axis.get_major_formatter().format_ticks(axis.get_majorticklocs())]


def _widest_px(figure: Any, labels: list[str], size: float = _TICK_FONT_PT) -> tuple[float, float]:
    """Width and height in pixels of the widest of ``labels`` (0, 0 when none)."""
    from matplotlib.font_manager import FontProperties

    renderer, font = figure.canvas.get_renderer(), FontProperties(size=size)
    sizes = [renderer.get_text_width_height_descent(t, font, ismath=False)[:2] for t in labels if t]
    return max(sizes, default=(0.0, 0.0))


def _fit(figure: Any, axes: Any, *, slant_deg: float = 0.0, right_px: float = 20.0) -> None:
    """Margins that hold the tick labels (the x ones slanted by ``slant_deg``), the axis
    labels and the title."""
    width, height = figure.get_size_inches() * figure.dpi
    line = _widest_px(figure, ["Ag"])[1] + _PAD_PX / 2
    left = 2 * _PAD_PX + _widest_px(figure, _tick_labels(axes.yaxis))[0] + (line if axes.get_ylabel() else 0)
    x_width, x_height = _widest_px(figure, _tick_labels(axes.xaxis))
    slant = math.radians(slant_deg)
    below = x_width * math.sin(slant) + x_height * math.cos(slant)
    bottom = 2 * _PAD_PX + below + (line if axes.get_xlabel() else 0)
    title = _widest_px(figure, ["Ag"], _TITLE_FONT_PT)[1] + _PAD_PX if axes.get_title() else 0.0
    figure.subplots_adjust(
        left=min(left / width, 0.5),
        right=1 - right_px / width,
        bottom=min(bottom / height, 0.5),
        top=1 - (_PAD_PX + title) / height,
    )


def _png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.canvas.print_png(out)
    return out.getvalue()


def _number_axis(axis: Any, lang: str) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_number(float(v), lang)))


def _short(label: object, limit: int = 30) -> str:
    value = str(label)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _distinct_labels(values: Iterable[object], limit: int) -> list[str]:
    """Labels of distinct values that stay distinct when cut: a long one keeps its start and
    its end ("Region 12 - North…ern part 3"); any still alike get a number."""
    labels = []
    for value in values:
        label = str(value)
        if len(label) > limit:
            head = (limit - 1) * 2 // 3
            label = label[:head] + "…" + label[len(label) - (limit - 1 - head) :]
        labels.append(label)
    seen: dict[str, int] = {}
    for index, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[index] = f"{label} ({seen[label]})"
    return labels


def auto_freq(start: pd.Timestamp, end: pd.Timestamp) -> str:
    days = (end - start).days
    if days <= 62:
        return "D"
    if days <= 366:
        return "W"
    if days <= 5 * 366:
        return "M"
    return "Q" if days <= 20 * 366 else "Y"


def chart_histogram(data: bytes, file_name: str, column: int, lang: str) -> bytes:
    """Histogram of a numeric column, rows per period of a date column, or top values as bars."""
    import pandas as pd  # like matplotlib: loaded by the first chart, not by the profile

    lang = lang_of(lang)
    frame = load_frame(data, file_name)
    name = _column(frame, column)
    series = frame[name].dropna()
    if series.empty:
        raise AnalysisError("bad_column", {"column": name})
    figure, axes = _figure()
    if _is_numeric(series):
        values = series.to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        edges = np.histogram_bin_edges(values, bins="auto")
        axes.hist(values, bins=min(_MAX_BINS, max(1, len(edges) - 1)), color="#4C72B0", edgecolor="white")
        _title(axes, _short(text(lang, "c.histogram", column=name), 80))
        _number_axis(axes.xaxis, lang)
        _number_axis(axes.yaxis, lang)
        axes.set_ylabel(text(lang, "c.count"))
    elif pd.api.types.is_datetime64_any_dtype(series):
        freq = auto_freq(series.min(), series.max())
        counts = series.groupby(series.dt.to_period(freq)).size()
        starts = pd.PeriodIndex(counts.index).to_timestamp()
        axes.bar(starts, counts.to_numpy(), width=_bar_width(freq), color="#4C72B0")
        period = text(lang, f"c.period.{freq}")
        _title(axes, _short(text(lang, "c.per_period", period=period, column=name), 80))
        _number_axis(axes.yaxis, lang)
        axes.set_ylabel(text(lang, "c.count"))
    else:
        counts = series.astype("str").value_counts().head(_MAX_BARS)[::-1]
        # Positions, not the labels, place the bars: two values cut to one label stay two bars.
        positions = range(len(counts))
        axes.barh(positions, counts.to_numpy(), color="#4C72B0")
        axes.set_yticks(positions, _distinct_labels(counts.index, 30))
        _title(axes, _short(text(lang, "c.bars", column=name), 80))
        _number_axis(axes.xaxis, lang)
    _fit(figure, axes)
    return _png(figure)


def _bar_width(freq: str) -> float:
    return {"D": 0.8, "W": 5.0, "M": 25.0, "Q": 80.0, "Y": 300.0}[freq]


def chart_timeseries(
    data: bytes, file_name: str, value_column: int, date_column: int, freq: str, lang: str
) -> bytes:
    """Sum of a numeric column per day/week/month/quarter/year ("auto" picks by the span)."""
    import pandas as pd

    lang = lang_of(lang)
    frame = load_frame(data, file_name)
    value_name, date_name = _column(frame, value_column), _column(frame, date_column)
    if not _is_numeric(frame[value_name]):
        raise AnalysisError("bad_column", {"column": value_name})
    if not pd.api.types.is_datetime64_any_dtype(frame[date_name]):
        raise AnalysisError("bad_column", {"column": date_name})
    series = pd.Series(frame[value_name].to_numpy(), index=frame[date_name]).dropna()
    series = series[series.index.notna()]
    if series.empty:
        raise AnalysisError("bad_column", {"column": value_name})
    if freq not in FREQS:
        freq = auto_freq(series.index.min(), series.index.max())
    resampled = series.sort_index().resample(FREQS[freq]).sum()
    if len(resampled) > _MAX_POINTS:
        freq = auto_freq(series.index.min(), series.index.max())
        resampled = series.sort_index().resample(FREQS[freq]).sum()
    figure, axes = _figure()
    axes.plot(
        resampled.index, resampled.to_numpy(), marker="o" if len(resampled) <= 60 else None, color="#4C72B0"
    )
    period = text(lang, f"c.period.{freq}")
    _title(axes, _short(text(lang, "c.timeseries", value=_short(value_name), period=period), 80))
    axes.set_xlabel(_short(date_name))
    _number_axis(axes.yaxis, lang)
    axes.grid(alpha=0.3)
    figure.autofmt_xdate(rotation=30)
    _fit(figure, axes, slant_deg=30)
    return _png(figure)


def chart_correlations(data: bytes, file_name: str, lang: str) -> bytes:
    """Heatmap of Pearson correlations between numeric columns."""
    lang = lang_of(lang)
    frame = load_frame(data, file_name)
    names = numeric_columns(frame)
    if len(names) < 2:
        raise AnalysisError("bad_column", {"column": "numeric"})
    matrix = frame[names].astype("float64").corr(min_periods=3).to_numpy()
    size = min(12.0, 3.0 + 0.5 * len(names))
    figure, axes = _figure(size + 1.5, size)
    image = axes.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
    labels = _distinct_labels(names, 20)
    axes.set_xticks(range(len(names)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), labels)
    if len(names) <= 12:
        for i in range(len(names)):
            for j in range(len(names)):
                if not np.isnan(matrix[i, j]):
                    axes.text(
                        j,
                        i,
                        fmt_number(round(float(matrix[i, j]), 2), lang),
                        ha="center",
                        va="center",
                        fontsize=8,
                    )
    _title(axes, text(lang, "c.correlations"))
    _fit(figure, axes, slant_deg=45)
    figure.colorbar(image, ax=axes)  # takes its room from the axes, within the margins
    return _png(figure)
