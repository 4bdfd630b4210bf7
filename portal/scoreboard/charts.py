"""The geometry of the agency page's charts, drawn by the template as inline SVG.

Plain numbers only: the template writes the elements, the stylesheet colours them by class
(the Content-Security-Policy allows no inline style), and each chart has a data table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 34, 40  # the margins around the plot area


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int  # 1, 2, ...: the class `chart-series-N`
    value: int


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float


@dataclass(frozen=True)
class Interval:
    x: float
    low: float  # y of the lower bound (the larger y)
    high: float


@dataclass(frozen=True)
class Legend:
    x: float
    series: int
    label: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: float = LEFT
    right: float = WIDTH - RIGHT
    top: float = TOP
    bottom: float = HEIGHT - BOTTOM
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # `points` attributes of polylines
    points: list[Point] = field(default_factory=list)
    intervals: list[Interval] = field(default_factory=list)
    legend: list[Legend] = field(default_factory=list)


def nice_top(largest: float) -> tuple[int, int]:
    """A round top for the y axis of counts, and the step of its ticks (at most 5 steps)."""
    if largest <= 0:
        return 1, 1
    step = 1
    for magnitude in range(12):
        for factor in (1, 2, 5):
            step = factor * 10 ** magnitude
            if largest / step <= 5:
                return step * math.ceil(largest / step), step
    return step * math.ceil(largest / step), step


def _r(value: float) -> float:
    return round(value, 1)


def _frame(labels: Sequence[str]) -> tuple[Chart, float]:
    chart = Chart()
    slot = (chart.right - chart.left) / max(1, len(labels))
    every = max(1, math.ceil(len(labels) / 12))  # at most a dozen labels along the axis
    chart.x_ticks = [Tick(_r(chart.left + (i + 0.5) * slot), label)
                     for i, label in enumerate(labels) if i % every == 0]
    return chart, slot


def _y(chart: Chart, value: float, top: float) -> float:
    return _r(chart.bottom - (chart.bottom - chart.top) * value / top)


def bar_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> Chart:
    """Grouped bars: one group per label (month), one bar per series."""
    chart, slot = _frame(labels)
    top, step = nice_top(max((v for _, values in series for v in values), default=0))
    chart.y_ticks = [Tick(_y(chart, v, top), str(v)) for v in range(0, top + 1, step)]
    width = slot * 0.8 / max(1, len(series))
    for i in range(len(labels)):
        start = chart.left + i * slot + slot * 0.1
        for s, (_, values) in enumerate(series):
            y = _y(chart, values[i], top)
            chart.bars.append(Bar(_r(start + s * width), y, _r(width * 0.92),
                                  _r(chart.bottom - y), s + 1, values[i]))
    chart.legend = [Legend(chart.left + 160 * s, s + 1, name)
                    for s, (name, _) in enumerate(series)]
    return chart


def percent_chart(labels: Sequence[str], values: Sequence[float | None],
                  intervals: Sequence[tuple[float, float] | None] | None = None) -> Chart:
    """A line of percentages (0 to 100), broken where a month has no value, with intervals."""
    chart, slot = _frame(labels)
    chart.y_ticks = [Tick(_y(chart, v, 100), f"{v}%") for v in (0, 25, 50, 75, 100)]
    run: list[str] = []
    for i, value in enumerate(values):
        x = _r(chart.left + (i + 0.5) * slot)
        if value is None:
            if len(run) > 1:
                chart.lines.append(" ".join(run))
            run = []
            continue
        y = _y(chart, value, 100)
        run.append(f"{x},{y}")
        chart.points.append(Point(x, y, value))
        interval = intervals[i] if intervals else None
        if interval is not None:
            chart.intervals.append(Interval(x, _y(chart, interval[0], 100),
                                            _y(chart, interval[1], 100)))
    if len(run) > 1:
        chart.lines.append(" ".join(run))
    return chart
